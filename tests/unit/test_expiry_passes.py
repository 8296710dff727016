"""The worker's expiry loop: steps back to back while there is work, a pause otherwise."""

from __future__ import annotations

from typing import Any, cast

import pytest

from service.retention import HOUR
from service.runtime import expiry_passes
from service.settings import Settings
from service.store_retention import Step


class _Expiry:
    """Answers each step from a script: a Step, or an exception to raise."""

    def __init__(self, script: list[Step | Exception]) -> None:
        self.script = script
        self.calls: list[tuple[float, float]] = []

    async def step(self, now: float, retention_seconds: float) -> Step:
        self.calls.append((now, retention_seconds))
        answer = self.script.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


async def test_steps_follow_each_other_while_there_is_more_and_failures_wait(
    caplog: pytest.LogCaptureFixture
) -> None:
    settings = Settings(command_log_retention_hours=10, command_log_expiry_interval_seconds=7)
    expiry = _Expiry([Step(5, 0, more=True), Step(2, 1, more=True), Step(0, 0, more=False),
                      ConnectionError("db down"), Step(0, 0, more=False)])
    slept: list[float] = []
    now = iter(range(100, 200))

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    await expiry_passes(cast(Any, expiry), settings, lambda: float(next(now)), sleep,
                        lambda: bool(expiry.script))
    assert slept == [0, 0, 7, 7, 7]
    assert expiry.calls == [(float(t), 10 * HOUR) for t in range(100, 105)]
    assert [r.getMessage() for r in caplog.records if r.levelname == "WARNING"] == [
        "command log expiry failed (ConnectionError('db down')); trying again in 7s"]
