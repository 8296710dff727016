"""The metrics hooks: each command's outcome, the counters, the lag gauge, the JSON log."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import uuid

from prometheus_client import REGISTRY

from badges_schemas import CommandType, Topics
from service.logs import JsonFormatter
from service.retry import retry
from service.secrets import redactor
from service.settings import Settings
from service.worker.handler import store_batch
from service.worker.metrics import ConsumerLag, Outcome, count_published, export
from tests.unit.memory_store import MemoryStore, Message, incoming

export()  # the worker's metrics, as its process exports them when it builds its app
CLAIMS = Topics("x").command(CommandType.CLAIM_BADGE).split(".")[1]
GROUPS = Topics("x").command(CommandType.UPDATE_BADGE_GROUP).split(".")[1]


def command(kind: CommandType, payload: dict[str, object], command_id: str | None = None
            ) -> bytes:
    return json.dumps({"commandId": command_id or str(uuid.uuid4()), "type": str(kind),
                       "orgId": 7, "actorId": 1, "payload": payload}).encode()


def outcomes(store: MemoryStore, batch: list[Message]) -> list[tuple[str, str, str]]:
    async def run() -> list[Outcome]:
        stored = await store_batch([incoming(m, i) for i, m in enumerate(batch)],
                                   store)  # type: ignore[arg-type]
        await store.mark_done(stored.done)
        return stored.outcomes

    return [(o.type, o.outcome, o.code) for o in asyncio.run(run())]


def test_each_command_gets_one_outcome_with_its_error_code() -> None:
    claim = command(CommandType.CLAIM_BADGE, {"badgeId": "6581281e8f68666070de15c5",
                                              "ownerType": "Loyalty", "referenceId": "r"})
    missing_owner = command(CommandType.CLAIM_BADGE, {"badgeId": "6581281e8f68666070de15c5"})
    unknown_group = command(CommandType.UPDATE_BADGE_GROUP, {
        "groupId": "6581281e8f68666070de15c6", "name": "Gold", "rank": 1})
    store = MemoryStore()
    first = outcomes(store, [(CLAIMS, b"k", claim, 1.0), (CLAIMS, b"k", claim, 2.0),
                             (CLAIMS, b"k", b"{not json", 3.0),
                             (CLAIMS, b"k", missing_owner, 4.0),
                             (GROUPS, b"g", unknown_group, 5.0)])
    assert first[:3] == [("ClaimBadge", "ok", ""), ("ClaimBadge", "duplicate", ""),
                         ("unknown", "dead_letter", "")]
    assert [o[:2] for o in first[3:]] == [("ClaimBadge", "error"), ("UpdateBadgeGroup", "error")]
    assert all(o[2].isdigit() for o in first[3:])
    # Answered from the command log in a later batch: a duplicate too.
    assert outcomes(store, [(CLAIMS, b"k", claim, 6.0)]) == [("ClaimBadge", "duplicate", "")]


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_published_answers_are_counted_with_their_latency() -> None:
    before = sample("badges_commands_total", type="ClaimBadge", outcome="ok", code="")
    latencies = sample("badges_command_latency_seconds_count")
    count_published([Outcome("ClaimBadge", "ok", "", 100.0)] * 2, now=100.5)
    assert sample("badges_commands_total", type="ClaimBadge", outcome="ok", code="") == (
        before + 2)
    assert sample("badges_command_latency_seconds_count") == latencies + 2
    assert sample("badges_command_latency_seconds_bucket", le="0.5") >= 2


def test_retries_are_counted_and_attempts_timed_by_operation() -> None:
    settings = Settings(retry_initial_backoff_seconds=0.001)
    attempts = iter([RuntimeError("down"), None])

    async def step() -> str:
        if (failure := next(attempts)) is not None:
            raise failure
        return "done"

    before = sample("badges_retries_total", operation="store")
    ok = sample("badges_attempt_duration_seconds_count", operation="store", outcome="ok")
    failed = sample("badges_attempt_duration_seconds_count", operation="store",
                    outcome="failed")
    assert asyncio.run(retry(settings, "a batch of 3", step, operation="store")) == "done"
    assert sample("badges_retries_total", operation="store") == before + 1
    # Each attempt timed on its own, the backoff left out.
    assert sample("badges_attempt_duration_seconds_count", operation="store",
                  outcome="ok") == ok + 1
    assert sample("badges_attempt_duration_seconds_count", operation="store",
                  outcome="failed") == failed + 1


def test_lag_is_the_end_offset_minus_the_committed_one_per_partition() -> None:
    lag = ConsumerLag(lambda: {("t.claims", 1): (120, 100), ("t.claims", 0): (5, 5)})
    samples = [(s.labels, s.value) for family in lag.collect() for s in family.samples]
    assert samples == [({"topic": "t.claims", "partition": "0"}, 0),
                       ({"topic": "t.claims", "partition": "1"}, 20)]


def test_json_log_lines_carry_the_command_fields_and_mask_secrets_in_exceptions() -> None:
    formatter = JsonFormatter(redactor(["s3cret-pw"]))
    try:
        raise ValueError("login with s3cret-pw refused")
    except ValueError:
        record = logging.LogRecord("service.x", logging.WARNING, __file__, 1, "batch %s failed",
                                   ("b1",), sys.exc_info())
    record.topic, record.partition, record.offset = "t.claims", 2, 40
    line = json.loads(formatter.format(record))
    assert {k: line[k] for k in ("level", "logger", "message", "topic", "partition",
                                 "offset")} == {
        "level": "WARNING", "logger": "service.x", "message": "batch b1 failed",
        "topic": "t.claims", "partition": 2, "offset": 40}
    assert "s3cret-pw" not in line["exception"] and "***" in line["exception"]
