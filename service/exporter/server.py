"""`python -m service lag-exporter`: read the group's lag from the broker every
BADGES_LAG_EXPORTER_INTERVAL_SECONDS and serve it on BADGES_HTTP_HOST:LAG_EXPORTER_PORT:
/metrics, /healthz (the process answers), /readyz (the last reading succeeded, else 503
with why). A reading that fails is logged and tried again at the next interval, with new
connections: the exporter outlives broker outages and never joins the workers' group.
"""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from service.broker_lag import LagReader
from service.exporter.metrics import LagCollector, registry_of
from service.settings import Settings

log = logging.getLogger(__name__)


async def poll(settings: Settings, collector: LagCollector) -> None:
    """Read the lag forever, each reading (or why it failed) into the collector."""
    interval = settings.lag_exporter_interval_seconds
    while True:
        try:
            async with LagReader(settings) as reader:
                while True:
                    collector.succeeded(await reader.read())
                    await asyncio.sleep(interval)
        except Exception as exc:  # whatever the broker answers: read again next time
            collector.failed(f"{type(exc).__name__}: {exc}")
            log.warning("reading the lag from Kafka failed (again in %.0f s): %s",
                        interval, collector.why)
        await asyncio.sleep(interval)


def app(collector: LagCollector) -> web.Application:
    registry = registry_of(collector)

    async def metrics(_: web.Request) -> web.Response:
        return web.Response(body=generate_latest(registry),
                            headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def healthz(_: web.Request) -> web.Response:
        return web.json_response({"status": "alive"})

    async def readyz(_: web.Request) -> web.Response:
        if collector.up:
            return web.json_response({"status": "ready"})
        return web.json_response({"status": "not ready", "kafka": collector.why},
                                 status=503)

    application = web.Application()
    application.router.add_get("/metrics", metrics)
    application.router.add_get("/healthz", healthz)
    application.router.add_get("/readyz", readyz)
    return application


async def serve(settings: Settings) -> None:
    collector = LagCollector(settings.app_id)
    runner = web.AppRunner(app(collector), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, settings.http_host, settings.lag_exporter_port)
    await site.start()
    port = runner.addresses[0][1]
    log.info("lag exporter: group %s, metrics on http://%s:%d/metrics", settings.app_id,
             settings.http_host, port)
    try:
        await poll(settings, collector)
    finally:
        await runner.cleanup()
