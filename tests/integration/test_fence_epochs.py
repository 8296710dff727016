"""Fence epochs on the real broker: a recreated topic, a consumer group's offsets reset
lower, and a partition count change.

In each, no stale write lands, no newer write is refused, and no answer says success for
a write that did not happen. The worker is stopped while the topic or the group's offsets
change (as an operator would), and the group's committed offsets decide which commands it
reads when: so the order that exposes each hazard is set, not hoped for.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from contextlib import contextmanager
from itertools import count
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewPartitions, NewTopic
from aiokafka.errors import KafkaError
from aiokafka.partitioner import murmur2
from bson import ObjectId
from pymongo.asynchronous.database import AsyncDatabase

from badges_schemas import CommandType, ResultEvent, Topics
from badges_sdk.client import BadgesClient
from badges_sdk.kafka import connection_options
from service.domain.model import ClaimKey, SetClaim
from service.settings import Settings
from service.store.docs import Fence, claim_id
from service.store.mongo import Store
from tests.infra.worker import WorkerProcess

pytestmark = pytest.mark.integration

ORG, ACTOR, REF = 53, 5, "r"
WAIT = 60.0
SUPERSEDED = 9007
_runs = count()


@pytest.fixture
def one(settings: Settings, mongo_db: AsyncDatabase[dict]) -> Settings:
    return settings.model_copy(update={"topic_partitions": 1,
                                       "mongo_database": mongo_db.name})


@contextmanager
def running(settings: Settings, tmp_path: Path) -> Iterator[WorkerProcess]:
    worker = WorkerProcess(settings, tmp_path / f"worker-{next(_runs)}.log").start()
    try:
        yield worker
    finally:
        worker.stop()


async def _admin(settings: Settings) -> AIOKafkaAdminClient:
    admin = AIOKafkaAdminClient(**connection_options(settings))
    await asyncio.wait_for(admin.start(), WAIT)
    return admin


async def _until(attempt: object, what: str) -> None:
    """Call `attempt` (a coroutine function) until it returns without a Kafka error."""
    deadline = time.monotonic() + WAIT
    while True:
        try:
            await asyncio.wait_for(attempt(), WAIT)  # type: ignore[operator]
            return
        except KafkaError as exc:
            assert time.monotonic() < deadline, f"{what}: {exc!r}"
            await asyncio.sleep(0.5)  # the broker is still deleting, or the group settling


async def recreate(settings: Settings, topics: list[str]) -> None:
    admin = await _admin(settings)
    try:
        await asyncio.wait_for(admin.delete_topics(topics), WAIT)
        new = [NewTopic(t, settings.topic_partitions, 1) for t in topics]
        await _until(lambda: admin.create_topics(new), "recreating the topics")
    finally:
        await admin.close()


async def add_partitions(settings: Settings, topic: str, total: int) -> None:
    admin = await _admin(settings)
    try:
        await asyncio.wait_for(admin.create_partitions({topic: NewPartitions(total)}), WAIT)
    finally:
        await admin.close()


async def commit(settings: Settings, topic: str, offsets: dict[int, int]) -> None:
    """Set the worker group's committed offsets, as `kafka-consumer-groups --reset-offsets`
    does (the group must be empty: its worker stopped)."""
    consumer = AIOKafkaConsumer(**connection_options(settings), group_id=settings.app_id,
                                enable_auto_commit=False)
    await asyncio.wait_for(consumer.start(), WAIT)
    try:
        tps = {TopicPartition(topic, p): o for p, o in offsets.items()}
        consumer.assign(list(tps))
        await _until(lambda: consumer.commit(tps), "committing offsets")
    finally:
        await asyncio.wait_for(consumer.stop(), WAIT)


async def claim_doc(db: AsyncDatabase[dict], badge: str) -> dict:
    doc = await db["badge_claims"].find_one(
        {"_id": claim_id(ClaimKey(ORG, badge, "Loyalty", REF))})  # type: ignore[arg-type]
    assert doc is not None
    return doc


async def ok(client: BadgesClient, command_id: str) -> ResultEvent:
    result = await client.result(command_id, WAIT)
    assert result.ok, result
    return result


def codes(result: ResultEvent) -> list[int]:
    return [e.code for e in result.errors or []]


async def test_after_a_topic_is_recreated_its_commands_land_and_older_ones_do_not(
    one: Settings, tmp_path: Path, mongo_db: AsyncDatabase[dict]
) -> None:
    topics = Topics(one.topic_prefix)
    claims = topics.command(CommandType.CLAIM_BADGE)
    updates = topics.command(CommandType.UPDATE_BADGE_GROUP)
    badge = str(ObjectId())
    async with BadgesClient(one) as client:
        with running(one, tmp_path):
            created = await ok(client, await client.create_group(ORG, ACTOR, "A", 1))
            group = created.data["id"]  # type: ignore[index]
            for name in ("B", "C"):  # the update topic's offsets 0 and 1
                await ok(client, await client.update_group(ORG, ACTOR, group, name, 1))
            for send in (client.claim, client.unclaim, client.claim):  # claims 0 to 2
                await ok(client, await send(ORG, ACTOR, badge, "Loyalty", REF))
        await recreate(one, [claims, updates])
        with running(one, tmp_path):  # the new topics' offsets start at 0 again
            unclaim = await client.result(
                await client.unclaim(ORG, ACTOR, badge, "Loyalty", REF), WAIT)
            rename = await client.result(
                await client.update_group(ORG, ACTOR, group, "D", 2), WAIT)
    stored = await mongo_db["badge_groups"].find_one({"_id": ObjectId(group)})
    names = {d["name"]: str(d["groupId"]) async for d in mongo_db["group_names"].find()}
    # Each answer says what happened: the newer writes were not refused.
    assert unclaim.ok and (await claim_doc(mongo_db, badge))["isActive"] is False
    assert rename.ok and stored is not None and stored["name"] == "D" and names == {"D": group}
    # A worker stalled since before the recreation wakes with its claim at claims offset 2:
    # older than anything of the new topic, it does not land.
    zombie = Store(mongo_db)
    key = ClaimKey(ORG, badge, "Loyalty", REF)  # type: ignore[arg-type]
    await zombie.apply([(SetClaim(key, True, ACTOR, time.time()), Fence(0, 2))],
                       frozenset({key}))
    assert zombie.fenced_writes == 1 and (await claim_doc(mongo_db, badge))["isActive"] is False


async def test_commands_read_again_after_an_offset_reset_are_not_answered_as_applied(
    one: Settings, tmp_path: Path, mongo_db: AsyncDatabase[dict]
) -> None:
    claims = Topics(one.topic_prefix).command(CommandType.CLAIM_BADGE)
    badge = str(ObjectId())
    async with BadgesClient(one) as client:
        with running(one, tmp_path):
            await ok(client, await client.claim(ORG, ACTOR, badge, "Loyalty", REF))  # 0
        unclaim1 = await client.unclaim(ORG, ACTOR, badge, "Loyalty", REF)  # offset 1
        claim2 = await client.claim(ORG, ACTOR, badge, "Loyalty", REF)  # offset 2
        unclaim3 = await client.unclaim(ORG, ACTOR, badge, "Loyalty", REF)  # offset 3
        await commit(one, claims, {0: 3})  # reset to a later offset: 1 and 2 are skipped
        with running(one, tmp_path):
            await ok(client, unclaim3)
        await commit(one, claims, {0: 1})  # and reset lower: 1 and 2 are read now
        with running(one, tmp_path):
            older = [await client.result(c, WAIT) for c in (unclaim1, claim2)]
            after_reset = (await claim_doc(mongo_db, badge))["isActive"]
            await ok(client, await client.claim(ORG, ACTOR, badge, "Loyalty", REF))
    # The stale claim did not land, and its answer does not say it did.
    assert after_reset is False
    assert [r.ok for r in older] == [False, False], older
    assert codes(older[1]) == [SUPERSEDED]
    assert (await claim_doc(mongo_db, badge))["isActive"] is True  # a newer one lands


def _badge_in_partition(partition: int, partitions: int) -> str:
    """A badge whose commands go to `partition` of `partitions` (the key is the badge)."""
    while True:
        badge = str(ObjectId())
        if (murmur2(badge.encode()) & 0x7FFFFFFF) % partitions == partition:
            return badge


async def test_after_a_partition_count_change_the_old_partitions_backlog_does_not_land(
    one: Settings, tmp_path: Path, mongo_db: AsyncDatabase[dict]
) -> None:
    claims = Topics(one.topic_prefix).command(CommandType.CLAIM_BADGE)
    badge = _badge_in_partition(1, 2)
    async with BadgesClient(one) as client:
        with running(one, tmp_path):
            for send in (client.claim, client.unclaim):  # 0@0, 0@1
                await ok(client, await send(ORG, ACTOR, badge, "Loyalty", REF))
        claim = await client.claim(ORG, ACTOR, badge, "Loyalty", REF)  # 0@2
        await commit(one, claims, {0: 3})  # the old partition's backlog waits
        await add_partitions(one, claims, 2)
        async with BadgesClient(one) as fresh:  # metadata with both partitions
            with running(one, tmp_path):
                for send in (fresh.claim, fresh.unclaim):  # 1@0, 1@1
                    await ok(fresh, await send(ORG, ACTOR, badge, "Loyalty", REF))
        newer = await claim_doc(mongo_db, badge)
        await commit(one, claims, {0: 2})  # the backlog is read after the newer commands
        with running(one, tmp_path):
            backlog = await client.result(claim, WAIT)
    assert newer["fence"]["p"] == 1 and newer["isActive"] is False
    # The older claim from the old partition neither lands nor says it did.
    assert (await claim_doc(mongo_db, badge))["isActive"] is False
    assert not backlog.ok and codes(backlog) == [SUPERSEDED], backlog
