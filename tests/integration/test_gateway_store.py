"""The gateway's idempotency records and group reads on the real MongoDB-protocol server."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from bson import ObjectId
from pymongo.asynchronous.database import AsyncDatabase

from service.store.gateway_reads import GatewayStore, KeyUse

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
