"""A MongoDB outage blocks the stream and retries; nothing is skipped or lost."""

from __future__ import annotations

import time

import pytest
from bson import ObjectId

from service.client import BadgesClient
from tests.infra.containers import Servers, wait_for_mongo
from tests.infra.worker import WorkerProcess

pytestmark = pytest.mark.integration


def wait_for_log(worker: WorkerProcess, text: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while text not in worker.log():
        assert time.monotonic() < deadline, f"no {text!r} in the worker log:\n{worker.tail()}"
        time.sleep(0.2)  # polling a log file; the deadline bounds the wait


async def test_commands_sent_during_a_mongo_outage_are_applied_after_it(
    stack: Servers, worker: WorkerProcess, client: BadgesClient
) -> None:
    if stack.mongo_container is None:
        pytest.fail("the outage test needs the MongoDB container (BADGES_TEST_MONGO_URL is set)")
    badge = str(ObjectId())
    assert (await client.result(await client.claim(1, 1, badge, "Loyalty", "before"))).ok
    mongo = stack.mongo_container.get_wrapped_container()
    mongo.stop(timeout=10)
    try:
        during = [await client.claim(1, 1, badge, "Loyalty", f"during-{i}") for i in range(5)]
        wait_for_log(worker, "retrying in")
    finally:
        mongo.start()
        wait_for_mongo(stack.mongo_url)
    for command_id in during:
        result = await client.result(command_id, timeout=120)
        assert result.ok and result.warnings == []
    again = await client.result(await client.claim(1, 1, badge, "Loyalty", "during-0"))
    assert [w.code for w in again.warnings] == [9100]  # applied once, and kept
