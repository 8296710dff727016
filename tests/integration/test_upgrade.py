"""Data written by the previous release stays readable: documents in its exact format.

The documents below are literals in the format the release before the insert-new-claims
change wrote (claims, groups, name reservations, log entries pending and done), not
documents made by today's code, so a format change that breaks old data fails here.
"""

from __future__ import annotations

import json
import uuid

import pytest
from bson import ObjectId
from pymongo.asynchronous.database import AsyncDatabase

from badges_sdk.client import BadgesClient

pytestmark = pytest.mark.integration

ORG = 4242
ACTOR = 5
AT = 1702963230.5


def _claim_doc(badge: str, reference: str, active: bool) -> dict[str, object]:
    return {"_id": f"{ORG}:{badge}:Loyalty:{reference}", "orgId": ORG,
            "badgeMetaId": ObjectId(badge), "ownerType": "Loyalty", "referenceId": reference,
            "createdBy": ACTOR, "createdOn": AT, "isActive": active, "lastUpdatedBy": ACTOR,
            "lastUpdatedOn": AT}


def _logged_claim(command_id: str, badge: str, reference: str) -> dict[str, object]:
    """A log entry of a successful ClaimBadge, as the previous release stored it."""
    result = json.dumps({
        "commandId": command_id, "type": "ClaimBadge", "orgId": ORG,
        "data": {"badgeMetaId": badge, "ownerType": "Loyalty", "referenceId": reference},
        "errors": [], "warnings": []})
    effect = {"kind": "SetClaim", "key": {"org_id": ORG, "badge_id": badge,
                                          "owner_type": "Loyalty", "reference_id": reference},
              "is_active": True, "actor_id": ACTOR, "at": AT}
    return {"_id": f"{ORG}:{command_id}", "result": result, "effects": [effect],
            "origin": {"topic": "badges.badge-claims.v1", "partition": 0, "offset": 7}}


async def test_documents_of_the_previous_release_are_read_and_changed(
    client: BadgesClient, db: AsyncDatabase[dict]
) -> None:
    old_claim, done_badge, pending_badge = (str(ObjectId()) for _ in range(3))
    done_command, pending_command = str(uuid.uuid4()), str(uuid.uuid4())
    group = ObjectId()
    await db["badge_claims"].insert_many([
        _claim_doc(old_claim, "r1", True), _claim_doc(done_badge, "r2", True)])
    await db["badge_groups"].insert_one({
        "_id": group, "orgId": ORG, "name": "Legacy", "rank": 3, "createdBy": ACTOR,
        "createdOn": AT, "lastUpdatedBy": ACTOR, "lastUpdatedOn": AT, "isActive": True})
    await db["group_names"].insert_one(
        {"_id": f"{ORG}:Legacy", "orgId": ORG, "name": "Legacy", "groupId": group})
    done_entry = _logged_claim(done_command, done_badge, "r2")
    pending_entry = _logged_claim(pending_command, pending_badge, "r3")
    await db["commands"].insert_many([done_entry, pending_entry])
    await db["commands_done"].insert_one({"_id": done_entry["_id"]})

    unclaimed = await client.result(await client.unclaim(ORG, ACTOR, old_claim, "Loyalty", "r1"))
    assert unclaimed.errors == [] and unclaimed.data == {
        "ownerType": "Loyalty", "referenceId": "r1", "isActive": False}

    renamed = await client.result(
        await client.update_group(ORG, ACTOR, str(group), "Legacy2", 1))
    assert renamed.errors == [] and renamed.data is not None
    assert (renamed.data["name"], renamed.data["createdOn"]) == ("Legacy2", AT)
    taken = await client.result(await client.create_group(ORG, ACTOR, "Legacy2", 2))
    assert [e.code for e in taken.errors] == [733]

    # A repeat of a logged command is answered from the log: done, nothing re-applied;
    # pending (the previous release crashed before applying it), applied now.
    for command_id, badge, reference in ((done_command, done_badge, "r2"),
                                          (pending_command, pending_badge, "r3")):
        await client.claim(ORG, ACTOR, badge, "Loyalty", reference, command_id=command_id)
        answer = await client.result(command_id)
        entry = done_entry if command_id == done_command else pending_entry
        assert answer.model_dump(mode="json") == json.loads(str(entry["result"]))

    claims = {d["_id"]: d async for d in db["badge_claims"].find({"orgId": ORG})}
    assert claims[f"{ORG}:{old_claim}:Loyalty:r1"]["isActive"] is False
    assert claims[f"{ORG}:{done_badge}:Loyalty:r2"] == _claim_doc(done_badge, "r2", True)
    replayed = claims[f"{ORG}:{pending_badge}:Loyalty:r3"]
    # Replayed with the fence of the position the old entry was logged from.
    assert replayed.pop("fence") == {"p": 0, "o": 7}
    assert replayed == _claim_doc(pending_badge, "r3", True)
    assert await db["commands_done"].find_one({"_id": pending_entry["_id"]}) is not None
    assert await db["group_names"].find_one({"_id": f"{ORG}:Legacy"}) is None
