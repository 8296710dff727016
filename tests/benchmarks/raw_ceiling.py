"""Baseline: the database alone, doing the worker's durable work for each command. No Kafka.

Per command, what the worker stores (service/store/mongo.py): the reads its batch makes (the
command log, and the claims, groups and names it decides on), its log entry, its effects on
the claim, group and name documents, and its done-marker with the keys for the log's
retention. tests/benchmarks/ceiling_plan.py works all of it out before the clock starts
(the worker's own decisions, documents in the worker's formats), so only database work is
timed:

    per batch: the 4 reads at once -> insert the log entries -> every write at once
               (new claims and groups inserted, others updated by _id, names inserted,
               released names deleted) -> then, while the next batch does all that, the
               done-markers and the retention keys (as the worker marks done while it
               publishes)

in CLAIM_LANES lanes of claims and unclaims and one lane of group commands at once (more
than the worker's one pipeline, with its store of batch N+1 beside the done-markers of
batch N), in batches of BATCH commands (the worker's are at most 100). That is the fastest
way known here to do this work on this database: one statement per collection and step,
inserts rather than upserts for what is new, `$in` reads, the writes of a batch at once,
the reads of one lane overlapping the writes of another (FerretDB's SQLite backend takes one
writer at a time, readers beside it), and less than the worker does (no check of each
reservation, no fence conditions, nothing read twice). Tried on 10,000 commands of the mix
(2 cores, shared): 1 to 3 claim lanes of 100 to 800 commands; 1x100 gave about 2,000 to
2,400/s, 3x100 1,800 to 2,500/s, 2x400 3,000 to 4,000/s, 3x400 3,500 to 4,900/s, 3x800
4,100/s; more lanes or larger batches were no faster. If the worker or the aiokafka loop
ever beats this, the ceiling is wrong.

At the end the documents are counted against what the plan leaves: a ceiling that skipped
work fails the run.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Sequence
from typing import Any

from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase
from tqdm import tqdm

from service.store.expiry import MARKER_BUCKET
from service.store.expiry_policy import bucket_of, chunk_id
from service.store.mongo import Store
from tests.benchmarks import ceiling_plan
from tests.benchmarks.ceiling_plan import Batch
from tests.benchmarks.mix import BenchCommand

Doc = dict[str, Any]
CLAIM_LANES = 3
BATCH = 400
TIMEOUT_MS = 120_000


async def measure(mongo_url: str, database: str, commands: Sequence[BenchCommand],
                  claim_lanes: int = CLAIM_LANES, batch_size: int = BATCH) -> dict[str, Any]:
    """Commands per second of the worker's durable work, and whether it was all done."""
    plan = ceiling_plan.plan(commands, claim_lanes, batch_size)  # before the clock starts
    client: AsyncMongoClient[Doc] = AsyncMongoClient(mongo_url, timeoutMS=TIMEOUT_MS)
    try:
        db = client[database]
        await _create_collections(db)
        slots = itertools.count()  # retention chunk slots, unique across the lanes
        started = time.perf_counter()
        with tqdm(total=plan.commands, desc="raw ceiling", unit="cmd", mininterval=0.5) as bar:
            await asyncio.gather(*(_lane(db, batches, bar, slots) for batches in plan.lanes))
        seconds = time.perf_counter() - started
        found = await _counts(db)
    finally:
        await client.close()
    wrong = {k: {"found": found[k], "expected": v} for k, v in plan.expected.items()
             if found[k] != v}
    return {"cmd_s": round(plan.commands / seconds, 1), "seconds": round(seconds, 2),
            "claim_lanes": claim_lanes, "batch": batch_size,
            "checks": {"ok": not wrong, "documents": found, "wrong": wrong,
                       "text": "documents as planned" if not wrong
                       else f"DOCUMENTS NOT AS PLANNED: {wrong}"}}


async def _lane(db: AsyncDatabase[Doc], batches: Sequence[Batch], bar: tqdm[Any],
                slots: itertools.count[int]) -> None:
    marking: asyncio.Task[None] | None = None
    try:
        for batch in batches:
            await _store(db, batch)
            if marking is not None:
                await marking
            marking = asyncio.create_task(_mark_done(db, batch, next(slots), bar))
        if marking is not None:
            await marking
    finally:
        if marking is not None and not marking.done():
            marking.cancel()


async def _store(db: AsyncDatabase[Doc], batch: Batch) -> None:
    await asyncio.gather(
        _find(db, "commands", batch.log_keys),
        _find(db, "badge_claims", batch.claim_ids, {"isActive": 1, "fence": 1}),
        _find(db, "group_names", batch.name_ids), _find_groups(db, batch))
    now = time.time()
    for doc in batch.log_docs:
        doc["loggedAt"] = now
    await db.commands.insert_many(batch.log_docs, ordered=False)
    await asyncio.gather(
        _insert(db, "badge_claims", batch.new_claims), _insert(db, "badge_groups",
                                                                batch.new_groups),
        _insert(db, "group_names", batch.reservations),
        _bulk(db, "badge_claims", batch.claim_updates),
        _bulk(db, "badge_groups", batch.group_updates), _delete(db, batch.releases))


async def _mark_done(db: AsyncDatabase[Doc], batch: Batch, slot: int, bar: tqdm[Any]) -> None:
    bucket = bucket_of(time.time())
    await asyncio.gather(
        db.commands_done.insert_many([{"_id": k, MARKER_BUCKET: bucket}
                                      for k in batch.log_keys], ordered=False),
        db.commands_expiry.insert_one({"_id": chunk_id(bucket, slot), "keys": batch.log_keys}))
    bar.update(batch.commands)


async def _find(db: AsyncDatabase[Doc], collection: str, ids: list[Any],
                fields: Doc | None = None) -> None:
    if ids:
        await db[collection].find({"_id": {"$in": ids}}, fields).to_list()


async def _find_groups(db: AsyncDatabase[Doc], batch: Batch) -> None:
    if batch.group_ids:  # as Store._groups: by _id, within the orgs asked for
        await db.badge_groups.find({"_id": {"$in": batch.group_ids},
                                    "orgId": {"$in": batch.group_orgs}}).to_list()


async def _insert(db: AsyncDatabase[Doc], collection: str, docs: list[Doc]) -> None:
    if docs:
        await db[collection].insert_many(docs, ordered=False)


async def _bulk(db: AsyncDatabase[Doc], collection: str, ops: list[Any]) -> None:
    if ops:
        await db[collection].bulk_write(ops, ordered=False)


async def _delete(db: AsyncDatabase[Doc], ids: list[str]) -> None:
    if ids:
        await db.group_names.delete_many({"_id": {"$in": ids}})


async def _create_collections(db: AsyncDatabase[Doc]) -> None:
    """Every collection, with the worker's indexes, before the clock starts: the worker's
    are made by its warm-up, and a first insert that creates its collection costs more."""
    await Store(db).ensure_indexes()
    existing = set(await db.list_collection_names())
    for name in ("commands", "commands_done", "commands_expiry", "group_names"):
        if name not in existing:
            await db.create_collection(name)


async def _counts(db: AsyncDatabase[Doc]) -> dict[str, int]:
    names = ("badge_claims", "badge_groups", "group_names", "commands", "commands_done")
    found = {name: await db[name].count_documents({}) for name in names}
    found["active_claims"] = await db.badge_claims.count_documents({"isActive": True})
    return found
