"""A real Prometheus server for the metrics tests: Debian's binary, run on a free port with
a config of the test's own (never the packaged service), scraping given targets every second."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.infra.containers import free_port

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
START_TIMEOUT = 60
REQUEST_TIMEOUT = 5
QUERY_TIMEOUT = 60  # for a value to show up: a few scrapes, and a rate over them


def binary() -> str:
    """The prometheus binary, installed from Debian first if missing (deploy/prometheus.sh)."""
    done = subprocess.run([str(DEPLOY / "prometheus.sh")], capture_output=True, text=True,
                          timeout=600, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"deploy/prometheus.sh failed ({done.returncode}):\n{done.stderr}")
    return done.stdout.strip().splitlines()[-1]


class Prometheus:
    def __init__(self, url: str, process: subprocess.Popen[bytes], log: Path) -> None:
        self.url = url
        self.process = process
        self.log = log

    def get(self, path: str, **params: str) -> Any:
        query = urllib.parse.urlencode(params)
        with urllib.request.urlopen(f"{self.url}{path}?{query}", timeout=REQUEST_TIMEOUT) as r:
            return json.load(r)

    def query(self, expression: str) -> list[dict[str, Any]]:
        """An instant query's vector: [{"metric": labels, "value": [time, "text"]}]."""
        answer = self.get("/api/v1/query", query=expression)
        assert answer["status"] == "success", answer
        return list(answer["data"]["result"])

    def metric_names(self) -> set[str]:
        """Every metric name Prometheus holds a series of."""
        answer = self.get("/api/v1/label/__name__/values")
        assert answer["status"] == "success", answer
        return set(answer["data"])

    def result_when(self, expression: str, condition: Any, timeout: float = QUERY_TIMEOUT
                    ) -> list[dict[str, Any]]:
        """The expression's vector once `condition(vector)` holds (bounded wait)."""
        deadline, seen = time.monotonic() + timeout, None
        while time.monotonic() < deadline:
            seen = self.query(expression)
            if condition(seen):
                return seen
            time.sleep(0.5)  # polling the server; the deadline bounds the wait
        raise AssertionError(f"{expression} never met the condition (last result: {seen}); "
                             f"targets: {self.get('/api/v1/targets')}\n{self.tail()}")

    def value_when(self, expression: str, condition: Any, timeout: float = QUERY_TIMEOUT
                   ) -> float:
        """The expression's single value once `condition(value)` holds (bounded wait)."""
        def holds(result: list[dict[str, Any]]) -> bool:
            return len(result) == 1 and bool(condition(float(result[0]["value"][1])))

        return float(self.result_when(expression, holds, timeout)[0]["value"][1])

    def tail(self, lines: int = 30) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


@contextmanager
def prometheus(folder: Path, targets: list[str]) -> Iterator[Prometheus]:
    config = folder / "prometheus.yml"
    config.write_text(json.dumps({  # YAML is a superset of JSON
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "scrape_configs": [{"job_name": "badges", "static_configs": [{"targets": targets}]}],
    }))
    port, log = free_port(), folder / "prometheus.log"
    with log.open("ab") as out:
        process = subprocess.Popen(
            [binary(), f"--config.file={config}", f"--storage.tsdb.path={folder / 'data'}",
             f"--web.listen-address=127.0.0.1:{port}"], stdout=out, stderr=subprocess.STDOUT)
    server = Prometheus(f"http://127.0.0.1:{port}", process, log)
    try:
        _wait_ready(server)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(REQUEST_TIMEOUT * 2)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(REQUEST_TIMEOUT)


def _wait_ready(server: Prometheus) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        if server.process.poll() is not None:
            raise RuntimeError(f"prometheus exited:\n{server.tail()}")
        try:
            with urllib.request.urlopen(f"{server.url}/-/ready", timeout=REQUEST_TIMEOUT) as r:
                if r.status == 200:
                    return
        except OSError:
            pass  # not listening yet
        assert time.monotonic() < deadline, f"prometheus not ready:\n{server.tail()}"
        time.sleep(0.2)  # polling the server; the deadline bounds the wait
