"""What the raw ceiling reads and writes, worked out before its clock starts. Pure.

The worker's own decisions (service.domain.dispatch.decide), taken in the mix's order, give
each command's log entry (its result and effects, encoded as the worker logs them) and its
effects; a decision answered otherwise than the mix expects raises, so the mix and the
worker's domain must agree. The commands are then split into lanes: claims and unclaims by
the claim they write (a claim's commands stay in order, in one lane), and every group
command in one lane of its own, in the mix's order (a rename must follow its group's
creation; the worker keeps them apart by topic and the sender orders them). A lane of one
kind touches fewer collections per batch than a mixed one: fewer statements, as in the
worker's topics. Each lane is cut into batches, and each batch into the work the worker does
for it (service/store/mongo.py), each part by the cheapest correct operation:
- read: the batch's log entries, and the claims, groups and names its commands read (one
  `$in` on _id per collection, as Store.find_logged and Store.load);
- log: one insert of the batch's entries, before any effect;
- apply: the effects collapsed per document (it keeps the last): new claims and groups
  inserted, existing ones updated by _id alone (nothing else writes them here, so no fence
  condition), reserved names inserted (the insert is the uniqueness check), released
  names deleted by _id;
- done: one insert of the done-markers, and one of the keys for the log's retention.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from bson import ObjectId
from pymongo import UpdateOne

from badges_schemas import Command, Topics, parse
from badges_schemas.commands import ClaimBadge
from service.domain.dispatch import decide
from service.domain.model import Decision, Group, ReleaseName, ReserveName, SaveGroup, SetClaim
from service.domain.state import Reads, Snapshot
from service.store.codec import effects_to_log
from service.store.docs import (
    Fence,
    claim_doc,
    claim_id,
    claim_writes,
    name_id,
    reservation_doc,
    written_document,
)
from service.worker.handler import log_key, result_json
from tests.benchmarks.mix import BenchCommand, accepted_types
from tests.benchmarks.verify import difference

Doc = dict[str, Any]
TOPICS = Topics("ceiling")
CLAIM_UPDATE = ("isActive", "lastUpdatedBy", "lastUpdatedOn", "fence")


@dataclass
class Batch:
    commands: int
    log_keys: list[str] = field(default_factory=list)
    claim_ids: list[str] = field(default_factory=list)
    group_ids: list[ObjectId] = field(default_factory=list)
    group_orgs: list[int] = field(default_factory=list)
    name_ids: list[str] = field(default_factory=list)
    log_docs: list[Doc] = field(default_factory=list)
    new_claims: list[Doc] = field(default_factory=list)
    claim_updates: list[UpdateOne] = field(default_factory=list)
    new_groups: list[Doc] = field(default_factory=list)
    group_updates: list[UpdateOne] = field(default_factory=list)
    reservations: list[Doc] = field(default_factory=list)
    releases: list[str] = field(default_factory=list)


@dataclass
class Plan:
    lanes: list[list[Batch]]
    expected: dict[str, int]  # documents per collection once every batch is done
    commands: int


Decided = tuple[BenchCommand, Command, Decision]


def plan(commands: Sequence[BenchCommand], claim_lanes: int, batch_size: int) -> Plan:
    """`claim_lanes` lanes of claims and unclaims, and one of group commands."""
    decided = decide_all(commands)
    by_lane: list[list[Decided]] = [[] for _ in range(claim_lanes + 1)]
    for item in decided:
        by_lane[lane_of(item[1], claim_lanes)].append(item)
    state = _Stored()
    batches = [[state.batch(items[i:i + batch_size], lane, i)
                for i in range(0, len(items), batch_size)]
               for lane, items in enumerate(by_lane)]
    return Plan([b for b in batches if b], state.expected(len(commands)), len(commands))


def decide_all(commands: Sequence[BenchCommand], snapshot: Snapshot | None = None
               ) -> list[Decided]:
    """The worker's decision for each command, in order, each against the state the ones
    before it left (from `snapshot`, else from nothing)."""
    accepted = accepted_types(TOPICS)
    snapshot = snapshot if snapshot is not None else Snapshot()
    decided = []
    for c in commands:
        command = parse(c.value, accepted[c.topic(TOPICS)])
        assert isinstance(command, Command), command
        decision = decide(command, snapshot, c.at)
        problem = difference(c, json.loads(result_json(command, decision)))
        if problem is not None:
            raise ValueError(f"the mix expects otherwise of {c.kind} {c.command_id}: {problem}")
        for effect in decision.effects:
            snapshot.apply(effect)
        decided.append((c, command, decision))
    return decided


def lane_of(command: Command, claim_lanes: int) -> int:
    """A claim's lane by the claim it writes; the group lane (the last) for the others."""
    if not isinstance(command.payload, ClaimBadge):  # an UnclaimBadge is one too
        return claim_lanes
    document = written_document(command)
    assert document is not None
    return zlib.crc32(document.encode()) % claim_lanes


def group_document(group: Group, fence: Fence | None) -> Doc:
    """A group as the worker stores it (without its _id)."""
    doc: Doc = {"orgId": group.org_id, "name": group.name, "rank": group.rank,
                "createdBy": group.created_by, "createdOn": group.created_on,
                "lastUpdatedBy": group.last_updated_by,
                "lastUpdatedOn": group.last_updated_on, "isActive": group.is_active}
    if fence is not None:
        doc["fence"] = fence.as_doc()
    return doc


class _Stored:
    """What the batches planned so far have left in the database."""

    def __init__(self) -> None:
        self.claims: set[Any] = set()  # ClaimKey
        self.active: set[Any] = set()
        self.groups: set[str] = set()
        self.names: set[str] = set()

    def expected(self, commands: int) -> dict[str, int]:
        return {"badge_claims": len(self.claims), "active_claims": len(self.active),
                "badge_groups": len(self.groups), "group_names": len(self.names),
                "commands": commands, "commands_done": commands}

    def batch(self, items: Sequence[Decided], lane: int, first_offset: int) -> Batch:
        batch = Batch(len(items))
        reads = Reads()
        claims: list[tuple[SetClaim, Fence | None]] = []
        saves: dict[str, tuple[Group, bool, Fence]] = {}
        names: dict[str, tuple[ReserveName | None, Fence, str]] = {}
        for offset, (_, command, decision) in enumerate(items, first_offset):
            reads.add(command)
            fence, key = Fence(lane, offset), log_key(command)
            batch.log_keys.append(key)
            batch.log_docs.append(_log_doc(key, command, decision, lane, offset))
            for effect in decision.effects:
                if isinstance(effect, SetClaim):
                    claims.append((effect, fence))
                elif isinstance(effect, SaveGroup):
                    created = effect.created or saves.get(effect.group.id, (None, False))[1]
                    saves[effect.group.id] = (effect.group, created, fence)
                elif isinstance(effect, ReserveName):
                    names[name_id(effect.org_id, effect.name)] = (effect, fence, key)
                elif isinstance(effect, ReleaseName):
                    names[name_id(effect.org_id, effect.name)] = (None, fence, key)
        self._reads(batch, reads)
        self._claims(batch, claims)
        self._groups(batch, saves)
        self._names(batch, names)
        return batch

    @staticmethod
    def _reads(batch: Batch, reads: Reads) -> None:
        batch.claim_ids = [claim_id(k) for k in reads.claims]
        batch.group_ids = [ObjectId(gid) for _, gid in reads.groups]
        batch.group_orgs = sorted({org for org, _ in reads.groups})
        batch.name_ids = [name_id(org, name) for org, name in reads.names]

    def _claims(self, batch: Batch, effects: list[tuple[SetClaim, Fence | None]]) -> None:
        new, existing = claim_writes(effects, frozenset(self.claims))
        batch.new_claims = [claim_doc(w) for w in new]
        for write in existing:
            doc = claim_doc(write)
            batch.claim_updates.append(UpdateOne(
                {"_id": doc["_id"]}, {"$set": {k: doc[k] for k in CLAIM_UPDATE if k in doc}}))
        for write in new + existing:
            self.claims.add(write.last.key)
            (self.active.add if write.last.is_active else self.active.discard)(write.last.key)

    def _groups(self, batch: Batch, saves: dict[str, tuple[Group, bool, Fence]]) -> None:
        for group_id, (group, created, fence) in saves.items():
            doc = group_document(group, fence)
            if created and group_id not in self.groups:
                batch.new_groups.append({"_id": ObjectId(group_id), **doc})
            else:
                batch.group_updates.append(UpdateOne({"_id": ObjectId(group_id)}, {"$set": doc}))
            self.groups.add(group_id)

    def _names(self, batch: Batch,
               names: dict[str, tuple[ReserveName | None, Fence, str]]) -> None:
        for _id, (reserved, fence, key) in names.items():
            if reserved is not None and _id not in self.names:
                batch.reservations.append(reservation_doc(reserved, fence, key))
                self.names.add(_id)
            elif reserved is None and _id in self.names:
                batch.releases.append(_id)
                self.names.discard(_id)


def _log_doc(key: str, command: Command, decision: Decision, lane: int, offset: int) -> Doc:
    """The log entry as Store.log_pending writes it (loggedAt is set when it is written)."""
    return {"_id": key, "result": result_json(command, decision),
            "effects": effects_to_log(decision.effects),
            "origin": {"topic": TOPICS.command(command.type), "partition": lane,
                       "offset": offset, "epoch": 0}}
