"""What an operator sees: metrics scraped by a real Prometheus, readiness through an
outage, and JSON logs without secrets."""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from bson import ObjectId

from badges_schemas import CommandType
from badges_sdk.client import BadgesClient
from service.settings import Settings
from service.version import package_version
from tests.infra.containers import Servers, wait_for_mongo
from tests.infra.dashboards import (
    ALERTS,
    alert_rules,
    dashboard,
    dashboard_expressions,
    metric_names,
    substitute,
    variable_metrics,
)
from tests.infra.prometheus import Prometheus, binary, prometheus
from tests.infra.worker import ExporterProcess, WorkerProcess
from tests.integration.test_outage import RECOVERY_TIMEOUT, take_down

pytestmark = pytest.mark.integration

ORG, ACTOR = 50156, 123
PROBE_TIMEOUT = 5  # seconds for one HTTP request (the checks inside are bounded by 2)
STATUS_TIMEOUT = 60  # for readiness to change: an outage noticed, the group joined


async def get(url: str) -> tuple[int, Any]:
    timeout = aiohttp.ClientTimeout(total=PROBE_TIMEOUT)
    async with aiohttp.ClientSession(timeout=timeout) as session, session.get(url) as r:
        is_json = r.content_type == "application/json"
        return r.status, await (r.json() if is_json else r.text())


async def until_status(url: str, status: int, timeout: float = STATUS_TIMEOUT) -> Any:
    """The body once `url` answers `status` (bounded wait)."""
    deadline, last = time.monotonic() + timeout, None
    while time.monotonic() < deadline:
        try:
            last = await get(url)
        except (aiohttp.ClientError, TimeoutError) as exc:
            last = (0, repr(exc))
        if last[0] == status:
            return last[1]
        await asyncio.sleep(0.5)  # polling the endpoint; the deadline bounds the wait
    raise AssertionError(f"{url} never answered {status}; last: {last}")


def exactly(n: float) -> Any:
    return lambda value: value == n


async def test_prometheus_reads_the_worker_metrics_and_the_dashboard_queries(
    worker: WorkerProcess, client: BadgesClient, exporter: ExporterProcess, tmp_path: Path
) -> None:
    url = worker.http_url()
    # The lag exporter too: the lag alert and the lag panels read its series.
    targets = [url.removeprefix("http://"), exporter.http_url().removeprefix("http://")]
    with prometheus(tmp_path, targets) as server:
        # Scraped once before the commands: rates need a sample from before they counted.
        # Both targets scraped (the worker and the exporter: one series each).
        server.value_when('count(up{job="badges"} == 1)', exactly(2))
        claims = [await client.claim(ORG, ACTOR, str(ObjectId()), "Loyalty", "r")
                  for _ in range(5)]
        payload = {"badgeId": str(ObjectId()), "ownerType": "Loyalty", "referenceId": "r"}
        twice = await client.send(CommandType.CLAIM_BADGE, ORG, ACTOR, payload)
        assert (await client.result(twice)).ok
        await client.send(CommandType.CLAIM_BADGE, ORG, ACTOR, payload, command_id=twice)
        failing = await client.update_group(ORG, ACTOR, str(ObjectId()), "no such group", 1)
        for command_id in claims:
            assert (await client.result(command_id)).ok
        error = (await client.result(failing)).errors[0].code
        assert len(await client.results(twice, count=2)) == 2

        counted = 'badges_commands_total{type="%s",outcome="%s"}'
        server.value_when(counted % ("ClaimBadge", "ok"), exactly(6))
        server.value_when(counted % ("ClaimBadge", "duplicate"), exactly(1))
        server.value_when(f'badges_commands_total{{type="UpdateBadgeGroup",outcome="error",'
                          f'code="{error}"}}', exactly(1))
        p90 = server.value_when(
            "histogram_quantile(0.9, sum by (le) "
            "(rate(badges_command_latency_seconds_bucket[1m])))",
            lambda seconds: 0 < seconds < 30)
        assert p90 < 30
        server.value_when('sum(badges_batch_duration_seconds_count{phase="store"})',
                          lambda n: n >= 1)
        server.value_when('sum(badges_batch_duration_seconds_count{phase="send"})',
                          lambda n: n >= 1)
        server.value_when("sum(badges_batch_size_sum)", exactly(8))
        server.value_when(f'badges_build_info{{version="{package_version()}"}}', exactly(1))
        # Every command handled and committed: the partitions that had any show no lag.
        server.value_when("count(badges_consumer_lag)", lambda n: n >= 1)
        server.value_when("sum(badges_consumer_lag)", exactly(0))
        server.value_when("count(kafka_consumergroup_lag)", lambda n: n >= 1)
        server.value_when("sum(kafka_consumergroup_lag)", exactly(0))
        # What an on-call engineer reads besides: the database's latency per attempt (no
        # backoff), the partitions held and the rebalances, when the last batch was stored,
        # and each dependency's state as the last readiness check found it.
        server.value_when('sum(badges_attempt_duration_seconds_count{operation="store",'
                          'outcome="ok"})', lambda n: n >= 1)
        server.value_when('sum(badges_attempt_duration_seconds_count{operation="publish"})',
                          lambda n: n >= 1)
        server.value_when("badges_partitions_held", lambda n: n >= 1)
        server.value_when("badges_rebalances_total", lambda n: n >= 1)
        server.value_when("time() - badges_last_batch_timestamp_seconds",
                          lambda age: 0 <= age < 120)
        assert await until_status(f"{url}/readyz", 200) == {"status": "ready"}
        for dependency in ("mongodb", "kafka", "consumer_group"):
            server.value_when(f'badges_dependency_up{{dependency="{dependency}"}}', exactly(1))

        # A dead letter too, so that every panel of the dashboard has series to show.
        await client.send_raw(client.topics.command(CommandType.CLAIM_BADGE), b"\xff", b"k")
        server.value_when('sum(badges_commands_total{outcome="dead_letter"})', exactly(1))
        check_queries(server)


def check_queries(server: Prometheus) -> None:
    """Every expression of the Grafana dashboard and the alert rules runs, and reads only
    metrics this Prometheus has; the dashboard's also find series (label values exist)."""
    board = dashboard()
    known = server.metric_names()
    assert not variable_metrics(board) - known, variable_metrics(board) - known
    for expression in dashboard_expressions(board):
        query = substitute(expression)
        assert not metric_names(query) - known, f"no such metric in {expression}"
        server.result_when(query, bool)
    for rule in alert_rules():
        assert not metric_names(rule["expr"]) - known, f"no such metric in {rule['alert']}"
        server.query(rule["expr"])  # fails unless the answer is a success
    promtool = Path(binary()).with_name("promtool")
    checked = subprocess.run([str(promtool), "check", "rules", str(ALERTS)],
                             capture_output=True, text=True, timeout=60, check=False)
    assert checked.returncode == 0, checked.stdout + checked.stderr


@pytest.mark.parametrize("dependency", ["mongodb", "kafka"])
async def test_readyz_is_not_ready_during_an_outage(
    stack: Servers, worker: WorkerProcess, dependency: str
) -> None:
    url = worker.http_url()
    assert await get(f"{url}/healthz") == (200, {"status": "ok"})
    assert await until_status(f"{url}/readyz", 200) == {"status": "ready"}
    with ExitStack() as restarts:
        containers = {"mongodb": stack.mongo_container, "kafka": stack.kafka_container}
        take_down(containers[dependency], restarts)
        body = await until_status(f"{url}/readyz", 503)
        assert body["status"] == "not ready" and dependency in body["missing"], body
        if dependency == "mongodb":  # Kafka's outage may also cost the group membership
            assert list(body["missing"]) == ["mongodb"], body
        assert (await get(f"{url}/healthz"))[0] == 200  # alive: a restart would not help
    if dependency == "mongodb":
        wait_for_mongo(stack.mongo_url)
    # Back: the server restarted (after Kafka's outage, the consumer rejoined its group too).
    assert await until_status(f"{url}/readyz", 200, RECOVERY_TIMEOUT) == {"status": "ready"}


SASL_PASSWORD = "kafka-secret-3141"
MONGO_PASSWORD = "mongo-secret-2718"


async def test_json_logs_are_one_object_per_line_without_secrets(
    stack: Servers, settings: Settings, tmp_path: Path
) -> None:
    host = stack.mongo_url.removeprefix("mongodb://")
    secret = settings.model_copy(update={
        "log_format": "json", "log_level": "DEBUG", "kafka_sasl_password": SASL_PASSWORD,
        "mongo_url": f"mongodb://badges:{MONGO_PASSWORD}@{host}/?authMechanism=PLAIN"})
    worker = WorkerProcess(secret, tmp_path / "worker.log").start()
    try:
        async with BadgesClient(settings) as client:
            command = await client.claim(ORG, ACTOR, str(ObjectId()), "Loyalty", "r")
            assert (await client.result(command)).ok
    finally:
        code = worker.stop()
    assert code == 0, worker.tail()
    text = worker.log()
    assert SASL_PASSWORD not in text and MONGO_PASSWORD not in text
    lines = [json.loads(line) for line in text.splitlines()]
    assert all({"time", "level", "logger", "message"} <= set(line) for line in lines)
    about = [line for line in lines if line.get("commandId") == command]
    assert about and about[0]["orgId"] == ORG, "no line about the command"
    assert {"topic", "partition", "offset"} <= set(about[0]), about[0]
    loggers = {line["logger"] for line in lines}
    assert any(name.startswith("faust") for name in loggers), loggers
    assert any(name.startswith("aiokafka") for name in loggers), loggers
