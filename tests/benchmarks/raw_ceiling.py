"""Baseline: the database alone. No Kafka, no command log, no reads.

For each command of the mix, the claim or group document as the command leaves it (in the
worker's document format), written with one `UpdateOne(..., upsert=True)` by `_id` per
command (not collapsed), in unordered `bulk_write`s of 50, one bulk at a time, through the
same PyMongo async client: the server's own rate for these writes, without Kafka, reads or
a command log. (A system that collapses several commands on one document into one write,
or inserts new documents instead of upserting them, can go faster than this "ceiling".)
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from bson import ObjectId
from pymongo import AsyncMongoClient, UpdateOne
from tqdm import tqdm

from badges_schemas import CommandType
from service.domain.decisions import new_group_id
from service.store.mongo import Store
from tests.benchmarks.mix import ACTOR_ID, BenchCommand

Doc = dict[str, Any]
BULK = 50


def documents(commands: Sequence[BenchCommand]) -> list[tuple[str, Doc]]:
    """(collection, the document after the command) for each command, in order."""
    claims: dict[str, Doc] = {}
    groups: dict[str, Doc] = {}
    out = []
    for c in commands:
        if c.command_type in (CommandType.CLAIM_BADGE, CommandType.UNCLAIM_BADGE):
            out.append(("badge_claims", _claim(claims, c)))
        elif c.command_type is CommandType.CREATE_BADGE_GROUP:
            out.append(("badge_groups", _created(groups, c)))
        else:
            out.append(("badge_groups", _renamed(groups, c)))
    return out


def _claim(claims: dict[str, Doc], c: BenchCommand) -> Doc:
    p = c.payload
    claim_id = f"{c.org_id}:{p['badgeId']}:{p['ownerType']}:{p['referenceId']}"
    doc = claims.get(claim_id)
    active = c.command_type is CommandType.CLAIM_BADGE
    if doc is None:
        doc = {"_id": claim_id, "orgId": c.org_id, "badgeMetaId": ObjectId(p["badgeId"]),
               "ownerType": p["ownerType"], "referenceId": p["referenceId"],
               "createdBy": ACTOR_ID, "createdOn": c.at}
    elif doc["isActive"] == active:
        return doc  # a re-claim of an active claim leaves it as it was
    doc = {**doc, "isActive": active, "lastUpdatedBy": ACTOR_ID, "lastUpdatedOn": c.at}
    claims[claim_id] = doc
    return doc


def _created(groups: dict[str, Doc], c: BenchCommand) -> Doc:
    group_id = new_group_id(c.org_id, c.command_id, c.at)
    doc = {"_id": ObjectId(group_id), "orgId": c.org_id, "name": c.payload["name"],
           "rank": c.payload["rank"], "createdBy": ACTOR_ID, "createdOn": c.at,
           "lastUpdatedBy": ACTOR_ID, "lastUpdatedOn": c.at, "isActive": True}
    groups[group_id] = doc
    return doc


def _renamed(groups: dict[str, Doc], c: BenchCommand) -> Doc:
    group_id = c.payload["groupId"]
    doc = {**groups[group_id], "name": c.payload["name"], "rank": c.payload["rank"],
           "lastUpdatedBy": ACTOR_ID, "lastUpdatedOn": c.at}
    groups[group_id] = doc
    return doc


def upserts(commands: Sequence[BenchCommand]) -> dict[str, list[UpdateOne]]:
    """One upsert per command, by collection, each collection's in the commands' order."""
    by_collection: dict[str, list[UpdateOne]] = {}
    for collection, doc in documents(commands):
        fields = {k: v for k, v in doc.items() if k != "_id"}
        by_collection.setdefault(collection, []).append(
            UpdateOne({"_id": doc["_id"]}, {"$set": fields}, upsert=True))
    return by_collection


async def measure(mongo_url: str, database: str, commands: Sequence[BenchCommand]) -> float:
    """Commands per second of writing what the commands leave, one bulk at a time.

    (Several bulks in flight, split by document to keep each one's order, were no faster
    on FerretDB here: its SQLite backend takes one writer at a time.)
    """
    ops = upserts(commands)  # built before the clock starts
    client: AsyncMongoClient[Doc] = AsyncMongoClient(mongo_url, timeoutMS=120_000)
    try:
        db = client[database]
        await Store(db).ensure_indexes()  # the same indexes the worker's collections carry
        started = time.perf_counter()
        with tqdm(total=len(commands), desc="raw ceiling", unit="cmd", mininterval=0.5) as bar:
            for collection, upserts_of_one in ops.items():
                for start in range(0, len(upserts_of_one), BULK):
                    chunk = upserts_of_one[start:start + BULK]
                    await db[collection].bulk_write(chunk, ordered=False)
                    bar.update(len(chunk))
        return len(commands) / (time.perf_counter() - started)
    finally:
        await client.close()
