"""Several real gateways at once, sharing one users file (tests/infra/gateway.py runs one)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from service.settings import Settings
from tests.infra.gateway import GatewayProcess, GatewayUsers


@contextmanager
def running_gateways(settings: Settings, users: GatewayUsers, folder: Path,
                     count: int = 1) -> Iterator[list[GatewayProcess]]:
    """`count` gateways, all ready; stopped on the way out. Their logs are printed when the
    block fails."""
    gateways = [GatewayProcess(settings, users.path, folder / f"gateway-{n}.log")
                for n in range(count)]
    with ExitStack() as stack:
        try:
            for gateway in gateways:  # all start at once, then each is waited for
                stack.callback(gateway.stop)
                gateway.start(wait_ready=False)
            for gateway in gateways:
                gateway.wait_ready()
            yield gateways
        except BaseException:
            for n, gateway in enumerate(gateways):
                print(f"--- gateway {n} log ---\n{gateway.tail(100)}")
            raise
