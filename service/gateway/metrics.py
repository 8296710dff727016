"""The gateway's Prometheus metrics, counted by an ASGI middleware around every request."""

from __future__ import annotations

import functools
import time
from typing import Any

from prometheus_client import (
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    Counter,
    Histogram,
)
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.gateway.access import access, command_id_of
from service.retry import ATTEMPTS, RETRIES

REQUESTS = Counter("badges_gateway_requests_total",
                   "HTTP requests answered, by route template, method and status",
                   ["route", "method", "status"], registry=None)
# From a cached credential check and a read (milliseconds) to the reply timeout (10 s).
DURATION = Histogram("badges_gateway_request_duration_seconds",
                     "Time to answer a request, by route template and method",
                     ["route", "method"],
                     buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
                     registry=None)
UNMATCHED = "unmatched"  # requests no route took: one label, whatever their paths


def registry() -> CollectorRegistry:
    """What a gateway's /metrics serves: its requests, its retries, and the process's own
    collectors; a registry of its own, so that it never serves a worker's series (not even
    in a test process that built a worker's app too)."""
    mine = CollectorRegistry()
    for collector in (REQUESTS, DURATION, RETRIES, ATTEMPTS, PROCESS_COLLECTOR, PLATFORM_COLLECTOR,
                      GC_COLLECTOR):
        mine.register(collector)
    return mine


class RequestMetrics:
    """Counts and times every request; writes its access log line too (access.py)."""

    def __init__(self, app: ASGIApp, access_log: bool = True) -> None:
        self.app = app
        self.access_log = access_log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # if the app raises before answering, the server answers 500
        command_id = None

        async def sending(message: Message) -> None:
            nonlocal status, command_id
            if message["type"] == "http.response.start":
                status = message["status"]
                command_id = command_id_of(message.get("headers", []))
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            seconds = time.perf_counter() - started
            route = _template(scope.get("route"))
            counted, timed = _series(route, scope["method"], status)
            counted.inc()
            timed.observe(seconds)
            if self.access_log:
                access(scope["method"], route, status, seconds, command_id)


@functools.cache
def _series(route: str, method: str, status: int) -> tuple[Any, Any]:
    """The counter and histogram of (route, method, status): `labels()` builds and looks
    the series up under a lock on every call; these few series are looked up once each."""
    return REQUESTS.labels(route, method, str(status)), DURATION.labels(route, method)


def _template(route: Any) -> str:
    """The route's path template (`/group/{groupId}`): bounded label values."""
    return str(getattr(route, "path", UNMATCHED))
