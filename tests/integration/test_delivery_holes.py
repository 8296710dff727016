"""Nothing is skipped: a command that never reaches the agent is read again, and no
offset is committed past it (the small chaos run once lost `update-badge-group/10@1` that
way). The worker's test-only switch `drop_deliveries` drops a message's first delivery
between the fetch and the agent; on a worker that trusted faust's commits the command was
never answered while the one after it was, and the group's offset passed it."""

from __future__ import annotations

import asyncio
import time

import pytest
from bson import ObjectId
from pymongo.asynchronous.database import AsyncDatabase

from badges_schemas import CommandType, Topics
from badges_sdk.client import BadgesClient
from badges_sdk.kafka import admin_client
from service.settings import Settings
from tests.infra.worker import WorkerProcess

pytestmark = pytest.mark.integration

ORG, ACTOR = 4242, 7
# One partition: the commands' offsets are their order. Offset 1 is a hole with commands
# after it; offset 3 is the tail, with nothing after it to reveal it.
DROPPED = "0:1,0:3"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"topic_partitions": 1, "drop_deliveries": DROPPED})


async def committed(settings: Settings, topic: str) -> int | None:
    async with admin_client(settings) as admin:
        offsets = await admin.list_consumer_group_offsets(settings.app_id)
    return next((meta.offset for tp, meta in offsets.items() if tp.topic == topic), None)


async def wait_committed(settings: Settings, topic: str, offset: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while (found := await committed(settings, topic)) != offset:
        assert found is None or found < offset, f"committed {found}, past {offset}"
        assert time.monotonic() < deadline, f"committed {found}, not {offset}, in {timeout}s"
        await asyncio.sleep(0.5)  # polling the broker; the deadline bounds it


async def test_a_dropped_delivery_is_read_again_and_never_committed_past(
    settings: Settings, worker: WorkerProcess, client: BadgesClient, db: AsyncDatabase[dict]
) -> None:
    badges = [str(ObjectId()) for _ in range(4)]
    topic = Topics(settings.topic_prefix).command(CommandType.CLAIM_BADGE)
    first = [await client.claim(ORG, ACTOR, badge, "Loyalty", "r") for badge in badges[:3]]
    answers = await client.results_of(first, timeout=60)
    assert [answers[c].errors for c in first] == [[], [], []]
    worker.wait_for("expected offset 1, got up to 2 (hole); reading again from 1", 5)
    await wait_committed(settings, topic, 3, timeout=30)

    # The last command dropped: no later message shows the hole; the stall check does.
    last = await client.claim(ORG, ACTOR, badges[3], "Loyalty", "r")
    assert (await client.result(last, timeout=60)).errors == []
    worker.wait_for("expected offset 3, got up to 3 (stalled); reading again from 3", 5)
    await wait_committed(settings, topic, 4, timeout=30)

    active = await db["badge_claims"].count_documents(
        {"badgeMetaId": {"$in": [ObjectId(b) for b in badges]}, "isActive": True})
    assert active == 4
    assert worker.log().count("dropped a delivery (test switch)") == 2
