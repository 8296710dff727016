"""The worker's HTTP endpoints: /metrics (Prometheus), /healthz (alive), /readyz (ready).

aiohttp (which faust already depends on) serves them in the worker's event loop, so that
/healthz answering means the loop answers. faust's own web server stays off (service/worker/app.py).

They answer from the first second: while the worker waits for Kafka before Faust starts
(creating its topics), the `Listener` answers /healthz 200 and /readyz 503 saying what it
waits for, so that no startup or liveness probe kills a worker that waits for its broker;
once Faust runs, its `Endpoints` answer /readyz with the worker's own checks on the same
listener.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import mode
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

from service.settings import Settings
from service.worker.health import consumer_offsets, missing
from service.worker.metrics import ConsumerLag, register_lag, unregister
from service.worker.runtime import Runtime

log = logging.getLogger(__name__)


Readiness = Callable[[], Awaitable[dict[str, str]]]


class Listener:
    """One HTTP listener for the process's life: before Faust starts, /readyz says what the
    worker waits for; once it runs, the worker's own checks answer (`serve`). No gap in
    between, so that a probe never finds the port closed while the worker lives."""

    def __init__(self, waiting_for: str) -> None:
        self._missing: Readiness = self._waiting
        self._waiting_for = waiting_for
        self.runner: web.AppRunner | None = None

    async def _waiting(self) -> dict[str, str]:
        return {"kafka": self._waiting_for, "consumer_group": "not started yet"}

    def serve(self, missing: Readiness) -> None:
        self._missing = missing

    async def start(self, settings: Settings) -> int:
        """Listen (a free port for port 0); the port bound."""
        assert settings.http_port != "off"
        web_app = web.Application()
        web_app.router.add_get("/metrics", self._metrics)
        web_app.router.add_get("/healthz", self._healthz)
        web_app.router.add_get("/readyz", self._readyz)
        self.runner = web.AppRunner(web_app, access_log=None)
        await self.runner.setup()
        await web.TCPSite(self.runner, settings.http_host, settings.http_port).start()
        host, bound = self.runner.addresses[0][:2]
        log.info("HTTP endpoints on %s:%d (/metrics, /healthz, /readyz)", host, bound)
        return int(bound)

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()

    async def _metrics(self, _: web.Request) -> web.Response:
        # generate_latest returns text with the content type's charset.
        return web.Response(body=generate_latest(REGISTRY),
                            headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def _healthz(self, _: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def _readyz(self, _: web.Request) -> web.Response:
        problems = await self._missing()
        if problems:
            return web.json_response({"status": "not ready", "missing": problems}, status=503)
        return web.json_response({"status": "ready"})


class Endpoints(mode.Service):
    """The worker's checks behind the listener, from Faust's start to its stop. The
    listener is the one started before Faust (`listener`), or a new one."""

    def __init__(self, settings: Settings, app: Any, runtime: Runtime,
                 listener: Listener | None = None, **kwargs: Any) -> None:
        self.settings = settings
        self.app = app
        self.runtime = runtime
        self._listener = listener
        self._own = listener is None
        self._lag: ConsumerLag | None = None
        super().__init__(**kwargs)

    async def on_start(self) -> None:
        assert self.settings.http_port != "off"
        self._lag = register_lag(lambda: consumer_offsets(self.app))
        if self._listener is None:
            self._listener = Listener("starting")
            await self._listener.start(self.settings)
        self._listener.serve(lambda: missing(self.app, self.runtime))

    async def on_stop(self) -> None:
        if self._listener is not None and self._own:
            await self._listener.stop()
        if self._lag is not None:
            unregister([self._lag])
