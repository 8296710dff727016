"""Each command end to end: raw JSON in, result event out, documents in MongoDB."""

from __future__ import annotations

import json
import random
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from bson import ObjectId
from pymongo.asynchronous.database import AsyncDatabase

from badges_schemas import CommandType
from badges_sdk.client import BadgesClient
from badges_sdk.kafka import partitions
from service.settings import Settings

pytestmark = pytest.mark.integration

ORG = 50156
ACTOR = 123


def badge_id() -> str:
    return str(ObjectId())


async def send_raw(client: BadgesClient, command_type: CommandType, payload: dict[str, Any],
                   org_id: int = ORG, key: str | None = None, **envelope: Any) -> str:
    """Publish JSON bytes the way an upstream module in any language would."""
    command_id = str(uuid.uuid4())
    body = {"commandId": command_id, "type": str(command_type), "orgId": org_id,
            "actorId": ACTOR, "payload": payload, **envelope}
    key = key or payload.get("badgeId") or payload.get("groupId") or f"{org_id}:{payload['name']}"
    await client.send_raw(client.topics.command(command_type), json.dumps(body).encode(),
                          str(key).encode())
    return command_id


async def test_claim_creates_the_claim(client: BadgesClient, db: AsyncDatabase[dict]) -> None:
    badge = badge_id()
    payload = {"badgeId": badge, "ownerType": "Loyalty", "referenceId": "123"}
    result = await client.result(await send_raw(client, CommandType.CLAIM_BADGE, payload),
                                 org_id=ORG)
    assert result.errors == [] and result.warnings == []
    assert result.data == {"badgeMetaId": badge, "ownerType": "Loyalty", "referenceId": "123"}
    assert (result.type, result.orgId) == ("ClaimBadge", ORG)
    claims = await db["badge_claims"].find({"badgeMetaId": ObjectId(badge)}).to_list()
    assert [(c["orgId"], c["ownerType"], c["referenceId"], c["isActive"]) for c in claims] == [
        (ORG, "Loyalty", "123", True)]


async def test_claiming_an_active_claim_warns(client: BadgesClient) -> None:
    badge = badge_id()
    first = await client.claim(ORG, ACTOR, badge, "Loyalty", "123")
    again = await client.claim(ORG, ACTOR, badge, "Loyalty", "123")
    assert (await client.result(first)).warnings == []
    second = await client.result(again)
    assert second.errors == [] and [w.code for w in second.warnings] == [9100]


async def test_furry_friend_badge_unclaim_touches_only_that_owner(
    client: BadgesClient, db: AsyncDatabase[dict]
) -> None:
    badge = badge_id()
    for owner, ref in (("Loyalty", "ABC"), ("Milestones", "m-1")):
        assert (await client.result(await client.claim(ORG, ACTOR, badge, owner, ref))).ok
    unclaimed = await client.result(await client.unclaim(ORG, ACTOR, badge, "Loyalty", "ABC"))
    assert unclaimed.data == {"ownerType": "Loyalty", "referenceId": "ABC", "isActive": False}
    assert unclaimed.errors == []
    claims = await db["badge_claims"].find({"badgeMetaId": ObjectId(badge)}).to_list()
    assert sorted((c["ownerType"], c["isActive"]) for c in claims) == [
        ("Loyalty", False), ("Milestones", True)]
    again = await client.result(await client.unclaim(ORG, ACTOR, badge, "Loyalty", "ABC"))
    assert [e.code for e in again.errors] == [737] and again.data is None


async def test_unclaim_loyalty_123_example(client: BadgesClient, db: AsyncDatabase[dict]) -> None:
    badge = badge_id()
    await client.result(await client.claim(ORG, ACTOR, badge, "Loyalty", "123"))
    payload = {"badgeId": badge, "ownerType": "Loyalty", "referenceId": "123"}
    result = await client.result(await send_raw(client, CommandType.UNCLAIM_BADGE, payload),
                                 org_id=ORG)
    assert result.model_dump(include={"data", "errors", "warnings"}) == {
        "data": {"ownerType": "Loyalty", "referenceId": "123", "isActive": False},
        "errors": [], "warnings": []}
    stored = await db["badge_claims"].find_one({"badgeMetaId": ObjectId(badge)})
    assert stored is not None and stored["isActive"] is False


async def test_create_and_update_group_example(client: BadgesClient, db: AsyncDatabase[dict]
                                               ) -> None:
    created = await client.result(await client.create_group(ORG, ACTOR, "GROUP_RANK_2", 2))
    assert created.errors == []
    group = created.data
    assert group is not None
    assert (group["orgId"], group["name"], group["rank"], group["createdBy"],
            group["lastUpdatedBy"], group["isActive"]) == (ORG, "GROUP_RANK_2", 2, ACTOR, ACTOR,
                                                           True)
    assert group["createdOn"] == group["lastUpdatedOn"]
    update_id = await send_raw(client, CommandType.UPDATE_BADGE_GROUP,
                               {"groupId": group["id"], "name": "GROUP_RANK_58", "rank": 1},
                               actorId=456)
    updated = await client.result(update_id, org_id=ORG)
    assert updated.errors == [] and updated.data is not None
    assert (updated.data["name"], updated.data["rank"], updated.data["lastUpdatedBy"]) == (
        "GROUP_RANK_58", 1, 456)
    assert (updated.data["createdBy"], updated.data["createdOn"]) == (ACTOR, group["createdOn"])
    stored = await db["badge_groups"].find_one({"_id": ObjectId(group["id"])})
    assert stored is not None
    assert (stored["name"], stored["rank"], stored["isActive"]) == ("GROUP_RANK_58", 1, True)


async def test_group_name_rules(client: BadgesClient) -> None:
    org = random.randint(10**6, 10**7)
    gold = await client.result(await client.create_group(org, ACTOR, "Gold", 1))
    silver = await client.result(await client.create_group(org, ACTOR, "Silver", 2))
    lower = await client.result(await client.create_group(org, ACTOR, "gold", 3))
    assert gold.ok and silver.ok and lower.ok  # names are case-sensitive
    dup = await client.result(await client.create_group(org, ACTOR, "Gold", 4))
    assert [e.code for e in dup.errors] == [733]
    assert gold.data is not None and silver.data is not None
    steal = await client.update_group(org, ACTOR, silver.data["id"], "Gold", 2)
    assert [e.code for e in (await client.result(steal)).errors] == [733]
    same = await client.update_group(org, ACTOR, gold.data["id"], "Gold", 9)
    assert (await client.result(same)).ok  # renaming to its own name is fine
    rename = await client.update_group(org, ACTOR, gold.data["id"], "Platinum", 1)
    assert (await client.result(rename)).ok
    freed = await client.update_group(org, ACTOR, silver.data["id"], "Gold", 2)
    assert (await client.result(freed)).ok  # the old name is free again
    other_org = await client.create_group(org + 1, ACTOR, "Gold", 1)
    assert (await client.result(other_org)).ok  # names are unique per org only


@pytest.mark.parametrize(("command_type", "payload", "code"), [
    (CommandType.CREATE_BADGE_GROUP, {"name": "NoRank"}, 732),
    (CommandType.UPDATE_BADGE_GROUP, {"groupId": "6581281e8f68666070de15c5", "name": "x"}, 732),
    (CommandType.CLAIM_BADGE, {"badgeId": "6581281e8f68666070de15c5", "ownerType": "Loyalty"},
     717),
    (CommandType.UNCLAIM_BADGE, {"badgeId": "6581281e8f68666070de15c5", "ownerType": "loyalty",
                                 "referenceId": "1"}, 400),
    (CommandType.UPDATE_BADGE_GROUP, {"groupId": "6581281e8f68666070de15c5", "name": "x",
                                      "rank": 1}, 9004),
    (CommandType.CLAIM_BADGE, {"badgeId": "xyz", "ownerType": "Loyalty", "referenceId": "1"},
     9002),
])
async def test_error_codes(client: BadgesClient, command_type: CommandType,
                           payload: dict[str, Any], code: int) -> None:
    result = await client.result(await send_raw(client, command_type, payload, key="k"),
                                 org_id=ORG)
    assert [e.code for e in result.errors] == [code] and result.data is None


async def test_orgs_cannot_see_each_others_data(client: BadgesClient, db: AsyncDatabase[dict]
                                                ) -> None:
    badge = badge_id()
    assert (await client.result(await client.claim(1, ACTOR, badge, "Loyalty", "1"))).ok
    other = await client.result(await client.unclaim(2, ACTOR, badge, "Loyalty", "1"))
    assert [e.code for e in other.errors] == [737]
    group = await client.result(await client.create_group(1, ACTOR, "Mine", 1))
    assert group.data is not None
    hijack = await client.result(await client.update_group(2, ACTOR, group.data["id"], "X", 1))
    assert [e.code for e in hijack.errors] == [9004]
    stored = await db["badge_groups"].find_one({"_id": ObjectId(group.data["id"])})
    assert stored is not None and stored["name"] == "Mine" and stored["orgId"] == 1
    claim = await db["badge_claims"].find_one({"badgeMetaId": ObjectId(badge)})
    assert claim is not None and claim["isActive"] is True


async def test_worker_creates_its_topics_with_the_configured_partitions(
    settings: Settings, client: BadgesClient
) -> None:
    names = {*client.topics.commands.values(), client.topics.results, client.topics.dead_letters}
    assert len(names) == 5
    for name in names:
        assert await partitions(settings, name) == list(range(settings.topic_partitions))


async def test_timestamps_come_from_the_command_not_the_clock(
    client: BadgesClient, db: AsyncDatabase[dict]
) -> None:
    issued = datetime(2026, 1, 21, 8, 34, 50, 250000, tzinfo=UTC)
    command_id = await client.create_group(ORG, ACTOR, f"T{uuid.uuid4().hex}", 1,
                                           issued_at=issued)
    group = (await client.result(command_id)).data
    assert group is not None
    assert group["createdOn"] == group["lastUpdatedOn"] == 1768984490.25
    assert group["createdOnISO"] == "2026-01-21T08:34:50Z"
    stored = await db["badge_groups"].find_one({"_id": ObjectId(group["id"])})
    assert stored is not None and stored["createdOn"] == 1768984490.25
