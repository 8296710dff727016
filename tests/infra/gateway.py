"""Run the real REST gateway (`python -m service gateway`) as a child process, and its users.

Each gateway listens on a free port of 127.0.0.1 chosen beforehand, reads the users file the
test wrote with the real `badges gateway-user add`, and counts as started once `/readyz`
answers 200 (Kafka and MongoDB reachable, its reply reader running).
"""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from service.settings import Settings
from tests.infra.containers import free_port
from tests.infra.worker import START_TIMEOUT, WorkerProcess

BADGES = Path(sys.executable).with_name("badges")
PREFIX = "/api_gateway/v1/badges"
PROBE_TIMEOUT = 2.0


@dataclass(frozen=True)
class GatewayUser:
    name: str
    password: str
    org_id: int
    user_id: int

    @property
    def authorization(self) -> str:
        """The `Authorization` header value of HTTP Basic for this user."""
        token = base64.b64encode(f"{self.name}:{self.password}".encode()).decode()
        return f"Basic {token}"


def add_user(users_file: Path, user: GatewayUser) -> None:
    """`badges gateway-user add`, password on standard input, as an operator runs it."""
    done = subprocess.run(
        [str(BADGES), "gateway-user", "add", "--name", user.name, "--org-id", str(user.org_id),
         "--user-id", str(user.user_id)],
        input=user.password + "\n",
        env={**os.environ, "BADGES_GATEWAY_USERS_FILE": str(users_file)},
        capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, f"gateway-user add failed ({done.returncode}): {done.stderr}"


class GatewayProcess(WorkerProcess):
    """Like WorkerProcess (same BADGES_* environment, log file and stop), but the gateway."""

    def __init__(self, settings: Settings, log_path: Path, users_file: Path) -> None:
        super().__init__(settings, log_path)
        self.users_file = users_file
        self.port = free_port()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def environment(self) -> dict[str, str]:
        return {**super().environment(), "BADGES_GATEWAY_HOST": "127.0.0.1",
                "BADGES_GATEWAY_PORT": str(self.port),
                "BADGES_GATEWAY_USERS_FILE": str(self.users_file)}

    def start(self, wait: bool = True) -> GatewayProcess:
        self._log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "service", "gateway"], env=self.environment(),
                stdout=log, stderr=subprocess.STDOUT,
            )
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self, timeout: float = START_TIMEOUT) -> None:
        """Return once /readyz answers 200; fail if the gateway exits or time runs out."""
        deadline = time.monotonic() + timeout
        while not self._ready():
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"gateway exited with {self.process.returncode}:\n"
                                   f"{self.tail()}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"gateway not ready in {timeout}s:\n{self.tail()}")
            time.sleep(0.2)  # polling a probe; the deadline bounds the wait

    def _ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/readyz", timeout=PROBE_TIMEOUT) as answer:
                return bool(answer.status == 200)
        except (urllib.error.URLError, OSError):
            return False


@contextmanager
def running_gateways(settings: Settings, folder: Path, users: list[GatewayUser],
                     count: int = 1) -> Iterator[list[GatewayProcess]]:
    """`count` gateways sharing one users file (with `users` added), ready; stopped after.

    Their logs are printed when the block fails."""
    users_file = folder / "gateway-users.json"
    for user in users:
        add_user(users_file, user)
    gateways = [GatewayProcess(settings, folder / f"gateway-{n}.log", users_file)
                for n in range(count)]
    try:
        for gateway in gateways:
            gateway.start(wait=False)
        for gateway in gateways:
            gateway.wait_ready()
        yield gateways
    except BaseException:
        for n, gateway in enumerate(gateways):
            print(f"--- gateway {n} log ---\n{gateway.tail(100)}")
        raise
    finally:
        for gateway in gateways:
            gateway.stop()
