"""The worker's expiry loop: steps back to back while there is work, a pause otherwise;
Kafka's earliest offsets read once per pass that has work, never when there is none."""

from __future__ import annotations

from collections import Counter
from typing import Any, cast

import pytest
from prometheus_client import CollectorRegistry

from service.settings import Settings
from service.store.expiry import Step
from service.store.expiry_policy import HOUR, Earliest
from service.worker.metrics import EXPIRY_CAUGHT_UP, EXPIRY_ENTRIES, EXPIRY_FAILURES
from service.worker.runtime import expiry_passes

REGISTRY = CollectorRegistry()
for _collector in (EXPIRY_ENTRIES, EXPIRY_FAILURES, EXPIRY_CAUGHT_UP):
    REGISTRY.register(_collector)


def metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def counted() -> Counter[str]:
    entries = "badges_command_log_expiry_entries_total"
    return Counter({"expired": int(metric(entries, result="expired")),
                    "kept": int(metric(entries, result="kept")),
                    "failures": int(metric("badges_command_log_expiry_failures_total"))})


class _Expiry:
    """Answers each step from a script: a Step, or an exception to raise; `due` is False
    where the script says None (nothing expired yet: no step is taken)."""

    def __init__(self, script: list[Step | Exception | None]) -> None:
        self.script = script
        self.calls: list[tuple[float, float, Earliest]] = []

    async def due(self, now: float, retention_seconds: float) -> bool:
        if self.script[0] is None:
            self.script.pop(0)
            return False
        return True

    async def step(self, now: float, retention_seconds: float, earliest: Earliest) -> Step:
        self.calls.append((now, retention_seconds, earliest))
        answer = self.script.pop(0)
        assert answer is not None
        if isinstance(answer, Exception):
            raise answer
        return answer


async def test_steps_follow_each_other_while_there_is_more_and_failures_wait(
    caplog: pytest.LogCaptureFixture
) -> None:
    settings = Settings(command_log_retention_hours=10, command_log_expiry_interval_seconds=7)
    expiry = _Expiry([Step(5, 0, more=True), Step(2, 1, more=True), Step(0, 0, more=False),
                      None, ConnectionError("db down"), Step(0, 0, more=False)])
    before = counted()
    slept: list[float] = []
    now = iter(range(100, 200))
    reads: list[Earliest] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    async def read_earliest() -> Earliest:
        reads.append({("claims", 0): len(reads)})
        return reads[-1]

    await expiry_passes(cast(Any, expiry), settings, lambda: float(next(now)), sleep,
                        lambda: bool(expiry.script), read_earliest)
    assert slept == [0, 0, 7, 7, 7, 7]
    # One read for the first pass's three steps; none for the pass with nothing due; one
    # for the failed pass, and one more for the pass after it.
    assert reads == [{("claims", 0): n} for n in range(3)]
    assert [(at, retention) for at, retention, _ in expiry.calls] == [
        (float(t), 10 * HOUR) for t in (100, 101, 102, 104, 105)]
    assert [earliest for *_, earliest in expiry.calls] == [reads[0]] * 3 + reads[1:]
    assert [r.getMessage() for r in caplog.records if r.levelname == "WARNING"] == [
        "command log expiry failed (ConnectionError('db down')); trying again in 7s"]
    # What an operator reads: entries expired and kept, failed passes, and when it last
    # caught up (the last pass, at 105; the failed one at 104 did not count).
    assert counted() - before == Counter(expired=7, kept=1, failures=1)
    assert metric("badges_command_log_expiry_caught_up_timestamp_seconds") == 105


async def test_a_failed_read_of_kafka_expires_nothing_and_is_tried_again(
    caplog: pytest.LogCaptureFixture
) -> None:
    settings = Settings(command_log_expiry_interval_seconds=7)
    expiry = _Expiry([Step(0, 0, more=False)])
    attempts: list[int] = []

    async def read_earliest() -> Earliest:
        attempts.append(1)
        if len(attempts) == 1:
            raise TimeoutError("kafka down")
        return {}

    async def sleep(seconds: float) -> None:
        pass

    await expiry_passes(cast(Any, expiry), settings, lambda: 1.0, sleep,
                        lambda: bool(expiry.script), read_earliest)
    assert len(attempts) == 2 and len(expiry.calls) == 1
    assert "command log expiry failed (TimeoutError('kafka down'))" in caplog.text
