"""A short live fuzz: generated and mutated messages on the three command topics, interleaved
with valid commands, through the real worker. It must stay up (one process, never a
restart, no failed batch), answer every valid command as the reference model says, and
answer every bad message with an error result or a dead letter.
"""

from __future__ import annotations

import os
import time

import pytest

from service.settings import Settings
from tests.chaos import fuzz, fuzz_run
from tests.infra.worker import WorkerProcess

pytestmark = pytest.mark.integration

# `make test` runs 1,200; BADGES_FUZZ_COUNT=10000 runs the long version (about a minute here).
COUNT = int(os.environ.get("BADGES_FUZZ_COUNT", "1200"))
SEED = int(os.environ.get("BADGES_FUZZ_SEED", "20261128"))


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """One partition per topic: the model's order is then the order of each topic."""
    return settings.model_copy(update={"topic_partitions": 1})


def _healthy(worker: WorkerProcess, pid: int) -> None:
    assert worker.process is not None and worker.process.pid == pid
    assert worker.process.poll() is None, f"worker exited:\n{worker.tail()}"
    # A failed batch is retried forever: with no outage, that is a message it cannot handle.
    failed = [line for line in worker.log().splitlines()
              if "retrying in" in line or "Traceback" in line]
    assert not failed, "the worker failed a batch:\n" + "\n".join(failed[:3])


async def test_worker_survives_and_answers_every_fuzzed_message(
    settings: Settings, worker: WorkerProcess
) -> None:
    assert worker.process is not None
    pid = worker.process.pid
    messages = fuzz.messages(COUNT, SEED, start_ms=int(time.time() * 1000))
    report = await fuzz_run.run(settings, messages, lambda: _healthy(worker, pid),
                                timeout=90 + COUNT / 20)
    _healthy(worker, pid)
    summary = report.summary()
    print(f"live fuzz: {summary}")
    assert min(report.kinds.values()) > 100, summary  # every kind well represented
    assert report.missing_answers == [], summary
    assert report.wrong_answers == [], summary
    assert report.unexpected_results == [], summary
    assert (report.missing_dead_letters, report.unexpected_dead_letters) == (0, 0), summary
    assert report.state_mismatches == [], summary
