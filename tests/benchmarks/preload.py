"""Fill every collection the worker reads with N documents shaped like the worker's own.

The shapes are copied from documents a worker wrote (one of each collection, read back from
an earlier run's database); the ids, and what embeds them, are those of the preloaded
entities (tests/benchmarks/preloaded.py: random like the workload's, so inserts and lookups
land all over the _id index), so lookups and writes see today's formats at today's sizes.
Every preloaded claim is active and every group holds its name: the mix at 1,000,000
documents knows what its commands on them must be answered. Preloaded documents carry no
fence (as documents written before fences existed): a fence copied from the template would
make the commands on them look older than what they reflect, in a namespace whose offsets
start again at 0.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from bson import ObjectId
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase
from tqdm import tqdm

from service.store.mongo import Store
from tests.benchmarks.preloaded import Preloaded

Doc = dict[str, Any]
COLLECTIONS = ("badge_claims", "badge_groups", "group_names", "commands", "commands_done")
CHUNK = 10_000
IN_FLIGHT = 2  # one insert at the server while the next chunk is built here


async def templates(db: AsyncDatabase[Doc]) -> dict[str, Doc]:
    """One real document of each collection, the first the worker wrote, without its fence."""
    found = {}
    for name in COLLECTIONS:
        doc = await db[name].find_one({})
        if doc is None:
            raise RuntimeError(f"no document in {db.name}.{name} to copy the shape of")
        found[name] = {k: v for k, v in doc.items() if k != "fence"}
    return found


def _makers(shapes: dict[str, Doc], entities: Preloaded) -> dict[str, Callable[[int], Doc]]:
    """For each collection, document number i in the template's shape."""
    def claim(i: int) -> Doc:
        old = entities.claim(i)
        return {**shapes["badge_claims"], "_id": old.claim_id, "orgId": old.org_id,
                "badgeMetaId": ObjectId(old.payload["badgeId"]), "isActive": True,
                "ownerType": old.payload["ownerType"],
                "referenceId": old.payload["referenceId"]}

    def group(i: int) -> Doc:
        old = entities.group(i)
        return {**shapes["badge_groups"], "_id": ObjectId(old.group_id), "orgId": old.org_id,
                "name": old.name, "isActive": True}

    def name(i: int) -> Doc:
        old = entities.group(i)
        return {**shapes["group_names"], "_id": f"{old.org_id}:{old.name}",
                "orgId": old.org_id, "name": old.name, "groupId": ObjectId(old.group_id),
                "command": entities.log_key(i)}

    def command(i: int) -> Doc:
        return {**shapes["commands"], "_id": entities.log_key(i)}

    def done(i: int) -> Doc:
        return {**shapes["commands_done"], "_id": entities.log_key(i)}

    return {"badge_claims": claim, "badge_groups": group, "group_names": name,
            "commands": command, "commands_done": done}


async def preload(mongo_url: str, database: str, shapes: dict[str, Doc],
                  entities: Preloaded) -> dict[str, Any]:
    """Insert `entities.count` documents into each collection (indexes first, as the worker
    has them)."""
    client: AsyncMongoClient[Doc] = AsyncMongoClient(mongo_url, timeoutMS=600_000)
    try:
        db = client[database]
        await Store(db).ensure_indexes()
        started = time.perf_counter()
        count = entities.count
        total = count * len(COLLECTIONS)
        rates = {}
        with tqdm(total=total, desc="preload", unit="doc", unit_scale=True,
                  mininterval=1) as bar:
            for collection, make in _makers(shapes, entities).items():
                began = time.perf_counter()
                await _fill(db, collection, make, count, bar)
                rates[collection] = round(count / (time.perf_counter() - began))
        seconds = time.perf_counter() - started
        return {"per_collection": count, "documents": total, "seconds": round(seconds, 1),
                "docs_per_s": round(total / seconds), "docs_per_s_by_collection": rates}
    finally:
        await client.close()


async def _fill(db: AsyncDatabase[Doc], collection: str, make: Callable[[int], Doc],
                count: int, bar: tqdm[Any]) -> None:
    pending: set[asyncio.Task[None]] = set()

    async def insert(docs: list[Doc]) -> None:
        await db[collection].insert_many(docs, ordered=False)
        bar.update(len(docs))

    try:
        for start in range(0, count, CHUNK):
            if len(pending) >= IN_FLIGHT:
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    task.result()
            docs = [make(i) for i in range(start, min(start + CHUNK, count))]
            pending.add(asyncio.create_task(insert(docs)))
        await asyncio.gather(*pending)
    finally:
        for task in pending:
            task.cancel()
