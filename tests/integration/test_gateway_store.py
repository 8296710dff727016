"""The gateway's idempotency records, group reads and group lists on the real
MongoDB-protocol server."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from bson import ObjectId
from pymongo.asynchronous.database import AsyncDatabase

from service.store import group_index
from service.store.gateway_reads import GatewayStore, KeyUse
from service.store.mongo import Store

pytestmark = pytest.mark.integration

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
LATER = NOW + timedelta(days=9)


async def test_racing_uses_of_a_key_agree_on_one_request(mongo_db: AsyncDatabase[dict]
                                                         ) -> None:
    store = GatewayStore(mongo_db)
    await store.ensure_indexes()
    uses = await asyncio.gather(*(store.use_key(1, "c1", f"d{i % 2}", NOW, LATER)
                                  for i in range(8)))
    assert uses.count(KeyUse.NEW) == 1
    first = "d0" if uses.index(KeyUse.NEW) % 2 == 0 else "d1"
    for i, use in enumerate(uses):
        if use is not KeyUse.NEW:
            assert use is (KeyUse.SAME if f"d{i % 2}" == first else KeyUse.DIFFERENT)
    # Keys are per org.
    assert await store.use_key(2, "c1", "other", NOW, LATER) is KeyUse.NEW


async def test_an_expired_record_is_replaced_and_swept(mongo_db: AsyncDatabase[dict]) -> None:
    store = GatewayStore(mongo_db)
    assert await store.use_key(1, "c1", "d0", NOW, NOW + timedelta(seconds=1)) is KeyUse.NEW
    assert await store.use_key(1, "c2", "d0", NOW, LATER) is KeyUse.NEW
    after = NOW + timedelta(seconds=2)
    assert await store.use_key(1, "c1", "d1", after, LATER) is KeyUse.NEW
    assert await store.use_key(1, "c1", "d0", after, LATER) is KeyUse.DIFFERENT
    assert await store.sweep_keys(LATER + timedelta(seconds=1)) == 2
    assert await mongo_db["gateway_idempotency"].count_documents({}) == 0


async def test_a_group_is_read_only_in_its_org(mongo_db: AsyncDatabase[dict]) -> None:
    gid = ObjectId()
    await mongo_db["badge_groups"].insert_one({
        "_id": gid, "orgId": 5, "name": "Gold", "rank": 1, "createdBy": 1, "createdOn": 1.5,
        "lastUpdatedBy": 2, "lastUpdatedOn": 2.5, "isActive": True})
    store = GatewayStore(mongo_db)
    group = await store.group(5, str(gid))
    assert group is not None and (group.name, group.last_updated_by) == ("Gold", 2)
    assert await store.group(6, str(gid)) is None
    assert await store.group(5, str(ObjectId())) is None


def group_doc(gid: ObjectId, org_id: int, name: str, active: bool = True) -> dict:
    return {"_id": gid, "orgId": org_id, "name": name, "rank": 1, "createdBy": 1,
            "createdOn": 1.5, "lastUpdatedBy": 1, "lastUpdatedOn": 1.5, "isActive": active}


async def pages(store: GatewayStore, org_id: int, limit: int, include_inactive: bool
                ) -> list[list[str]]:
    """Every page of the org's listing, by following `next`, as names."""
    found, after = [], None
    while True:
        page = await store.groups_page(org_id, after, limit, include_inactive)
        found.append([g.name for g in page.groups])
        if page.next_after is None:
            return found
        after = page.next_after


async def test_groups_are_listed_in_id_order_a_page_at_a_time(
        mongo_db: AsyncDatabase[dict]) -> None:
    ids = sorted(ObjectId() for _ in range(7))
    # g3 inactive; g5's document not written yet (its batch is still being applied).
    await mongo_db["badge_groups"].insert_many(
        [group_doc(gid, 5, f"g{i}", active=i != 3) for i, gid in enumerate(ids) if i != 5]
        + [group_doc(ObjectId(), 6, "other org")])
    index = mongo_db[group_index.COLLECTION]
    # Orgs whose _id text sorts right beside org 5's: 50 and 4 (their groups never show).
    neighbours = [(50, str(ObjectId())), (4, str(ObjectId()))]
    await group_index.add(index, [(5, str(gid)) for gid in reversed(ids)] + neighbours)
    await group_index.add(index, [(5, str(ids[0]))])  # again: one entry still
    store = GatewayStore(mongo_db)

    assert await pages(store, 5, 2, False) == [["g0", "g1"], ["g2", "g4"], ["g6"]]
    assert await pages(store, 5, 3, True) == [["g0", "g1", "g2"], ["g3", "g4", "g6"]]
    assert await pages(store, 5, 50, False) == [["g0", "g1", "g2", "g4", "g6"]]
    assert await pages(store, 6, 50, True) == [[]]  # its group has no entry
    assert await pages(store, 7, 50, True) == [[]]
    last = await store.groups_page(5, str(ids[6]), 5, True)
    assert (last.groups, last.next_after) == ([], None)
    with pytest.raises(group_index.UnknownCursorError):
        await store.groups_page(6, str(ids[0]), 2, True)  # another org's group
    assert await index.count_documents({}) == 9


async def test_groups_of_an_earlier_release_are_indexed_once(mongo_db: AsyncDatabase[dict]
                                                             ) -> None:
    old = sorted(ObjectId() for _ in range(4))
    await mongo_db["badge_groups"].insert_many(
        [group_doc(gid, 8 + i % 2, f"old{i}") for i, gid in enumerate(old)])
    store = Store(mongo_db)
    assert await store.index_unindexed_groups() == 4
    assert await store.index_unindexed_groups() == 0
    reads = GatewayStore(mongo_db)
    assert await pages(reads, 8, 50, True) == [["old0", "old2"]]
    assert await pages(reads, 9, 50, True) == [["old1", "old3"]]


async def test_workers_indexing_one_orgs_groups_at_once_lose_none(
        mongo_db: AsyncDatabase[dict]) -> None:
    ids = sorted(str(ObjectId()) for _ in range(8))
    await mongo_db["badge_groups"].insert_many(
        [group_doc(ObjectId(gid), 11, f"n{i}") for i, gid in enumerate(ids)])
    index = mongo_db[group_index.COLLECTION]
    # Each id added by two workers at once (a batch retried during a rebalance).
    await asyncio.gather(*(group_index.add(index, [(11, gid)]) for gid in ids + ids))
    found = await GatewayStore(mongo_db).groups_page(11, None, 50, True)
    assert [g.id for g in found.groups] == ids
