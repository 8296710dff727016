"""Run the gateway under uvicorn, in one process, until SIGTERM or Ctrl-C."""

from __future__ import annotations

import asyncio
import logging
import signal
import socket

import uvicorn
import uvloop

from service.gateway.app import create_app
from service.settings import Settings

log = logging.getLogger(__name__)


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


def _stopped(signum: int, frame: object) -> None:
    raise SystemExit(0)


def run(settings: Settings) -> None:
    # httptools parses HTTP in C and uvloop runs the loop in C: together they halve the
    # gateway's CPU per request against h11 and asyncio's loop (pure Python).
    # On SIGTERM, requests in flight get their answer or their 504: the graceful stop
    # outlasts the reply timeout (Kubernetes' grace period must outlast both).
    config = uvicorn.Config(create_app(settings), host=settings.gateway_host,
                            port=settings.gateway_port, log_config=None, access_log=False,
                            lifespan="on", http="httptools",
                            timeout_graceful_shutdown=int(settings.gateway_timeout_seconds) + 2)
    # uvicorn stops gracefully on SIGTERM, then raises it again for the handler it found:
    # this one makes that a clean exit 0 (the default would report the process as killed).
    signal.signal(signal.SIGTERM, _stopped)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(_Server(config, settings.gateway_users_file).serve())
