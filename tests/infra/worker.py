"""Run the real worker (`python -m service worker`) as a child process, as it runs in production."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from service.settings import Settings

HTTP_LINE = re.compile(r"HTTP endpoints on [^ ]+:(\d+)")
READY_LINE = "Ready"  # faust's worker prints "[^Worker]: Ready" once its agents run
START_TIMEOUT = 90
STOP_TIMEOUT = 30


def settings_environment(settings: Settings) -> dict[str, str]:
    """The BADGES_* variables that make a worker load exactly `settings`."""
    return {f"BADGES_{name.upper()}": str(value)
            for name, value in settings.model_dump().items() if value is not None}


class WorkerProcess:
    command = "worker"  # of `python -m service`
    http_line = HTTP_LINE  # the log line that names its HTTP port
    http_text = "HTTP endpoints on"  # what that line says
    ready_line = READY_LINE
    port_variable = "BADGES_HTTP_PORT"

    def __init__(self, settings: Settings, log_path: Path) -> None:
        self.settings = settings
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None
        self._log_offset = 0

    def environment(self) -> dict[str, str]:
        env = {**os.environ, **settings_environment(self.settings)}
        port_setting = self.port_variable.removeprefix("BADGES_").lower()
        if port_setting not in self.settings.model_fields_set:
            env[self.port_variable] = "0"  # tests run several on one host
        return env

    def http_url(self, timeout: float = START_TIMEOUT) -> str:
        """The base URL of the worker's HTTP endpoints, from the port it logged."""
        deadline = time.monotonic() + timeout
        while (found := self.http_line.search(self.log())) is None:
            assert time.monotonic() < deadline, f"no HTTP endpoints logged:\n{self.tail()}"
            self.wait_for(self.http_text, max(0.1, deadline - time.monotonic()))
        return f"http://127.0.0.1:{found.group(1)}"

    def start(self, wait: bool = True) -> WorkerProcess:
        """Start the worker; with `wait`, return once it is ready."""
        self._log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "service", self.command], env=self.environment(),
                stdout=log, stderr=subprocess.STDOUT,
            )
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self) -> None:
        self.wait_for(self.ready_line)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[self._log_offset:]

    def wait_for(self, text: str, timeout: float = START_TIMEOUT) -> None:
        """Return once `text` is in this run's log; fail if the worker exits or time runs out."""
        deadline = time.monotonic() + timeout
        while text not in self.log():
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"worker exited with {self.process.returncode}:\n{self.tail()}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"no {text!r} in the worker log within {timeout}s:\n"
                                   f"{self.tail()}")
            time.sleep(0.2)  # polling a log file; the deadline bounds the wait

    def tail(self, lines: int = 60) -> str:
        return "\n".join(self.log().splitlines()[-lines:])

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, as in a crash or an OOM kill."""
        self._signal(signal.SIGKILL)

    def stop(self) -> int | None:
        """SIGTERM, then SIGKILL if it does not exit in time; returns the exit code."""
        return self._signal(signal.SIGTERM)

    def _signal(self, sig: int) -> int | None:
        if self.process is None or self.process.poll() is not None:
            return self.process.returncode if self.process else None
        self.process.send_signal(sig)
        try:
            return self.process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait(STOP_TIMEOUT)


class ExporterProcess(WorkerProcess):
    """The lag exporter (`python -m service lag-exporter`), run as the worker is."""

    command = "lag-exporter"
    http_line = re.compile(r"metrics on http://[^ ]+:(\d+)/metrics")
    http_text = "metrics on http"
    ready_line = "lag exporter: group"
    port_variable = "BADGES_LAG_EXPORTER_PORT"
