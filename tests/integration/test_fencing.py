"""Zombie fencing at the store: a stale worker's writes land nowhere the new owner has moved on.

Two stores on one database play the two workers. The zombie decides a batch, then its
writes are held (here: simply not made yet) while the new owner applies that batch again
and newer commands; then the zombie's writes are released. With the fence each document
keeps the new owner's state; without it (Store(fence=False), the writes of releases before
the fence) the zombie's stale state lands, which is what these tests show first.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Sequence

import pytest
from bson import ObjectId
from pymongo.asynchronous.database import AsyncDatabase

from badges_schemas import parse
from service.domain.decisions import new_group_id
from service.domain.model import ClaimKey, Effect, ReserveName
from service.store.docs import Fence
from service.store.mongo import Store
from service.worker.handler import Incoming, Origin, Stored, store_batch

pytestmark = pytest.mark.integration

ORG = 41
ACTOR = 3


def _command(kind: str, payload: dict[str, object], offset: int, partition: int = 0,
             command_id: str | None = None) -> Incoming:
    raw = json.dumps({"commandId": command_id or str(uuid.uuid4()), "type": kind, "orgId": ORG,
                      "actorId": ACTOR, "payload": payload}).encode()
    return Incoming(parse(raw), None, raw, Origin(kind, partition, offset, time.time()))


def _claim(kind: str, badge: str, offset: int) -> Incoming:
    return _command(kind, {"badgeId": badge, "ownerType": "Loyalty", "referenceId": "r"},
                    offset)


class HeldStore(Store):
    """A store whose entity writes wait until the test releases them: the zombie's."""

    async def apply(self, effects: Sequence[tuple[Effect, Fence | None]],
                    stored_claims: frozenset[ClaimKey] = frozenset()) -> None:
        self.held = (effects, stored_claims)

    async def release(self) -> None:
        await Store.apply(self, *self.held)


async def _zombie_then_owner(db: AsyncDatabase[dict], fence: bool,
                             zombie_batch: Sequence[Incoming],
                             owner_batches: Sequence[Sequence[Incoming]]) -> HeldStore:
    zombie, owner = HeldStore(db, fence=fence), Store(db, fence=fence)
    await store_batch(zombie_batch, zombie)  # logged, effects held
    for batch in owner_batches:  # the new owner re-reads the zombie's batch, then newer ones
        stored: Stored = await store_batch(batch, owner)
        await owner.mark_done(stored.done)
    await zombie.release()
    return zombie


@pytest.mark.parametrize("fence", [True, False])
async def test_a_zombie_claim_write_does_not_undo_a_newer_unclaim(
    mongo_db: AsyncDatabase[dict], fence: bool
) -> None:
    badge = str(ObjectId())
    claim = _claim("ClaimBadge", badge, offset=10)
    zombie = await _zombie_then_owner(mongo_db, fence, [claim],
                                      [[claim, _claim("UnclaimBadge", badge, offset=11)]])
    doc = await mongo_db["badge_claims"].find_one({"badgeMetaId": ObjectId(badge)})
    assert doc is not None
    if fence:
        assert doc["isActive"] is False and zombie.fenced_writes == 1
    else:  # the stale write lands: what the fence is for
        assert doc["isActive"] is True and zombie.fenced_writes == 0


async def _create(db: AsyncDatabase[dict], name: str) -> str:
    owner = Store(db)
    stored = await store_batch([_command("CreateBadgeGroup", {"name": name, "rank": 1}, 0)],
                               owner)
    await owner.mark_done(stored.done)
    return str(json.loads(stored.out[0].value)["data"]["id"])


def _rename(group: str, name: str, offset: int) -> Incoming:
    return _command("UpdateBadgeGroup", {"groupId": group, "name": name, "rank": 2}, offset,
                    partition=5)


@pytest.mark.parametrize("fence", [True, False])
async def test_a_zombie_rename_neither_undoes_a_newer_one_nor_keeps_a_stale_name(
    mongo_db: AsyncDatabase[dict], fence: bool
) -> None:
    group = await _create(mongo_db, f"a-{uuid.uuid4().hex[:6]}")
    first, second = _rename(group, "B", offset=20), _rename(group, "C", offset=21)
    zombie = HeldStore(mongo_db, fence=fence)
    await store_batch([first], zombie)  # decided: reserves B, releases A; group write held
    owner = Store(mongo_db, fence=fence)
    await owner.mark_done((await store_batch([first, second], owner)).done)
    # The zombie wakes: its reservation of B again (a replay of its own decision), then
    # its held group write.
    await zombie.reserve_name(ReserveName(ORG, "B", group), Fence(5, 20))
    await zombie.release()
    stored = await mongo_db["badge_groups"].find_one({"_id": ObjectId(group)})
    names = {d["name"]: str(d["groupId"]) async for d in mongo_db["group_names"].find()}
    assert stored is not None
    if fence:
        assert stored["name"] == "C" and names == {"C": group}
        assert zombie.fenced_writes == 2  # the reservation and the group write
    else:
        assert stored["name"] == "B" and names == {"B": group, "C": group}



async def test_a_reservation_for_a_creation_logged_as_failed_is_removed_on_redelivery(
    mongo_db: AsyncDatabase[dict]
) -> None:
    """The loser of the race to log a creation reserved its name for a group that will never
    exist (the winner logged 733): without the removal, the name would stay taken."""
    name = f"n-{uuid.uuid4().hex[:6]}"
    holder = await _create(mongo_db, name)
    owner = Store(mongo_db)
    create = _command("CreateBadgeGroup", {"name": name, "rank": 1}, 7)
    stored = await store_batch([create], owner)
    await owner.mark_done(stored.done)
    assert json.loads(stored.out[0].value)["errors"][0]["code"] == 733
    await owner.mark_done((await store_batch([_rename(holder, "elsewhere", 1)], owner)).done)
    orphan = new_group_id(ORG, json.loads(create.value or b"")["commandId"], create.at)
    loser = Store(mongo_db)  # decided before the winner's entry, reserved after the rename
    assert await loser.reserve_name(ReserveName(ORG, name, orphan)) == orphan
    await store_batch([create], loser)  # its log insert lost: the batch again, redelivered
    assert await mongo_db["group_names"].find_one({"_id": f"{ORG}:{name}"}) is None
