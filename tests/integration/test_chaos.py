"""The small chaos run: 1,500 commands through two workers while one is killed, the broker
restarts, MongoDB is down for 10 s and a worker is frozen past its session (tests/chaos)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.chaos.__main__ import FAILURES, settings_for, show
from tests.chaos.run import SEEDED, SEEDED_BUGS, SMALL, run
from tests.infra.containers import Servers

pytestmark = pytest.mark.integration


@pytest.mark.timeout(600)  # about 3 minutes; the run's own waits are bounded within this
async def test_a_small_chaos_run_loses_nothing_and_applies_everything_once(
    stack: Servers, tmp_path: Path
) -> None:
    settings = settings_for(stack.kafka_bootstrap, stack.mongo_url)
    report = await run(SMALL, settings, stack, tmp_path)
    print(show(report))
    assert {k: report[k] for k in FAILURES} == dict.fromkeys(FAILURES, 0), \
        json.dumps(report, indent=2)
    # The plan's commands, the one for the zombie's held claim, and any made to get a
    # claim written (or a copy left by a send the producer retried).
    assert report["answered"] == report["commands"] >= SMALL.count + 1
    assert report["fenced_writes"] >= 1
    assert (report["worker_kills"], report["broker_restarts"], report["zombie_pauses"]) == \
        (1, 1, 1)


@pytest.mark.timeout(600)  # about a minute each
@pytest.mark.parametrize("bug", sorted(SEEDED_BUGS))
async def test_a_worker_with_a_seeded_bug_is_reported(
    stack: Servers, tmp_path: Path, bug: str
) -> None:
    settings = settings_for(stack.kafka_bootstrap, stack.mongo_url).model_copy(
        update={"seeded_bug": bug})
    report = await run(SEEDED, settings, stack, tmp_path)
    print(show(report))
    assert report["lost"] == 0 and report["answered"] == SEEDED.count
    assert any(report[k] for k in SEEDED_BUGS[bug]), json.dumps(report, indent=2)
