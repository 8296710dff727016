"""MongoDB persistence through PyMongo's async API. Knows documents, decides nothing.

Collections:
- badge_claims  one document per (orgId, badgeMetaId, ownerType, referenceId), whose _id
                joins those four; soft delete
- badge_groups  one document per group, _id = the group's ObjectId
- group_names   _id = "<orgId>:<name>": a name reservation; inserting it is the uniqueness
                check (FerretDB reports duplicate keys on inserts only, MongoDB everywhere)
- commands      the processed-command log, _id = "<orgId>:<commandId>": stored result and
                effects (as one JSON string: FerretDB inserts nested documents at half the
                speed), so a redelivered command is answered identically and applied once
- commands_done _id = a log _id whose effects are all stored; a log entry without one is
                pending. A separate insert, not an update of the entry: FerretDB updates
                cost a scan each (2.3 s for 100 entries among 2900, against 3 ms to insert).
                `bucket`: the retention bucket it was written in (service/retention.py)
- commands_expiry  the keys of the entries marked done, per time bucket, for the log's
                retention (service/store_retention.py)
Every query carries orgId (or an _id that embeds it): one tenant cannot reach another's data.
Reads and writes go by _id, equality or `$in`: the _id index serves them on MongoDB and on
the test stack's patched FerretDB (deploy/ferretdb/patches), which scans the whole
collection for any other filter, `$or` included. A batch reads each collection once, the
collections concurrently, and inserts the claims that are new (an insert is one statement
for many documents; an upsert is a lookup and a write per document).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from bson import ObjectId
from pymongo import AsyncMongoClient, IndexModel, ReplaceOne, UpdateOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, DuplicateKeyError

from service.domain.model import (
    ClaimKey,
    Effect,
    Group,
    ReleaseName,
    ReserveName,
    SaveGroup,
    SetClaim,
)
from service.domain.state import Reads, Snapshot
from service.retention import bucket_of
from service.settings import Settings
from service.store_codec import effects_from_log, effects_to_log
from service.store_retention import MARKER_BUCKET, CommandLogExpiry

Doc = dict[str, Any]
DUPLICATE_KEY = 11000


@dataclass(frozen=True)
class LogEntry:
    key: str
    result: str  # the exact JSON of the result event, re-sent byte for byte on redelivery
    effects: tuple[Effect, ...]
    pending: bool = True


def connect(settings: Settings) -> AsyncMongoClient[Doc]:
    """Create the client inside the running loop (PyMongo refuses to share one across loops)."""
    timeout_ms = int(settings.network_timeout_seconds * 1000)
    return AsyncMongoClient(
        settings.mongo_url, timeoutMS=timeout_ms, serverSelectionTimeoutMS=timeout_ms,
        tz_aware=True,
    )


def _any_id(ids: Iterable[Any]) -> Doc:
    return {"_id": {"$in": list(ids)}}


def _name_id(org_id: int, name: str) -> str:
    return f"{org_id}:{name}"


class Store:
    def __init__(self, db: AsyncDatabase[Doc], clock: Callable[[], float] = time.time) -> None:
        """`clock`: seconds since the epoch, for the command log's retention (tests fake it)."""
        self.db = db
        self.claims = db["badge_claims"]
        self.groups = db["badge_groups"]
        self.names = db["group_names"]
        self.log = db["commands"]
        self.done = db["commands_done"]
        self.expiry = CommandLogExpiry(db, self.log, self.done, clock)
        # Log entries whose effects this process has applied and whose done-markers may not
        # be stored yet (they are written while the batch's results are published).
        self._applied: set[str] = set()

    async def ensure_indexes(self) -> None:
        # For readers of the data (per badge, per org); the service itself reads by _id.
        await self.claims.create_indexes([IndexModel([("orgId", 1), ("badgeMetaId", 1)])])
        await self.groups.create_indexes([IndexModel([("orgId", 1), ("name", 1)])])

    # -- the command log --------------------------------------------------------------

    async def find_logged(self, keys: Iterable[str]) -> dict[str, LogEntry]:
        found: dict[str, LogEntry] = {}
        wanted = set(keys)
        if not wanted:
            return found
        docs = await self.log.find(_any_id(wanted)).to_list()
        done = set()
        if docs:
            async for marker in self.done.find(_any_id(d["_id"] for d in docs)):
                done.add(marker["_id"])
        unmarked = {d["_id"] for d in docs} - done - self._applied
        if unmarked:
            unmarked = await self._still_logged(unmarked)
        for doc in docs:
            effects = effects_from_log(doc["effects"])
            key = doc["_id"]
            if key in done or key in self._applied or key in unmarked:
                found[key] = LogEntry(key, doc["result"], effects, pending=key in unmarked)
        return found

    async def _still_logged(self, keys: set[str]) -> set[str]:
        """The entries, seen without a done-marker, that are still logged: pending ones.

        The retention deletes an expired entry, then its marker: read between the two, an
        expired entry looks pending, and re-applying its effects would undo newer ones. It
        is gone when read again, so it counts as not logged: the command is new.
        """
        return {d["_id"] async for d in self.log.find(_any_id(keys), {"_id": 1})}

    async def log_pending(self, entries: Sequence[LogEntry], origins: Sequence[Doc]) -> None:
        if not entries:
            return
        docs = [
            {"_id": e.key, "result": e.result, "effects": effects_to_log(e.effects),
             "origin": origin}
            for e, origin in zip(entries, origins, strict=True)
        ]
        await self.log.insert_many(docs, ordered=True)

    def applied(self, keys: Sequence[str]) -> None:
        """These entries' effects are stored: count them as done until `mark_done` says so."""
        self._applied.update(keys)

    async def mark_done(self, keys: Sequence[str]) -> None:
        """Store the entries' done-markers, and record the keys for the log's retention."""
        if not keys:
            return
        bucket = bucket_of(self.expiry.clock())
        await asyncio.gather(self._insert_markers(keys, bucket),
                             self.expiry.record(bucket, keys))
        self._applied.difference_update(keys)

    async def _insert_markers(self, keys: Sequence[str], bucket: int) -> None:
        try:
            await self.done.insert_many([{"_id": key, MARKER_BUCKET: bucket} for key in keys],
                                        ordered=False)
        except BulkWriteError as exc:
            # Marked already by another worker that ran the same batch during a rebalance.
            if any(e["code"] != DUPLICATE_KEY for e in exc.details["writeErrors"]):
                raise

    # -- reading state ----------------------------------------------------------------

    async def load(self, reads: Reads) -> Snapshot:
        (active, stored), groups, names = await asyncio.gather(
            self._claims(reads.claims), self._groups(reads.groups), self._names(reads.names)
        )
        return Snapshot(active_claims=active, groups=groups, names=names, stored_claims=stored)

    async def _claims(self, keys: set[ClaimKey]) -> tuple[set[ClaimKey], frozenset[ClaimKey]]:
        """The keys whose claim is active, and the keys that have a claim document."""
        by_id = {_claim_id(k): k for k in keys}
        active, stored = set(), set()
        if by_id:
            async for doc in self.claims.find(_any_id(by_id), {"isActive": 1}):
                stored.add(by_id[doc["_id"]])
                if doc["isActive"]:
                    active.add(by_id[doc["_id"]])
        return active, frozenset(stored)

    async def _groups(self, keys: set[tuple[int, str]]) -> dict[tuple[int, str], Group]:
        groups: dict[tuple[int, str], Group] = {}
        if not keys:
            return groups
        # One $in on _id (an index lookup), not an $or of (_id, orgId) pairs (a scan on
        # FerretDB); the org of each group found is checked against the pair asked for.
        query = {"_id": {"$in": [ObjectId(gid) for _, gid in keys]},
                 "orgId": {"$in": sorted({org for org, _ in keys})}}
        async for doc in self.groups.find(query):
            group = _group_from_doc(doc)
            if (group.org_id, group.id) in keys:
                groups[(group.org_id, group.id)] = group
        return groups

    async def _names(self, keys: set[tuple[int, str]]) -> dict[tuple[int, str], str]:
        names: dict[tuple[int, str], str] = {}
        if keys:
            async for doc in self.names.find(_any_id(_name_id(org, n) for org, n in keys)):
                names[(doc["orgId"], doc["name"])] = str(doc["groupId"])
        return names

    # -- writing ----------------------------------------------------------------------

    async def reserve_name(self, effect: ReserveName) -> str:
        """Try to take the name; return the group that holds it afterwards."""
        doc = {"_id": _name_id(effect.org_id, effect.name), "orgId": effect.org_id,
               "name": effect.name, "groupId": ObjectId(effect.group_id)}
        try:
            await self.names.insert_one(doc)
        except DuplicateKeyError:
            held = await self.names.find_one({"_id": doc["_id"]})
            # Released between our insert and this read: the caller simply tries again.
            return str(held["groupId"]) if held else ""
        return effect.group_id

    async def release_name(self, effect: ReleaseName) -> None:
        await self.names.delete_one(
            {"_id": _name_id(effect.org_id, effect.name), "groupId": ObjectId(effect.group_id)}
        )

    async def apply(self, effects: Sequence[Effect], stored_claims: frozenset[ClaimKey]
                    = frozenset()) -> None:
        """Make claim and group effects durable; each write is idempotent.

        Effects on one document collapse into one write that leaves it as the last effect
        would (a hot claim toggled 100 times in a batch is written once). Documents are
        independent, so their order does not matter and the writes run concurrently.
        Claims not in `stored_claims` are inserted; the others are upserted.
        """
        new, existing = _claim_writes([e for e in effects if isinstance(e, SetClaim)],
                                      stored_claims)
        saved = {e.group.id: e for e in effects if isinstance(e, SaveGroup)}
        await asyncio.gather(
            self._insert_claims(new), self._bulk(self.claims, existing),
            self._bulk(self.groups, [_group_op(e) for e in saved.values()]),
        )

    async def _insert_claims(self, claims: Sequence[ClaimWrite]) -> None:
        if not claims:
            return
        try:
            await self.claims.insert_many([_claim_doc(*c) for c in claims], ordered=False)
        except BulkWriteError as exc:
            errors = exc.details["writeErrors"]
            if any(e["code"] != DUPLICATE_KEY for e in errors):
                raise
            # Written since the batch read it (by a retry of this batch, or by a worker that
            # held the partition before a rebalance): upsert those, as for existing claims.
            await self._bulk(self.claims, [_claim_op(*claims[e["index"]]) for e in errors])

    async def _bulk(self, collection: AsyncCollection[Doc], ops: Sequence[Any]) -> None:
        # One bulk: MongoDB splits large ones itself. Stock FerretDB 1.24 never answers a
        # bulk of 70 or more updates of existing documents; its patch 0002 fixes that.
        if ops:
            await collection.bulk_write(ops, ordered=False)


def _claim_id(key: ClaimKey) -> str:
    # Unambiguous although referenceId may hold ":": the three fields before it cannot.
    return f"{key.org_id}:{key.badge_id}:{key.owner_type}:{key.reference_id}"


ClaimWrite = tuple[SetClaim, SetClaim]  # the first and the last effect of a batch on a claim


def _claim_writes(effects: Sequence[SetClaim], stored: frozenset[ClaimKey]
                  ) -> tuple[list[ClaimWrite], list[UpdateOne]]:
    """The claims to insert (new ones), and the upserts of the others."""
    first: dict[ClaimKey, SetClaim] = {}
    last: dict[ClaimKey, SetClaim] = {}
    for effect in effects:
        first.setdefault(effect.key, effect)
        last[effect.key] = effect
    new = [(first[key], last[key]) for key in last if key not in stored]
    existing = [_claim_op(first[key], last[key]) for key in last if key in stored]
    return new, existing


def _created(first: SetClaim) -> Doc:
    key = first.key
    return {"orgId": key.org_id, "badgeMetaId": ObjectId(key.badge_id),
            "ownerType": str(key.owner_type), "referenceId": key.reference_id,
            "createdBy": first.actor_id, "createdOn": first.at}


def _updated(last: SetClaim) -> Doc:
    return {"isActive": last.is_active, "lastUpdatedBy": last.actor_id, "lastUpdatedOn": last.at}


def _claim_doc(first: SetClaim, last: SetClaim) -> Doc:
    """A new claim as `last` leaves it, created by `first`: what `_claim_op` would upsert."""
    return {"_id": _claim_id(first.key), **_created(first), **_updated(last)}


def _claim_op(first: SetClaim, last: SetClaim) -> UpdateOne:
    """The claim as `last` leaves it; created by `first` if it did not exist."""
    return UpdateOne(
        {"_id": _claim_id(first.key)},
        {"$set": _updated(last), "$setOnInsert": _created(first)},
        upsert=True,
    )


def _group_op(effect: SaveGroup) -> ReplaceOne[Doc]:
    g = effect.group
    doc = {"_id": ObjectId(g.id), "orgId": g.org_id, "name": g.name, "rank": g.rank,
           "createdBy": g.created_by, "createdOn": g.created_on,
           "lastUpdatedBy": g.last_updated_by, "lastUpdatedOn": g.last_updated_on,
           "isActive": g.is_active}
    return ReplaceOne({"_id": doc["_id"], "orgId": g.org_id}, doc, upsert=True)


def _group_from_doc(doc: Doc) -> Group:
    return Group(
        id=str(doc["_id"]), org_id=doc["orgId"], name=doc["name"], rank=doc["rank"],
        created_by=doc["createdBy"], created_on=doc["createdOn"],
        last_updated_by=doc["lastUpdatedBy"], last_updated_on=doc["lastUpdatedOn"],
        is_active=doc["isActive"],
    )
