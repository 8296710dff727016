"""An in-memory stand-in for service.store.Store, for unit tests of the handler's batches.

It keeps the documents as store.py writes them (ObjectIds as hex strings), so that they
compare with the reference model's views, and answers the calls `handler.store_batch`
makes: log lookups, reads by id, name reservations, logging, applying effects.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import Any

from badges_schemas import CommandType, Topics, parse
from service.domain import model as m
from service.domain.state import Reads, Snapshot
from service.store.docs import Fence, is_past
from service.store.mongo import LogEntry
from service.worker.app import TOPIC_TYPES
from service.worker.handler import Incoming, Origin, Outgoing, store_batch

Doc = dict[str, Any]
# The topic suffix of each command topic, and the types it carries.
ACCEPTED = {Topics("x").command(t).split(".")[1]: types for t, types in TOPIC_TYPES.items()}


def claim_id(key: m.ClaimKey) -> str:
    return f"{key.org_id}:{key.badge_id}:{key.owner_type}:{key.reference_id}"


class MemoryStore:
    def __init__(self) -> None:
        self.claims: dict[str, Doc] = {}
        self.groups: dict[str, Doc] = {}
        self.names: dict[tuple[int, str], str] = {}
        # The fence of each reservation: a release made again after the name was reserved
        # anew by a later command (a rename back, in one batch) leaves it, as in store.py.
        self.name_fences: dict[tuple[int, str], Fence | None] = {}
        self.log: dict[str, LogEntry] = {}
        self.done: set[str] = set()
        self.fenced_writes = 0

    async def find_logged(self, keys: Iterable[str]) -> dict[str, LogEntry]:
        return {k: replace(self.log[k], pending=k not in self.done)
                for k in keys if k in self.log}

    async def load(self, reads: Reads) -> tuple[Snapshot, dict[str, Fence]]:
        stored = {k for k in reads.claims if claim_id(k) in self.claims}
        active = {k for k in stored if self.claims[claim_id(k)]["isActive"]}
        groups = {(org, gid): _group(self.groups[gid]) for org, gid in reads.groups
                  if gid in self.groups and self.groups[gid]["orgId"] == org}
        names = {n: self.names[n] for n in reads.names if n in self.names}
        # No positions: one process, no zombies, no epochs (see `apply`).
        return Snapshot(active, groups, names, frozenset(stored)), {}

    async def reserve_name(self, effect: m.ReserveName, fence: Fence | None = None,
                           command: str | None = None, defer_check: bool = False) -> str:
        name = (effect.org_id, effect.name)
        if name not in self.names:
            self.names[name], self.name_fences[name] = effect.group_id, fence
        return self.names[name]

    async def reserve_ahead(self, planned: Sequence[tuple[m.ReserveName, Fence | None, str]]
                            ) -> None:
        """Nothing ahead: `reserve_name` makes each one (the handler's path when a name
        reserved ahead was found taken)."""

    async def drop_unused(self) -> None:
        """Nothing was made ahead."""

    async def check_reservations(self) -> None:
        """One process, no zombies: no reservation is ever stale here."""

    async def release_name(self, effect: m.ReleaseName, fence: Fence | None = None) -> None:
        name = (effect.org_id, effect.name)
        held = self.name_fences.get(name)
        newer = fence is not None and is_past(held, fence)
        if self.names.get(name) == effect.group_id and not newer:
            del self.names[name]

    async def release_names(self, releases: Sequence[tuple[m.ReleaseName, Fence | None]]
                            ) -> None:
        for effect, fence in releases:
            await self.release_name(effect, fence)

    async def log_pending(self, entries: Sequence[LogEntry], origins: Sequence[Doc]) -> None:
        for entry in entries:
            assert entry.key not in self.log, f"{entry.key} logged twice"
            self.log[entry.key] = entry

    def applied(self, keys: Sequence[str]) -> None:
        self.done.update(keys)

    async def mark_done(self, keys: Sequence[str]) -> None:
        self.done.update(keys)

    async def apply(self, effects: Sequence[tuple[m.Effect, Fence | None]],
                    stored_claims: frozenset[m.ClaimKey] = frozenset()) -> None:
        # One process, no zombies: fences change nothing here. Releases come after the
        # groups' writes, as Store.apply makes them.
        for effect, _ in effects:
            if isinstance(effect, m.SetClaim):
                self._set_claim(effect)
            elif isinstance(effect, m.SaveGroup):
                self.groups[effect.group.id] = _group_doc(effect.group)
        for effect, fence in effects:
            if isinstance(effect, m.ReleaseName):
                await self.release_name(effect, fence)

    def _set_claim(self, effect: m.SetClaim) -> None:
        key = effect.key
        doc = self.claims.setdefault(claim_id(key), {
            "_id": claim_id(key), "orgId": key.org_id, "badgeMetaId": key.badge_id,
            "ownerType": str(key.owner_type), "referenceId": key.reference_id,
            "createdBy": effect.actor_id, "createdOn": effect.at,
        })
        doc.update(isActive=effect.is_active, lastUpdatedBy=effect.actor_id,
                   lastUpdatedOn=effect.at)

    def state(self) -> tuple[Doc, Doc, Doc, Doc]:
        """Everything durable: claims, groups, names and the logged results."""
        results = {k: e.result for k, e in self.log.items()}
        return self.claims, self.groups, dict(self.names), results


def _group_doc(g: m.Group) -> Doc:
    return {"_id": g.id, "orgId": g.org_id, "name": g.name, "rank": g.rank,
            "createdBy": g.created_by, "createdOn": g.created_on,
            "lastUpdatedBy": g.last_updated_by, "lastUpdatedOn": g.last_updated_on,
            "isActive": g.is_active}


def _group(doc: Doc) -> m.Group:
    return m.Group(doc["_id"], doc["orgId"], doc["name"], doc["rank"], doc["createdBy"],
                 doc["createdOn"], doc["lastUpdatedBy"], doc["lastUpdatedOn"], doc["isActive"])


Message = tuple[str, bytes | None, bytes | None, float]  # topic suffix, key, value, at


def incoming(message: Message, offset: int) -> Incoming:
    topic, key, value, at = message
    accepted: frozenset[CommandType] = ACCEPTED[topic]
    return Incoming(parse(value, accepted), key, value, Origin(topic, 0, offset, at))


def run_batches(store: MemoryStore, batches: Sequence[Sequence[Message]]) -> list[Outgoing]:
    """Each batch through the real handler, one after the other, as one agent would."""

    async def run() -> list[Outgoing]:
        out: list[Outgoing] = []
        offset = 0
        for batch in batches:
            stored = await store_batch([incoming(m, offset + i) for i, m in enumerate(batch)],
                                       store)  # type: ignore[arg-type]
            await store.mark_done(stored.done)
            out += stored.out
            offset += len(batch)
        return out

    return asyncio.run(run())
