"""MongoDB persistence through PyMongo's async API. Knows documents, decides nothing.

Collections:
- badge_claims  one document per (orgId, badgeMetaId, ownerType, referenceId), whose _id
                joins those four; soft delete
- badge_groups  one document per group, _id = the group's ObjectId
- group_names   _id = "<orgId>:<name>": a name reservation; inserting it is the uniqueness
                check (FerretDB reports duplicate keys on inserts only, MongoDB everywhere)
- commands      the processed-command log, _id = "<orgId>:<commandId>": stored result and
                effects, so a redelivered command is answered identically and applied once
- commands_done _id = a log _id whose effects are all stored; a log entry without one is
                pending. A separate insert, not an update of the entry: FerretDB updates
                cost a scan each (2.3 s for 100 entries among 2900, against 3 ms to insert)
Every query carries orgId (or an _id that embeds it): one tenant cannot reach another's data.
Writes and reads go by _id where they can: FerretDB (the test server) scans the whole
collection for other filters, which made a batch of claim upserts 20 times slower. It also
scans for `$in` and `$or`, even on _id (93 ms against 12 ms for a plain _id match in a
3000-document collection), so a lookup of one document is written as a plain match.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
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
from service.settings import Settings
from service.store_codec import effect_from_doc, effect_to_doc

Doc = dict[str, Any]
BULK_CHUNK = 50
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
    """Match documents by _id; one id as a plain match, which FerretDB looks up by index."""
    listed = list(ids)
    return {"_id": listed[0]} if len(listed) == 1 else {"_id": {"$in": listed}}


def _name_id(org_id: int, name: str) -> str:
    return f"{org_id}:{name}"


class Store:
    def __init__(self, db: AsyncDatabase[Doc]) -> None:
        self.db = db
        self.claims = db["badge_claims"]
        self.groups = db["badge_groups"]
        self.names = db["group_names"]
        self.log = db["commands"]
        self.done = db["commands_done"]

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
        for doc in docs:
            effects = tuple(effect_from_doc(e) for e in doc["effects"])
            key = doc["_id"]
            found[key] = LogEntry(key, doc["result"], effects, pending=key not in done)
        return found

    async def log_pending(self, entries: Sequence[LogEntry], origins: Sequence[Doc]) -> None:
        if not entries:
            return
        docs = [
            {"_id": e.key, "result": e.result, "effects": [effect_to_doc(x) for x in e.effects],
             "origin": origin}
            for e, origin in zip(entries, origins, strict=True)
        ]
        await self.log.insert_many(docs, ordered=True)

    async def mark_done(self, keys: Sequence[str]) -> None:
        if not keys:
            return
        try:
            await self.done.insert_many([{"_id": key} for key in keys], ordered=False)
        except BulkWriteError as exc:
            # Marked already by another worker that ran the same batch during a rebalance.
            if any(e["code"] != DUPLICATE_KEY for e in exc.details["writeErrors"]):
                raise

    # -- reading state ----------------------------------------------------------------

    async def load(self, reads: Reads) -> Snapshot:
        snapshot = Snapshot()
        if reads.claims:
            snapshot.active_claims = await self._active_claims(reads.claims)
        if reads.groups:
            snapshot.groups = await self._groups(reads.groups)
        if reads.names:
            ids = [_name_id(org, name) for org, name in reads.names]
            async for doc in self.names.find(_any_id(ids)):
                snapshot.names[(doc["orgId"], doc["name"])] = str(doc["groupId"])
        return snapshot

    async def _active_claims(self, keys: set[ClaimKey]) -> set[ClaimKey]:
        by_id = {_claim_id(k): k for k in keys}
        active = set()
        async for doc in self.claims.find(_any_id(by_id), {"isActive": 1}):
            if doc["isActive"]:
                active.add(by_id[doc["_id"]])
        return active

    async def _groups(self, keys: set[tuple[int, str]]) -> dict[tuple[int, str], Group]:
        clauses = [{"_id": ObjectId(gid), "orgId": org} for org, gid in keys]
        query = clauses[0] if len(clauses) == 1 else {"$or": clauses}
        groups = {}
        async for doc in self.groups.find(query):
            group = _group_from_doc(doc)
            groups[(group.org_id, group.id)] = group
        return groups

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

    async def apply(self, effects: Sequence[Effect]) -> None:
        """Make claim and group effects durable; each write is idempotent.

        Effects on one document collapse into one write that leaves it as the last effect
        would (a hot claim toggled 100 times in a batch is written once). Documents are
        independent, so their order does not matter.
        """
        claim_ops = _claim_ops([e for e in effects if isinstance(e, SetClaim)])
        saved = {e.group.id: e for e in effects if isinstance(e, SaveGroup)}
        await self._bulk(self.claims, claim_ops)
        await self._bulk(self.groups, [_group_op(e) for e in saved.values()])

    async def _bulk(self, collection: AsyncCollection[Doc], ops: Sequence[Any]) -> None:
        # Chunks, because FerretDB 1.24 stops answering a bulk of 100 updates that match
        # existing documents (70 pass); MongoDB splits large bulks itself anyway.
        for start in range(0, len(ops), BULK_CHUNK):
            await collection.bulk_write(ops[start:start + BULK_CHUNK], ordered=False)


def _claim_id(key: ClaimKey) -> str:
    # Unambiguous although referenceId may hold ":": the three fields before it cannot.
    return f"{key.org_id}:{key.badge_id}:{key.owner_type}:{key.reference_id}"


def _claim_ops(effects: Sequence[SetClaim]) -> list[UpdateOne]:
    first: dict[ClaimKey, SetClaim] = {}
    last: dict[ClaimKey, SetClaim] = {}
    for effect in effects:
        first.setdefault(effect.key, effect)
        last[effect.key] = effect
    return [_claim_op(first[key], last[key]) for key in last]


def _claim_op(first: SetClaim, last: SetClaim) -> UpdateOne:
    """The claim as `last` leaves it; created by `first` if it did not exist."""
    key = first.key
    created = {"orgId": key.org_id, "badgeMetaId": ObjectId(key.badge_id),
               "ownerType": str(key.owner_type), "referenceId": key.reference_id,
               "createdBy": first.actor_id, "createdOn": first.at}
    return UpdateOne(
        {"_id": _claim_id(key)},
        {"$set": {"isActive": last.is_active, "lastUpdatedBy": last.actor_id,
                  "lastUpdatedOn": last.at},
         "$setOnInsert": created},
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
