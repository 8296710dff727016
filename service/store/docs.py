"""The documents the store writes, the write operations on them, and their fences.

A fence is the Kafka position (partition, offset) of the command whose effect a document
reflects last. All commands about one claim, and all updates of one group, share one
partition (the message key is the entity), so a newer command always has a larger offset.
A fenced write lands only where the document does not already reflect this position or a
later one of the same partition: a worker that lost its partitions while frozen (a zombie)
then cannot overwrite what the new owner applied since. A group's creation comes from
another topic than its updates, so it carries no fence: it only inserts (a late replay of
it changes nothing), and its name reservation is known as the creation's by having none.
A name reservation also records the command that made it: a worker that loses the race to
log a command (two workers decided it, against names that changed in between) may have
reserved a name the logged decision does not, which no position would show as stale.
A fence also carries its epoch (service/store/epochs.py): offsets order commands only within one
incarnation of the topic and one partition layout, so a fence of a later epoch is newer
than any of an earlier one, and two of one epoch compare as above. A fence without an
epoch was written before epochs existed: it is of epoch 0.
A document written before fences existed has none and takes any write. Unfenced writes
(the fence turned off, only to show in tests what it prevents) are those of earlier
releases.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from bson import ObjectId
from pymongo import ReplaceOne, UpdateOne

from badges_schemas import Command
from badges_schemas.commands import ClaimBadge, UpdateBadgeGroup
from service.domain.decisions import claim_key
from service.domain.model import ClaimKey, Effect, Group, ReserveName, SaveGroup, SetClaim

Doc = dict[str, Any]


@dataclass(frozen=True)
class Fence:
    partition: int
    offset: int
    epoch: int = 0

    def as_doc(self) -> Doc:
        doc: Doc = {"p": self.partition, "o": self.offset}
        if self.epoch:  # epoch 0 is written as before epochs: old workers compare it alike
            doc["e"] = self.epoch
        return doc


E = TypeVar("E")


def in_fence_order(effects: Sequence[tuple[E, Fence | None]]) -> list[tuple[E, Fence | None]]:
    """A batch's effects on one document, oldest position first (unfenced ones, creations,
    before all), the batch's order kept among equals. A batch's order is not always the
    positions' order: a resent command whose first copy's entry is pending replays that
    entry's effects where the copy sits, after newer decisions of the same document."""
    return sorted(effects, key=lambda e: (-1, 0) if e[1] is None else (e[1].epoch, e[1].offset))


def latest(fences: Iterable[Fence | None]) -> Fence | None:
    known = [f for f in fences if f is not None]
    return max(known, key=lambda f: (f.epoch, f.offset)) if known else None


def _of_epoch(epoch: int) -> Doc:
    return {"fence.e": epoch} if epoch else {"fence.e": {"$exists": False}}


def not_past(fence: Fence) -> Doc:
    """Matches documents that do not reflect `fence` or a later position: one of a later
    epoch, or of its epoch and partition at or after its offset."""
    return {"$nor": [{"fence.e": {"$gt": fence.epoch}},
                     {**_of_epoch(fence.epoch), "fence.p": fence.partition,
                      "fence.o": {"$gte": fence.offset}}]}


def is_past(stored: Fence | None, fence: Fence) -> bool:
    """True if a document at `stored` reflects `fence` or a later position (`not_past`
    would not match it)."""
    if stored is None or stored.epoch < fence.epoch:
        return False
    return stored.epoch > fence.epoch or (stored.partition == fence.partition
                                          and stored.offset >= fence.offset)


def fence_from_doc(doc: Doc | None) -> Fence | None:
    return Fence(doc["p"], doc["o"], doc.get("e", 0)) if doc else None


def written_document(command: Command) -> str | None:
    """The _id (as a string) of the fenced document the command would write, if any (a
    creation's writes are not fenced)."""
    payload = command.payload
    if isinstance(payload, ClaimBadge):  # an UnclaimBadge too
        return claim_id(claim_key(command.orgId, payload))
    if isinstance(payload, UpdateBadgeGroup):
        return payload.groupId.lower()
    return None


# -- claims -----------------------------------------------------------------------------

def claim_id(key: ClaimKey) -> str:
    # Unambiguous although referenceId may hold ":": the three fields before it cannot.
    return f"{key.org_id}:{key.badge_id}:{key.owner_type}:{key.reference_id}"


@dataclass(frozen=True)
class ClaimWrite:
    """A batch's effects on one claim: the first creates it, the last leaves its state."""

    first: SetClaim
    last: SetClaim
    fence: Fence | None


def claim_writes(effects: Sequence[tuple[SetClaim, Fence | None]], stored: frozenset[ClaimKey]
                 ) -> tuple[list[ClaimWrite], list[ClaimWrite]]:
    """The writes of claims with no document yet (to insert), and of the others."""
    by_key: dict[ClaimKey, list[tuple[SetClaim, Fence | None]]] = {}
    for effect, fence in effects:
        by_key.setdefault(effect.key, []).append((effect, fence))
    writes = []
    for of_key in by_key.values():
        ordered = in_fence_order(of_key)
        writes.append(ClaimWrite(ordered[0][0], ordered[-1][0], latest(f for _, f in ordered)))
    return ([w for w in writes if w.first.key not in stored],
            [w for w in writes if w.first.key in stored])


def _created(first: SetClaim) -> Doc:
    key = first.key
    return {"orgId": key.org_id, "badgeMetaId": ObjectId(key.badge_id),
            "ownerType": str(key.owner_type), "referenceId": key.reference_id,
            "createdBy": first.actor_id, "createdOn": first.at}


def _updated(write: ClaimWrite) -> Doc:
    last = write.last
    doc: Doc = {"isActive": last.is_active, "lastUpdatedBy": last.actor_id,
           "lastUpdatedOn": last.at}
    if write.fence is not None:
        doc["fence"] = write.fence.as_doc()
    return doc


def claim_doc(write: ClaimWrite) -> Doc:
    """A new claim as the write leaves it: what `claim_op` would upsert."""
    return {"_id": claim_id(write.first.key), **_created(write.first), **_updated(write)}


def claim_op(write: ClaimWrite, fenced: bool = True) -> UpdateOne:
    """Fenced: the stored claim as the write leaves it, if it is not newer already.
    Unfenced: an upsert, as releases before fences wrote."""
    _id = claim_id(write.first.key)
    if write.fence is None or not fenced:
        return UpdateOne({"_id": _id},
                         {"$set": _updated(write), "$setOnInsert": _created(write.first)},
                         upsert=True)
    return UpdateOne({"_id": _id, **not_past(write.fence)}, {"$set": _updated(write)})


# -- groups -----------------------------------------------------------------------------

def _group_doc(group: Group) -> Doc:
    return {"_id": ObjectId(group.id), "orgId": group.org_id, "name": group.name,
            "rank": group.rank, "createdBy": group.created_by, "createdOn": group.created_on,
            "lastUpdatedBy": group.last_updated_by, "lastUpdatedOn": group.last_updated_on,
            "isActive": group.is_active}


def group_op(saves: Sequence[tuple[SaveGroup, Fence | None]], fenced: bool = True
             ) -> UpdateOne | ReplaceOne[Doc]:
    """One write for a batch's saves of one group, which leaves it as the last one does.

    A creation inserts the group only if it does not exist: replayed late (by a zombie, or
    after a crash), it must not undo the updates applied since. An update changes the
    stored group if it is not newer. Unfenced: a replacing upsert, as before fences.
    """
    saves = in_fence_order(saves)
    group = saves[-1][0].group
    fence = latest(f for _, f in saves)
    doc = _group_doc(group)
    if not fenced:
        return ReplaceOne({"_id": doc["_id"], "orgId": group.org_id}, doc, upsert=True)
    _id = doc.pop("_id")
    if fence is not None:
        doc["fence"] = fence.as_doc()
    if any(save.created for save, _ in saves):
        return UpdateOne({"_id": _id}, {"$setOnInsert": doc}, upsert=True)
    if fence is None:
        raise ValueError(f"an update of group {group.id} without a fence")
    return UpdateOne({"_id": _id, "orgId": group.org_id, **not_past(fence)}, {"$set": doc})


def group_ops(saves: Sequence[tuple[SaveGroup, Fence | None]], fenced: bool = True
              ) -> list[UpdateOne | ReplaceOne[Doc]]:
    """The writes for a batch's saves of one group, in order: one, or two when the batch
    created the group and then updated it (one agent takes both topics). Collapsed into one
    insert-if-absent, the updates would be lost whenever the group was inserted already (by
    an earlier attempt of the batch, or a worker before a rebalance); as the creation, then
    the updates fenced, they land either way."""
    saves = in_fence_order(saves)
    last_created = max((n for n, (save, _) in enumerate(saves) if save.created), default=None)
    if not fenced or last_created is None or last_created == len(saves) - 1:
        return [group_op(saves, fenced)]
    return [group_op(saves[:last_created + 1]), group_op(saves[last_created + 1:])]


def group_from_doc(doc: Doc) -> Group:
    return Group(
        id=str(doc["_id"]), org_id=doc["orgId"], name=doc["name"], rank=doc["rank"],
        created_by=doc["createdBy"], created_on=doc["createdOn"],
        last_updated_by=doc["lastUpdatedBy"], last_updated_on=doc["lastUpdatedOn"],
        is_active=doc["isActive"],
    )


# -- name reservations ------------------------------------------------------------------

def name_id(org_id: int, name: str) -> str:
    return f"{org_id}:{name}"


def reservation_doc(effect: ReserveName, fence: Fence | None, command: str | None) -> Doc:
    """`command`: the log key of the command whose decision makes it (see `makes`)."""
    doc: Doc = {"_id": name_id(effect.org_id, effect.name), "orgId": effect.org_id,
                "name": effect.name, "groupId": ObjectId(effect.group_id)}
    if fence is not None:
        doc["fence"] = fence.as_doc()
    if command is not None:
        doc["command"] = command
    return doc


def makes(effects: Iterable[Effect], reservation: Doc) -> bool:
    """True if a decision with these effects reserves the name for the group."""
    wanted = ReserveName(reservation["orgId"], reservation["name"], str(reservation["groupId"]))
    return wanted in effects


def same_reservation(doc: Doc) -> Doc:
    """Matches this reservation, not a later one of the same name."""
    fence = doc.get("fence")
    made_by = {**_of_epoch(fence.get("e", 0)), "fence.p": fence["p"],
               "fence.o": fence["o"]} if fence else {"fence": {"$exists": False}}
    return {"_id": doc["_id"], "groupId": doc["groupId"], **made_by}


def is_stale(reservation: Doc, group: Doc | None) -> bool:
    """True if the holding group has moved past the command that made the reservation.

    A group's creation reserves its name before the group is stored, and an update its new
    name before the update is stored: a group that is absent, or not yet at that update, may
    still take the name, so its reservation holds. A group stored at or after that command
    under another name has left the name: the reservation was written after its release, by
    a zombie, and nothing else would remove it.
    """
    if group is None or group["name"] == reservation["name"]:
        return False
    made_by = fence_from_doc(reservation.get("fence"))
    if made_by is None:  # made by the creation, which the stored group is past
        return True
    return is_past(fence_from_doc(group.get("fence")), made_by)
