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
                `bucket`: the retention bucket it was written in (service/store/expiry_policy.py)
- commands_expiry  the keys of the entries marked done, per time bucket, for the log's
                retention (service/store/expiry.py)
- fence_epochs  _id = a command topic: its fence epochs (service/store/epochs.py), in order
Every query carries orgId (or an _id that embeds it): one tenant cannot reach another's data.
Reads and writes go by _id, equality or `$in` (the gateway's group listing: a string
range): the _id index serves them on MongoDB and on the test stack's patched FerretDB
(deploy/ferretdb/patches), which scans the whole collection for any other filter, `$or`
included. Only a worker's start reads groups whole (group_index.index_unindexed). A batch
reads each collection once, the collections concurrently, and inserts the claims that are
new (an insert is one statement for many documents; an upsert is a lookup and a write per
document).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from bson import ObjectId
from pymongo import AsyncMongoClient, DeleteOne, IndexModel, ReplaceOne, UpdateOne
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
from service.store import group_index
from service.store.codec import effects_from_log, effects_to_log
from service.store.docs import (
    ClaimWrite,
    Fence,
    claim_doc,
    claim_id,
    claim_op,
    claim_writes,
    fence_from_doc,
    group_from_doc,
    group_ops,
    is_stale,
    makes,
    name_id,
    not_past,
    reservation_doc,
    same_reservation,
)
from service.store.epochs import Epoch, Layout, following
from service.store.expiry import MARKER_BUCKET, CommandLogExpiry
from service.store.expiry_policy import bucket_of

Doc = dict[str, Any]
Positions = dict[str, Fence]  # a document's _id (as a string): the fence it is at
DUPLICATE_KEY = 11000
RESERVATION_ATTEMPTS = 5
EPOCH_ATTEMPTS = 5


@dataclass(frozen=True)
class LogEntry:
    key: str
    result: str  # the exact JSON of the result event, re-sent byte for byte on redelivery
    effects: tuple[Effect, ...]
    pending: bool = True
    fence: Fence | None = None  # where the command was read: its effects' fence on replay


def connect(settings: Settings) -> AsyncMongoClient[Doc]:
    """Create the client inside the running loop (PyMongo refuses to share one across loops)."""
    timeout_ms = int(settings.network_timeout_seconds * 1000)
    return AsyncMongoClient(
        settings.mongo_url, timeoutMS=timeout_ms, serverSelectionTimeoutMS=timeout_ms,
        tz_aware=True,
    )


def _log_entry(doc: Doc, pending: bool) -> LogEntry:
    origin = doc.get("origin") or {}
    fence = (Fence(origin["partition"], origin["offset"], origin.get("epoch", 0))
             if "offset" in origin else None)
    return LogEntry(doc["_id"], doc["result"], effects_from_log(doc["effects"]),
                    pending=pending, fence=fence)


def _any_id(ids: Iterable[Any]) -> Doc:
    return {"_id": {"$in": list(ids)}}


def _logged_without(reservation: Doc, group: Doc | None, entry: Doc | None) -> bool:
    """True if the reservation's command is logged with a decision that does not make it:
    the worker that made it decided otherwise than the one whose decision was logged, and
    lost the race to log. A group named so holds its name whatever the log says."""
    if entry is None or (group is not None and group["name"] == reservation["name"]):
        return False
    return not makes(effects_from_log(entry["effects"]), reservation)


def _stale(reservation: Doc, group: Doc | None, entry: Doc | None) -> bool:
    """A reservation its group has moved past (a zombie's), or one whose command is logged
    with another decision (a worker that lost the race to log)."""
    return is_stale(reservation, group) or _logged_without(reservation, group, entry)


async def _by_id(collection: AsyncCollection[Doc], ids: set[Any], projection: Doc
                 ) -> dict[Any, Doc]:
    """The documents with these _ids, by _id; no query for none (an empty `$in` is a scan
    on FerretDB)."""
    if not ids:
        return {}
    return {d["_id"]: d async for d in collection.find(_any_id(ids), projection)}


def _position(doc: Doc, positions: Positions) -> None:
    fence = fence_from_doc(doc.get("fence"))
    if fence is not None:
        positions[str(doc["_id"])] = fence


class Store:
    def __init__(self, db: AsyncDatabase[Doc], fence: bool = True,
                 clock: Callable[[], float] = time.time) -> None:
        """`clock`: seconds since the epoch, for the command log's retention (tests fake it)."""
        self.db = db
        self.fence = fence  # off only to show, in tests, what the fence prevents
        self.fenced_writes = 0  # writes refused because the document was newer
        self._unchecked: list[Doc] = []  # reservations made, their staleness not checked yet
        self._ahead: dict[str, Doc] = {}  # reservations made ahead of the batch's decisions
        self.claims = db["badge_claims"]
        self.groups = db["badge_groups"]
        self.names = db["group_names"]
        self.log = db["commands"]
        self.done = db["commands_done"]
        self.epochs = db["fence_epochs"]
        self.index = db[group_index.COLLECTION]
        self.expiry = CommandLogExpiry(db, self.log, self.done, clock)
        # Log entries whose effects this process has applied and whose done-markers may not
        # be stored yet (they are written while the batch's results are published).
        self._applied: set[str] = set()

    async def ping(self) -> None:
        """Raise unless the server answers (the caller bounds the wait: readiness probes)."""
        await self.db.client.admin.command("ping")

    async def ensure_indexes(self) -> None:
        # For readers of the data (per badge, per org); the service itself reads by _id.
        await self.claims.create_indexes([IndexModel([("orgId", 1), ("badgeMetaId", 1)])])
        await self.groups.create_indexes([IndexModel([("orgId", 1), ("name", 1)])])

    async def index_unindexed_groups(self) -> int:
        """Index the groups created before `group_index` existed (group_index.py)."""
        return await group_index.index_unindexed(self.index, self.groups)

    # -- the command log --------------------------------------------------------------

    async def find_logged(self, keys: Iterable[str]) -> dict[str, LogEntry]:
        found: dict[str, LogEntry] = {}
        wanted = set(keys)
        if not wanted:
            return found
        # Taken before the reads: an entry of this process's previous batch whose markers
        # land while they run leaves `_applied` then, and must still count as done.
        applied = set(self._applied)
        # The markers are read beside the entries, not after them: one round trip. A
        # marker written between the two reads is missed, and its entry taken as pending:
        # the state of a batch redelivered before its markers were stored, which replays.
        docs, done = await asyncio.gather(self.log.find(_any_id(wanted)).to_list(),
                                          self._marked(wanted))
        unmarked = {d["_id"] for d in docs} - done - applied
        if unmarked:
            unmarked = await self._still_logged(unmarked)
        for doc in docs:
            key = doc["_id"]
            if key in done or key in applied or key in unmarked:
                found[key] = _log_entry(doc, pending=key in unmarked)
        return found

    async def _marked(self, keys: set[str]) -> set[str]:
        return {m["_id"] async for m in self.done.find(_any_id(keys), {"_id": 1})}

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
        # loggedAt: when the batch was decided, for whoever audits the order of decisions
        # (the chaos checker); the service itself never reads it.
        now = self.expiry.clock()
        docs = [
            {"_id": e.key, "result": e.result, "effects": effects_to_log(e.effects),
             "origin": origin, "loggedAt": now}
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

    async def load(self, reads: Reads) -> tuple[Snapshot, Positions]:
        """The state the commands read, and the fences of the documents they would write
        (read in the same queries)."""
        (active, stored, claimed), (groups, grouped), names = await asyncio.gather(
            self._claims(reads.claims), self._groups(reads.groups), self._names(reads.names)
        )
        snapshot = Snapshot(active_claims=active, groups=groups, names=names,
                            stored_claims=stored)
        return snapshot, {**claimed, **grouped}

    async def _claims(self, keys: set[ClaimKey]
                      ) -> tuple[set[ClaimKey], frozenset[ClaimKey], Positions]:
        """The keys whose claim is active, the keys that have a claim document, and the
        fences of those."""
        by_id = {claim_id(k): k for k in keys}
        active, stored = set(), set()
        positions: Positions = {}
        if by_id:
            async for doc in self.claims.find(_any_id(by_id), {"isActive": 1, "fence": 1}):
                stored.add(by_id[doc["_id"]])
                if doc["isActive"]:
                    active.add(by_id[doc["_id"]])
                _position(doc, positions)
        return active, frozenset(stored), positions

    async def _groups(self, keys: set[tuple[int, str]]
                      ) -> tuple[dict[tuple[int, str], Group], Positions]:
        groups: dict[tuple[int, str], Group] = {}
        positions: Positions = {}
        if not keys:
            return groups, positions
        # One $in on _id (an index lookup), not an $or of (_id, orgId) pairs (a scan on
        # FerretDB); the org of each group found is checked against the pair asked for.
        query = {"_id": {"$in": [ObjectId(gid) for _, gid in keys]},
                 "orgId": {"$in": sorted({org for org, _ in keys})}}
        async for doc in self.groups.find(query):
            group = group_from_doc(doc)
            if (group.org_id, group.id) in keys:
                groups[(group.org_id, group.id)] = group
                _position(doc, positions)
        return groups, positions

    async def _names(self, keys: set[tuple[int, str]]) -> dict[tuple[int, str], str]:
        names: dict[tuple[int, str], str] = {}
        if keys:
            async for doc in self.names.find(_any_id(name_id(org, n) for org, n in keys)):
                names[(doc["orgId"], doc["name"])] = str(doc["groupId"])
        return names

    # -- fence epochs -----------------------------------------------------------------

    async def open_epochs(self, topic: str, layout: Layout) -> list[Epoch]:
        """The topic's epochs, after opening a new one if the broker describes it otherwise
        than the latest (workers that find the same change at once open it once: each
        write is conditional on the epochs it read)."""
        for _ in range(EPOCH_ATTEMPTS):
            doc = await self.epochs.find_one({"_id": topic})
            recorded = [Epoch.from_doc(e) for e in doc["epochs"]] if doc else []
            new = following(recorded, layout)
            if new is None:
                return recorded
            if await self._record_epoch(topic, doc, new):
                return [*recorded, new]
        raise RuntimeError(f"the fence epochs of {topic} kept changing")

    async def _record_epoch(self, topic: str, doc: Doc | None, new: Epoch) -> bool:
        """Append `new`, if the record is still `doc`; False if another worker was first."""
        if doc is None:
            try:
                await self.epochs.insert_one({"_id": topic, "latest": new.number,
                                              "epochs": [new.as_doc()]})
            except DuplicateKeyError:
                return False
            return True
        result = await self.epochs.update_one(
            {"_id": topic, "latest": doc["latest"]},
            {"$set": {"latest": new.number}, "$push": {"epochs": new.as_doc()}})
        return result.matched_count == 1

    # -- writing ----------------------------------------------------------------------

    async def reserve_ahead(self, planned: Sequence[tuple[ReserveName, Fence | None, str]]
                            ) -> None:
        """Make the reservations a batch's decisions will ask for, in one bulk, before they
        are decided (service/worker/reservations.py); `reserve_name` then takes each one
        from here. A name held already is left to `reserve_name`. Once per batch: what an
        earlier batch made ahead and did not take is forgotten here (it was dropped, or
        its batch failed: then `reserve_name` finds it held for its group, as any retry)."""
        self._ahead = {}
        docs = [self._reservation(e, f, c) for e, f, c in planned]
        if not docs:
            return
        try:
            await self.names.insert_many(docs, ordered=False)
            taken: set[int] = set()
        except BulkWriteError as exc:
            errors = exc.details["writeErrors"]
            if any(e["code"] != DUPLICATE_KEY for e in errors):
                raise
            taken = {e["index"] for e in errors}
        self._ahead = {d["_id"]: d for i, d in enumerate(docs) if i not in taken}

    async def drop_unused(self) -> None:
        """Remove the reservations made ahead that no decision took (a decision changed by
        a name another worker held): before the batch is logged, so no logged decision
        ever counts on them."""
        unused, self._ahead = list(self._ahead.values()), {}
        await self._delete_reservations(unused)

    def _reservation(self, effect: ReserveName, fence: Fence | None, command: str | None
                     ) -> Doc:
        # Unfenced (tests only): a reservation as releases before fences made it.
        return (reservation_doc(effect, fence, command) if self.fence
                else reservation_doc(effect, None, None))

    async def reserve_name(self, effect: ReserveName, fence: Fence | None = None,
                           command: str | None = None, defer_check: bool = False) -> str:
        """Try to take the name for `command` (its log key); return the group that holds
        it afterwards. `defer_check`: its staleness check waits for `check_reservations`."""
        doc = self._reservation(effect, fence, command)
        if self._ahead.get(doc["_id"]) == doc:
            del self._ahead[doc["_id"]]
            return await self._made(doc, effect, defer_check)
        for _ in range(RESERVATION_ATTEMPTS):
            try:
                await self.names.insert_one(doc)
            except DuplicateKeyError:
                held = await self.names.find_one({"_id": doc["_id"]})
                if held is None:
                    continue  # released between our insert and this read
                if held["groupId"] == doc["groupId"] or not await self._drop_if_stale(held):
                    return str(held["groupId"])
                continue
            return await self._made(doc, effect, defer_check)
        return ""  # the name kept changing hands: the caller decides again

    async def _made(self, doc: Doc, effect: ReserveName, defer_check: bool) -> str:
        """A reservation we inserted: checked now, or with the batch's others."""
        if defer_check:
            self._unchecked.append(doc)
        elif await self._drop_if_stale(doc):
            self.fenced_writes += 1  # we are the zombie: our group moved on without us
        return effect.group_id

    async def check_reservations(self) -> None:
        """The staleness check (`_drop_if_stale`) of every reservation made with
        `defer_check` since the last call, all at once: the handler runs it before it logs
        the decisions that made them.
        The decision does not wait for it (a reservation found stale was ours to make, and
        is only removed), so a batch's creates and renames cost no round trip each, and
        their checks one read of the groups and one of the log, side by side."""
        made, self._unchecked = self._unchecked, []
        if not made or not self.fence:
            return
        group_of, entry_of = await asyncio.gather(
            _by_id(self.groups, {d["groupId"] for d in made}, {"name": 1, "fence": 1}),
            _by_id(self.log, {d["command"] for d in made if "command" in d}, {"effects": 1}))
        stale = [d for d in made
                 if _stale(d, group_of.get(d["groupId"]), entry_of.get(d.get("command")))]
        await self._delete_reservations(stale)
        self.fenced_writes += len(stale)  # we are the zombie: our group moved on without us

    async def _delete_reservations(self, reservations: Sequence[Doc]) -> None:
        """These reservations, each only as made (not a later one of its name): one bulk."""
        if reservations:
            await self.names.bulk_write([DeleteOne(same_reservation(d)) for d in reservations],
                                        ordered=False)

    async def _drop_if_stale(self, reservation: Doc) -> bool:
        """Remove a reservation left by a zombie (see docs.is_stale), or by a worker
        whose decision lost the race to log; True if it was. Also run on the reservation
        just made: a batch decides from names it read before, so a name left held would
        be answered 733 from that read, never asked for again. (Costs a read of the log
        for each reservation made by a create or a rename.)"""
        if not self.fence:
            return False
        # Both reads at once: one round trip for each reservation a batch makes.
        group, entry = await asyncio.gather(
            self.groups.find_one({"_id": reservation["groupId"]}, {"name": 1, "fence": 1}),
            self._entry_of(reservation))
        if not _stale(reservation, group, entry):
            return False
        await self.names.delete_one(same_reservation(reservation))
        return True

    async def _entry_of(self, reservation: Doc) -> Doc | None:
        """The log entry of the command that made the reservation, if it has one."""
        command = reservation.get("command")
        if command is None:
            return None
        return await self.log.find_one({"_id": command}, {"effects": 1})

    async def release_name(self, effect: ReleaseName, fence: Fence | None = None) -> None:
        """Give the name up, unless a later command of the group reserved it again."""
        await self.release_names([(effect, fence)])

    async def release_names(self, releases: Sequence[tuple[ReleaseName, Fence | None]]
                            ) -> None:
        """`release_name` for each, in one bulk of deletes (one round trip, not one each)."""
        if releases:
            await self.names.bulk_write([DeleteOne(self._release_query(e, f))
                                         for e, f in releases], ordered=False)

    def _release_query(self, effect: ReleaseName, fence: Fence | None) -> Doc:
        return {"_id": name_id(effect.org_id, effect.name), "groupId": ObjectId(effect.group_id),
                **(not_past(fence) if fence and self.fence else {})}

    async def apply(self, effects: Sequence[tuple[Effect, Fence | None]],
                    stored_claims: frozenset[ClaimKey] = frozenset()) -> None:
        """Make claim and group effects durable; each write is idempotent and fenced.

        Effects on one document collapse into one write that leaves it as the last effect
        would (a hot claim toggled 100 times in a batch is written once). Documents are
        independent, so their order does not matter and the writes run concurrently.
        Claims not in `stored_claims` are inserted; the others are updated. Releases are
        made again once the groups are written: a zombie's reservation that landed after
        the first release and before its group's newer state is removed by this one.
        A created group is indexed beside its first write (group_index.py).
        """
        claims = [(e, f) for e, f in effects if isinstance(e, SetClaim)]
        new, existing = claim_writes(claims, stored_claims)
        saves: dict[str, list[tuple[SaveGroup, Fence | None]]] = {}
        for e, f in effects:
            if isinstance(e, SaveGroup):
                saves.setdefault(e.group.id, []).append((e, f))
        created = [(e.group.org_id, e.group.id) for e, _ in effects
                   if isinstance(e, SaveGroup) and e.created]
        await asyncio.gather(
            self._insert_claims(new),
            self._write(self.claims, [claim_op(w, self.fence) for w in existing]),
            # Ordered: a group created and updated in one batch has two writes (group_ops).
            self._write(self.groups, [op for s in saves.values()
                                      for op in group_ops(s, self.fence)], ordered=True),
            group_index.add(self.index, created),
        )
        await self.release_names([(e, f) for e, f in effects if isinstance(e, ReleaseName)])

    async def _insert_claims(self, claims: Sequence[ClaimWrite]) -> None:
        if not claims:
            return
        try:
            await self.claims.insert_many([claim_doc(c) for c in claims], ordered=False)
        except BulkWriteError as exc:
            errors = exc.details["writeErrors"]
            if any(e["code"] != DUPLICATE_KEY for e in errors):
                raise
            # Written since the batch read it (by a retry of this batch, or by a worker that
            # held the partition before a rebalance): update those, as for existing claims.
            await self._write(self.claims,
                              [claim_op(claims[e["index"]], self.fence) for e in errors])

    async def _write(self, collection: AsyncCollection[Doc],
                     ops: Sequence[UpdateOne | ReplaceOne[Doc]], ordered: bool = False) -> None:
        """One bulk (MongoDB splits large ones itself); counts the fenced writes.

        Stock FerretDB 1.24 never answers a bulk of 70 or more updates of existing
        documents; its patch 0002 fixes that. Fenced updates never upsert: a conditional
        upsert that finds the document newer fails with a duplicate key, which FerretDB
        reports in bulks without the counts PyMongo needs.
        """
        if not ops:
            return
        result = await collection.bulk_write(ops, ordered=ordered)
        self.fenced_writes += len(ops) - result.matched_count - result.upserted_count
