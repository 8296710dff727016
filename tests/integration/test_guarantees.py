"""The processing guarantees: order, exactly-once effect, bad input, name races."""

from __future__ import annotations

import asyncio
import json
import random
import uuid
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer
from bson import ObjectId
from pymongo.asynchronous.database import AsyncDatabase

from badges_schemas import CommandType, DeadLetter, ResultEvent
from badges_sdk.client import BadgesClient
from badges_sdk.kafka import connection_options
from service.settings import Settings
from tests.infra.worker import WorkerProcess

pytestmark = pytest.mark.integration

ORG = 777
ACTOR = 9


def envelope(result: ResultEvent) -> dict[str, object]:
    return result.model_dump(include={"data", "errors", "warnings"})


async def test_alternating_commands_for_one_claim_apply_in_order(
    client: BadgesClient, db: AsyncDatabase[dict]
) -> None:
    badge = str(ObjectId())
    sent = []
    for i in range(200):
        act = client.claim if i % 2 == 0 else client.unclaim
        sent.append(await act(ORG, ACTOR, badge, "Loyalty", "123"))
    # Applied one by one, every claim finds the claim inactive and every unclaim finds it
    # active: any reordering shows up as a 737 error or an "already active" warning.
    for i, command_id in enumerate(sent):
        result = await client.result(command_id, timeout=60)
        assert (result.type, result.errors, result.warnings) == (
            "ClaimBadge" if i % 2 == 0 else "UnclaimBadge", [], []), f"command {i}"
    stored = await db["badge_claims"].find({"badgeMetaId": ObjectId(badge)}).to_list()
    assert [(c["isActive"], c["lastUpdatedOn"]) for c in stored] == [
        (False, stored[0]["lastUpdatedOn"])]


async def test_a_command_published_twice_has_one_effect_and_one_answer(
    client: BadgesClient, db: AsyncDatabase[dict]
) -> None:
    badge, command_id = str(ObjectId()), str(uuid.uuid4())
    await client.claim(ORG, ACTOR, badge, "Loyalty", "1", command_id=command_id)
    first = await client.result(command_id)
    await client.result(await client.unclaim(ORG, ACTOR, badge, "Loyalty", "1"))
    # The same claim again, after the unclaim: answered as before, and not re-applied.
    await client.claim(ORG, ACTOR, badge, "Loyalty", "1", command_id=command_id)
    first_again, second = await client.results(command_id, count=2)
    assert first_again == first
    assert envelope(second) == envelope(first) and second.warnings == []
    claim = await db["badge_claims"].find_one({"badgeMetaId": ObjectId(badge)})
    assert claim is not None and claim["isActive"] is False

    group_command = str(uuid.uuid4())
    for _ in range(2):
        await client.create_group(ORG, ACTOR, "Twice", 1, command_id=group_command)
    created, repeated = await client.results(group_command, count=2)
    assert created.ok and envelope(repeated) == envelope(created)
    assert await db["badge_groups"].count_documents({"orgId": ORG, "name": "Twice"}) == 1


async def test_worker_killed_with_commands_in_flight(
    settings: Settings, worker: WorkerProcess, client: BadgesClient, db: AsyncDatabase[dict]
) -> None:
    badges = [str(ObjectId()) for _ in range(60)]
    plan: list[str] = []
    for badge in badges:  # claim, unclaim, claim: each badge must end active, no warnings
        plan.append(await client.claim(ORG, ACTOR, badge, "Journeys", "j"))
        plan.append(await client.unclaim(ORG, ACTOR, badge, "Journeys", "j"))
        plan.append(await client.claim(ORG, ACTOR, badge, "Journeys", "j"))
    groups = [await client.create_group(ORG, ACTOR, f"crash-{i}", i) for i in range(30)]
    await client.result(plan[10], timeout=60)
    worker.kill()  # mid-stream: results sent, offsets not all committed
    worker.start()
    for command_id in plan + groups:
        results = await client.results(command_id, timeout=120)
        assert results[0].errors == [] and results[0].warnings == [], results[0]
    # Give redelivered duplicates of the last commands time to arrive, then compare them all.
    await client.result(await client.claim(ORG, ACTOR, str(ObjectId()), "Journeys", "end"))
    redelivered = 0
    for command_id in plan + groups:
        results = await client.results(command_id)
        assert all(envelope(r) == envelope(results[0]) for r in results), results
        redelivered += len(results) > 1
    # Proof that the kill landed between sending results and committing offsets.
    assert redelivered > 0
    active = await db["badge_claims"].count_documents(
        {"badgeMetaId": {"$in": [ObjectId(b) for b in badges]}, "isActive": True})
    assert active == len(badges)
    assert await db["badge_claims"].count_documents(
        {"badgeMetaId": {"$in": [ObjectId(b) for b in badges]}}) == len(badges)
    for i in range(30):
        assert await db["badge_groups"].count_documents({"orgId": ORG, "name": f"crash-{i}"}) == 1


async def _dead_letters(settings: Settings, count: int) -> list[DeadLetter]:
    consumer = AIOKafkaConsumer(
        f"{settings.topic_prefix}.dead-letter.v1", **connection_options(settings),
        auto_offset_reset="earliest", group_id=None,
    )
    await asyncio.wait_for(consumer.start(), 30)
    letters: list[DeadLetter] = []
    try:
        async def read() -> None:
            async for record in consumer:
                letters.append(DeadLetter.model_validate_json(record.value))
                if len(letters) == count:
                    return
        await asyncio.wait_for(read(), 60)
    finally:
        await consumer.stop()
    return letters


async def test_bad_input_never_stops_the_stream(settings: Settings, client: BadgesClient) -> None:
    topic = client.topics.command(CommandType.CLAIM_BADGE)
    badge = str(ObjectId())
    huge_id = str(uuid.uuid4())
    huge = {"commandId": huge_id, "type": "ClaimBadge", "orgId": ORG, "actorId": ACTOR,
            "payload": {"badgeId": badge, "ownerType": "Loyalty", "referenceId": "x" * 1_000_000}}
    unknown_id = str(uuid.uuid4())
    unknown = {"commandId": unknown_id, "type": "ExplodeBadge", "orgId": ORG, "actorId": ACTOR,
               "payload": {}}
    poison = [b"\xff\xfe not json at all", json.dumps({"type": "ClaimBadge"}).encode(),
              json.dumps(unknown).encode(), json.dumps(huge).encode()]
    valid = []
    for i, bad in enumerate(poison):
        valid.append(await client.claim(ORG, ACTOR, badge, "Rewards_Catalog", f"r{i}"))
        await client.send_raw(topic, bad, badge.encode())
    valid.append(await client.claim(ORG, ACTOR, badge, "Rewards_Catalog", "last"))
    for command_id in valid:
        assert (await client.result(command_id)).ok
    assert [e.code for e in (await client.result(unknown_id, org_id=ORG)).errors] == [9001]
    assert [e.code for e in (await client.result(huge_id, org_id=ORG)).errors] == [9005]
    letters = await _dead_letters(settings, 2)
    assert [letter.topic for letter in letters] == [topic, topic]
    assert "not JSON" in letters[0].reason and "commandId" in letters[1].reason
    assert letters[0].offset < letters[1].offset and letters[0].valueSize == len(poison[0])


async def test_two_groups_renamed_to_one_name_concurrently(
    settings: Settings, worker: WorkerProcess, client: BadgesClient, tmp_path: Path,
    db: AsyncDatabase[dict],
) -> None:
    # A second worker shares the partitions, so the renames run in two processes at once.
    second = WorkerProcess(settings, tmp_path / "second.log").start()
    try:
        org = random.randint(10**6, 10**7)
        pairs = []
        for i in range(12):
            a = await client.result(await client.create_group(org, ACTOR, f"a{i}", 1))
            b = await client.result(await client.create_group(org, ACTOR, f"b{i}", 2))
            assert a.data is not None and b.data is not None
            pairs.append((a.data["id"], b.data["id"]))
        renames = []
        for i, (a_id, b_id) in enumerate(pairs):
            renames.append((await client.update_group(org, ACTOR, a_id, f"same{i}", 1),
                            await client.update_group(org, ACTOR, b_id, f"same{i}", 2)))
        for i, (first, other) in enumerate(renames):
            outcomes = [await client.result(first, 60), await client.result(other, 60)]
            codes = sorted(e.code for r in outcomes for e in r.errors)
            assert codes == [733], f"pair {i}: {outcomes}"
            winner = next(r for r in outcomes if r.ok)
            assert winner.data is not None
            holders = await db["badge_groups"].find({"orgId": org, "name": f"same{i}"}).to_list()
            assert [str(h["_id"]) for h in holders] == [winner.data["id"]]
    finally:
        second.stop()
