"""Run the real gateway (`python -m service gateway`) as a child process, with its users.

    users = GatewayUsers(tmp_path / "users.json").add("alice", org_id=1, user_id=7)
    with GatewayProcess(settings, users.path, tmp_path / "gateway.log") as gateway:
        gateway.url  # http://127.0.0.1:<port>, ready (Kafka, MongoDB, result reader)

The port is a free one the gateway picks itself (BADGES_GATEWAY_PORT=0) and logs, so
several gateways (and workers) can run on one host.
"""

from __future__ import annotations

import base64
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import aiohttp
from multidict import CIMultiDict

from service.gateway.users import Rights, add_client, add_user
from service.settings import Settings
from tests.infra.worker import settings_environment

METRICS_LINE = re.compile(r"gateway metrics on http://[^ ]+:(\d+)/metrics")
LISTENING = re.compile(r"gateway listening on [^ ]+:(\d+)")
START_TIMEOUT = 90
STOP_TIMEOUT = 30
PREFIX = "/api_gateway/v1/badges"
REQUEST_TIMEOUT = 30  # seconds; above the gateway's own reply timeout


@dataclass(frozen=True)
class Reply:
    status: int
    body: Any  # the parsed JSON
    text: str
    headers: CIMultiDict[str]  # case-insensitive names

    def codes(self, member: str = "errors") -> list[int]:
        return [p["code"] for p in self.body[member] or []]


async def call(session: aiohttp.ClientSession, method: str, url: str,
               authorization: str | None = None, body: Any = None, raw: bytes | None = None,
               headers: dict[str, str] | None = None) -> Reply:
    """One request; `body` is sent as JSON, `raw` as it is."""
    sent = {"Content-Type": "application/json", **(headers or {})}
    if authorization is not None:
        sent["Authorization"] = authorization
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    async with session.request(method, url, data=data, headers=sent,
                               timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT)) as response:
        text = await response.text()
        return Reply(response.status, json.loads(text) if text else None, text,
                     CIMultiDict(response.headers))


@dataclass
class GatewayUsers:
    """A users file, and the passwords of the users in it (for the tests' requests)."""

    path: Path
    passwords: dict[str, str] = field(default_factory=dict)

    def add(self, name: str, org_id: int, user_id: int, password: str | None = None,
            access: Rights | None = None) -> GatewayUsers:
        password = password or f"pw-{name}-{os.urandom(6).hex()}"
        add_user(self.path, name, password, org_id, user_id, access)
        self.passwords[name] = password
        return self

    def add_client(self, key: str, org_id: int, user_id: int, access: Rights,
                   ttl_seconds: int = 300) -> GatewayUsers:
        """An API client; its secret is kept under its key, as a user's password."""
        secret = f"secret-{key}-{os.urandom(6).hex()}"
        add_client(self.path, key, secret, org_id, user_id, access, ttl_seconds)
        self.passwords[key] = secret
        return self

    def basic(self, name: str) -> str:
        """The Authorization header value of the user."""
        token = base64.b64encode(f"{name}:{self.passwords[name]}".encode()).decode()
        return f"Basic {token}"


class GatewayProcess:
    def __init__(self, settings: Settings, users_file: Path, log_path: Path,
                 timeout_seconds: float | None = None) -> None:
        self.settings = settings
        self.users_file = users_file
        self.log_path = log_path
        self.timeout_seconds = timeout_seconds
        self.process: subprocess.Popen[bytes] | None = None
        self.url = ""

    def environment(self) -> dict[str, str]:
        env = {**os.environ, **settings_environment(self.settings),
               "BADGES_GATEWAY_PORT": "0", "BADGES_GATEWAY_USERS_FILE": str(self.users_file)}
        if self.timeout_seconds is not None:
            env["BADGES_GATEWAY_TIMEOUT_SECONDS"] = str(self.timeout_seconds)
        return env

    def start(self, wait_ready: bool = True) -> GatewayProcess:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "service", "gateway"], env=self.environment(),
                stdout=log, stderr=subprocess.STDOUT)
        self.url = f"http://127.0.0.1:{self._port()}"
        if wait_ready:
            self.wait_ready()
        return self

    def __enter__(self) -> GatewayProcess:
        return self.start()

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None
                 ) -> None:
        self.stop()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def tail(self, lines: int = 60) -> str:
        return "\n".join(self.log().splitlines()[-lines:])

    def metrics_url(self) -> str:
        """/metrics on its own port (BADGES_GATEWAY_METRICS_PORT=0), from the line it logs."""
        deadline = time.monotonic() + START_TIMEOUT
        while (found := METRICS_LINE.search(self.log())) is None:
            self._check_alive(deadline, "no 'gateway metrics on' line")
            time.sleep(0.1)  # polling a log file; the deadline bounds the wait
        return f"http://127.0.0.1:{found.group(1)}/metrics"

    def _port(self) -> int:
        deadline = time.monotonic() + START_TIMEOUT
        while (found := LISTENING.search(self.log())) is None:
            self._check_alive(deadline, "no 'gateway listening' line")
            time.sleep(0.1)  # polling a log file; the deadline bounds the wait
        return int(found.group(1))

    def readiness(self) -> tuple[int, dict[str, object]]:
        try:
            with urllib.request.urlopen(f"{self.url}/readyz", timeout=5) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())

    def wait_ready(self, timeout: float = START_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while self.readiness()[0] != 200:
            self._check_alive(deadline, "/readyz not 200")
            time.sleep(0.2)

    def _check_alive(self, deadline: float, what: str) -> None:
        assert self.process is not None
        if self.process.poll() is not None:
            raise RuntimeError(f"gateway exited with {self.process.returncode}:\n{self.tail()}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} within {START_TIMEOUT}s:\n{self.tail()}")

    def stop(self) -> int | None:
        """SIGTERM (uvicorn stops gracefully), then SIGKILL if it does not exit in time."""
        if self.process is None or self.process.poll() is not None:
            return self.process.returncode if self.process else None
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait(STOP_TIMEOUT)
