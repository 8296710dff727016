"""The worker's HTTP endpoints: /metrics (Prometheus), /healthz (alive), /readyz (ready).

aiohttp (which faust already depends on) serves them in the worker's event loop, so that
/healthz answering means the loop answers. faust's own web server stays off (service/worker/app.py).
"""

from __future__ import annotations

import logging
from typing import Any

import mode
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

from service.settings import Settings
from service.worker.health import consumer_offsets, missing
from service.worker.metrics import ConsumerLag, register_lag, unregister
from service.worker.runtime import Runtime

log = logging.getLogger(__name__)


def routes(app: Any, runtime: Runtime) -> web.Application:
    async def metrics(_: web.Request) -> web.Response:
        # generate_latest returns text with the content type's charset.
        return web.Response(body=generate_latest(REGISTRY),
                            headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def healthz(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def readyz(_: web.Request) -> web.Response:
        problems = await missing(app, runtime)
        if problems:
            return web.json_response({"status": "not ready", "missing": problems}, status=503)
        return web.json_response({"status": "ready"})

    web_app = web.Application()
    web_app.router.add_get("/metrics", metrics)
    web_app.router.add_get("/healthz", healthz)
    web_app.router.add_get("/readyz", readyz)
    return web_app


class Endpoints(mode.Service):
    """The listener, started and stopped with the worker."""

    def __init__(self, settings: Settings, app: Any, runtime: Runtime, **kwargs: Any) -> None:
        self.settings = settings
        self.app = app
        self.runtime = runtime
        self._runner: web.AppRunner | None = None
        self._lag: ConsumerLag | None = None
        super().__init__(**kwargs)

    async def on_start(self) -> None:
        port = self.settings.http_port
        assert port != "off"
        self._lag = register_lag(lambda: consumer_offsets(self.app))
        self._runner = web.AppRunner(routes(self.app, self.runtime), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.settings.http_host, port)
        await site.start()
        host, bound = self._runner.addresses[0][:2]
        log.info("HTTP endpoints on %s:%d (/metrics, /healthz, /readyz)", host, bound)

    async def on_stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        if self._lag is not None:
            unregister([self._lag])
