"""Run the gateway under uvicorn, in one process, until SIGTERM or Ctrl-C."""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
import socket

import uvicorn
import uvloop
from prometheus_client import CollectorRegistry, start_http_server

from service.gateway.app import create_app
from service.settings import Settings

log = logging.getLogger(__name__)

# Allocations (net of deallocations) between two young collections; Python's default is
# 700. See _settle_heap.
GC_YOUNG_THRESHOLD = 20_000


class _Server(uvicorn.Server):
    """Logs the bound address, for BADGES_GATEWAY_PORT=0 (tests run several on a host)."""

    def __init__(self, config: uvicorn.Config, users_file: str) -> None:
        super().__init__(config)
        self.users_file = users_file

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        for server in self.servers:
            for bound in server.sockets:
                host, port = bound.getsockname()[:2]
                log.info("gateway listening on %s:%d (users file %s)", host, port,
                         self.users_file)


def _serve_metrics(metrics: CollectorRegistry, host: str, port: int) -> None:
    """/metrics on a port of its own, in a thread (prometheus_client's server): a scrape
    never waits for the event loop, and the public port never serves it."""
    server, _ = start_http_server(port, addr=host, registry=metrics)
    log.info("gateway metrics on http://%s:%d/metrics", host, server.server_port)


def _stopped(signum: int, frame: object) -> None:
    raise SystemExit(0)


def _settle_heap() -> None:
    """Keep the cyclic GC off the request path (measured with the gateway benchmark).

    With Python's defaults, at 300 requests/s the gateway spent ~0.15 ms of CPU per request
    in the GC: a full collection every ~10 s, ~75 ms each, walking the ~140,000 objects of
    its imports and app (every request in flight waits for it: straight into p99), and
    young collections ~10 times a second that moved objects of the requests in flight
    (alive ~100 ms) into the older generations, whose collections then came sooner.
    Frozen after startup, those objects are never walked again; with a larger young
    threshold a request's objects mostly die before a collection looks at them. The same
    run then spent 0.16 s of CPU in the GC instead of 1.7 s.
    """
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, older, oldest)


def run(settings: Settings) -> None:
    # httptools parses HTTP in C and uvloop runs the loop in C: together they halve the
    # gateway's CPU per request against h11 and asyncio's loop (pure Python).
    # On SIGTERM, requests in flight get their answer or their 504: the graceful stop
    # outlasts the reply timeout (Kubernetes' grace period must outlast both).
    app = create_app(settings)
    if settings.gateway_metrics_port != "public":
        _serve_metrics(app.state.metrics, settings.gateway_host, settings.gateway_metrics_port)
    _settle_heap()
    config = uvicorn.Config(app, host=settings.gateway_host,
                            port=settings.gateway_port, log_config=None, access_log=False,
                            lifespan="on", http="httptools",
                            timeout_graceful_shutdown=int(settings.gateway_timeout_seconds) + 2)
    # uvicorn stops gracefully on SIGTERM, then raises it again for the handler it found:
    # this one makes that a clean exit 0 (the default would report the process as killed).
    signal.signal(signal.SIGTERM, _stopped)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(_Server(config, settings.gateway_users_file).serve())
