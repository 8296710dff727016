"""`make observe` (deploy/observe.sh): a Prometheus that scrapes the worker, the gateway and
the lag exporter of a running stack, with the alert rules loaded."""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml

from service.settings import Settings
from tests.infra.containers import free_port
from tests.infra.gateway import GatewayProcess, GatewayUsers
from tests.infra.worker import ExporterProcess, WorkerProcess

pytestmark = pytest.mark.integration

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
UP_TIMEOUT = 120  # Prometheus installed on first use, started, three scrapes (every 5 s)


def get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.load(response)


def until(url: str, condition: Any, observe: subprocess.Popen[bytes], log: Path) -> Any:
    deadline, seen = time.monotonic() + UP_TIMEOUT, None
    while time.monotonic() < deadline:
        assert observe.poll() is None, f"observe.sh exited:\n{log.read_text()[-3000:]}"
        try:
            seen = get(url)["data"]
            if condition(seen):
                return seen
        except OSError as exc:
            seen = repr(exc)
        time.sleep(1)  # polling Prometheus; the deadline bounds the wait
    raise AssertionError(f"{url}: {seen}\n{log.read_text()[-3000:]}")


def test_observe_scrapes_the_worker_gateway_and_exporter_with_the_rules_loaded(
        settings: Settings, worker: WorkerProcess, exporter: ExporterProcess,
        tmp_path: Path) -> None:
    users = GatewayUsers(tmp_path / "users.json").add("u", 1, 1)
    port, log = free_port(), tmp_path / "observe.log"
    with GatewayProcess(settings, users.path, tmp_path / "gateway.log") as gateway:
        env = {"BADGES_OBSERVE_PORT": str(port), "BADGES_STATE_DIR": str(tmp_path / "state"),
               "BADGES_OBSERVE_WORKER": worker.http_url().removeprefix("http://"),
               "BADGES_OBSERVE_GATEWAY": gateway.url.removeprefix("http://"),
               "BADGES_OBSERVE_EXPORTER": exporter.http_url().removeprefix("http://")}
        with log.open("wb") as out:
            observe = subprocess.Popen([str(DEPLOY / "observe.sh")],
                                       env={**_path_only(), **env}, stdout=out,
                                       stderr=subprocess.STDOUT)
        try:
            base = f"http://127.0.0.1:{port}/api/v1"
            targets = until(f"{base}/targets", lambda d: len(d["activeTargets"]) == 3 and all(
                t["health"] == "up" for t in d["activeTargets"]), observe, log)
            jobs = {t["labels"]["job"] for t in targets["activeTargets"]}
            assert jobs == {"badges-worker", "badges-gateway", "badges-lag"}
            rules = until(f"{base}/rules", lambda d: d["groups"], observe, log)
            loaded = {r["name"] for g in rules["groups"] for r in g["rules"]}
            wanted = {r["alert"] for g in yaml.safe_load(
                (DEPLOY / "prometheus" / "alerts.yml").read_text())["groups"] for r in g["rules"]}
            assert loaded == wanted
            assert f"http://127.0.0.1:{port}" in log.read_text()  # the URL is printed
        finally:
            observe.terminate()
            observe.wait(30)


def _path_only() -> dict[str, str]:
    """A user's shell, not the test's BADGES_* settings: PATH (prometheus.sh may use apt)."""
    return {k: os.environ[k] for k in ("PATH", "HOME", "LANG") if k in os.environ}
