"""Fill every collection the worker reads with N documents shaped like the worker's own.

The shapes are copied from documents a worker wrote (one of each collection, read back from
an earlier run's database); only the ids and what embeds them change, so lookups and writes
see today's formats at today's sizes. Ids cannot collide with the mix's: badges here start
with "be", groups with "6e", and commands are UUIDs of their own.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from typing import Any

from bson import ObjectId
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase
from tqdm import tqdm

from service.store.mongo import Store
from tests.benchmarks.mix import ORGS

Doc = dict[str, Any]
COLLECTIONS = ("badge_claims", "badge_groups", "group_names", "commands", "commands_done")
CHUNK = 10_000
IN_FLIGHT = 2  # one insert at the server while the next chunk is built here


async def templates(db: AsyncDatabase[Doc]) -> dict[str, Doc]:
    """One real document of each collection, the first the worker wrote."""
    found = {}
    for name in COLLECTIONS:
        doc = await db[name].find_one({})
        if doc is None:
            raise RuntimeError(f"no document in {db.name}.{name} to copy the shape of")
        found[name] = doc
    return found


def _makers(shapes: dict[str, Doc]) -> dict[str, Callable[[int], Doc]]:
    """For each collection, document number i in the template's shape."""
    def org(i: int) -> int:
        return ORGS[i % len(ORGS)]

    def claim(i: int) -> Doc:
        t, badge = shapes["badge_claims"], f"be{i:022x}"
        return {**t, "_id": f"{org(i)}:{badge}:{t['ownerType']}:{t['referenceId']}",
                "orgId": org(i), "badgeMetaId": ObjectId(badge)}

    def group(i: int) -> Doc:
        return {**shapes["badge_groups"], "_id": ObjectId(f"6e{i:022x}"), "orgId": org(i),
                "name": f"PRELOAD_{i}"}

    def name(i: int) -> Doc:
        return {**shapes["group_names"], "_id": f"{org(i)}:PRELOAD_{i}", "orgId": org(i),
                "name": f"PRELOAD_{i}", "groupId": ObjectId(f"6e{i:022x}")}

    def command_id(i: int) -> str:
        return f"{org(i)}:{uuid.UUID(int=(0xbe << 120) | i, version=4)}"

    def command(i: int) -> Doc:
        return {**shapes["commands"], "_id": command_id(i)}

    def done(i: int) -> Doc:
        return {**shapes["commands_done"], "_id": command_id(i)}

    return {"badge_claims": claim, "badge_groups": group, "group_names": name,
            "commands": command, "commands_done": done}


async def preload(mongo_url: str, database: str, shapes: dict[str, Doc],
                  count: int) -> dict[str, Any]:
    """Insert `count` documents into each collection (indexes first, as the worker has them)."""
    client: AsyncMongoClient[Doc] = AsyncMongoClient(mongo_url, timeoutMS=600_000)
    try:
        db = client[database]
        await Store(db).ensure_indexes()
        started = time.perf_counter()
        total = count * len(COLLECTIONS)
        rates = {}
        with tqdm(total=total, desc="preload", unit="doc", unit_scale=True,
                  mininterval=1) as bar:
            for collection, make in _makers(shapes).items():
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
