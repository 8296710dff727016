"""Batches through the handler and a real store, with done-markers still in flight.

The worker stores batch N+1 while batch N's done-markers are being written. A repeat of a
batch-N command in batch N+1 must then count as done (answered from the log, not applied
again), or a later command on the same claim would be undone.
"""

from __future__ import annotations

import json
import time
import uuid

import pytest
from bson import ObjectId
from pymongo.asynchronous.database import AsyncDatabase

from badges_schemas import parse
from service.store.mongo import Store
from service.worker.handler import Incoming, Origin, store_batch

pytestmark = pytest.mark.integration

ORG = 31


def _claim(kind: str, badge: str, command_id: str, offset: int) -> Incoming:
    raw = json.dumps({"commandId": command_id, "type": kind, "orgId": ORG, "actorId": 1,
                      "payload": {"badgeId": badge, "ownerType": "Loyalty",
                                  "referenceId": "r"}}).encode()
    return Incoming(parse(raw), badge.encode(), raw, Origin("claims", 0, offset, time.time()))


async def test_a_repeat_in_the_next_batch_is_not_reapplied_before_its_marker_is_stored(
    mongo_db: AsyncDatabase[dict]
) -> None:
    store = Store(mongo_db)
    badge, claim_id = str(ObjectId()), str(uuid.uuid4())
    first = await store_batch([_claim("ClaimBadge", badge, claim_id, 0)], store)
    # Batch N+1 before batch N's marker is written: an unclaim, then the claim again.
    second = await store_batch([_claim("UnclaimBadge", badge, str(uuid.uuid4()), 1),
                                _claim("ClaimBadge", badge, claim_id, 2)], store)
    assert second.out[1].value == first.out[0].value  # the logged answer, byte for byte
    assert second.done == [second.done[0]]  # only the unclaim is new; the repeat is done
    claim = await mongo_db["badge_claims"].find_one({"badgeMetaId": ObjectId(badge)})
    assert claim is not None and claim["isActive"] is False

    await store.mark_done(first.done + second.done)
    markers = await mongo_db["commands_done"].count_documents({})
    assert markers == 2


def _group(kind: str, topic: str, payload: dict[str, object], command_id: str,
           offset: int) -> Incoming:
    raw = json.dumps({"commandId": command_id, "type": kind, "orgId": ORG, "actorId": 1,
                      "issuedAt": "2026-12-06T07:00:00Z", "payload": payload}).encode()
    return Incoming(parse(raw), None, raw, Origin(topic, 0, offset, time.time()))


async def test_a_creation_replayed_beside_an_update_of_its_group_keeps_the_update(
    mongo_db: AsyncDatabase[dict]
) -> None:
    """One agent takes both group topics, so a batch can replay a logged creation (its
    worker died before the markers) and decide an update of the same group: the group,
    inserted already, must still get the update, and only the new name be held."""
    store = Store(mongo_db)
    old, new = f"old-{uuid.uuid4().hex[:6]}", f"new-{uuid.uuid4().hex[:6]}"
    create = _group("CreateBadgeGroup", "create", {"name": old, "rank": 1}, str(uuid.uuid4()), 0)
    first = await store_batch([create], store)  # logged and applied, never marked done
    group = json.loads(first.out[0].value)["data"]["id"]
    rename = _group("UpdateBadgeGroup", "update", {"groupId": group, "name": new, "rank": 2},
                    str(uuid.uuid4()), 0)
    again = Store(mongo_db)  # the partition's next owner: the creation's entry is pending
    second = await store_batch([create, rename], again)
    assert json.loads(second.out[1].value)["errors"] == []
    stored = await mongo_db["badge_groups"].find_one({"_id": ObjectId(group)})
    assert stored is not None and (stored["name"], stored["rank"]) == (new, 2)
    names = {d["name"] async for d in mongo_db["group_names"].find({"orgId": ORG})}
    assert new in names and old not in names
