"""Each org's groups, in groupId order: what `GET .../group` pages through.

Collection `group_index`: one document per group, _id = "<orgId>:<GROUPID>" (the id's hex
digits in upper case), inserted when the group is created, never updated or removed (a
group is never deleted: an inactive one is filtered when read). A page is one `_id` range
of the org's entries and one `$in` of their ids on `badge_groups`, the read model
`GET .../group/{id}` answers from, so both always show a group alike. ObjectIds begin with
their creation second, so groupId order is creation order to the second.
Why entries of their own, not a query on `badge_groups`: the test stack's FerretDB serves
only `_id` from an index (deploy/ferretdb/patches: equality, `$in`, and string ranges whose
bounds are plain text, hence upper-case hex); any other filter reads the whole collection.
Why one document per group, not one list per org: FerretDB applies an update by reading
the document and writing it back, so two workers adding to one list lose one addition;
an insert is atomic, and a duplicate one fails harmlessly.
The entry is inserted beside the group (same batch, same retries: a batch that fails is
applied again), so an entry may name a group not written yet, never the other way round
once its command is answered. Groups created before entries existed are added by
`index_unindexed`, run as a worker starts.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from bson import ObjectId
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import BulkWriteError

from service.domain.model import Group
from service.store.docs import group_from_doc

Doc = dict[str, Any]
COLLECTION = "group_index"
DUPLICATE_KEY = 11000


def entry_id(org_id: int, group_id: str) -> str:
    return f"{org_id}:{group_id.upper()}"


class UnknownCursorError(ValueError):
    """`after` names no group of the org."""


@dataclass(frozen=True)
class Page:
    groups: list[Group]
    next_after: str | None  # the last group's id when more entries follow, else None


async def add(index: AsyncCollection[Doc], created: Iterable[tuple[int, str]]) -> None:
    """An entry for each (orgId, groupId); those present already are left as they are."""
    docs = {entry_id(org, gid): {"_id": entry_id(org, gid), "orgId": org,
                                 "groupId": ObjectId(gid)} for org, gid in created}
    if not docs:
        return
    try:
        await index.insert_many(list(docs.values()), ordered=False)
    except BulkWriteError as exc:
        if any(e["code"] != DUPLICATE_KEY for e in exc.details["writeErrors"]):
            raise


async def index_unindexed(index: AsyncCollection[Doc], groups: AsyncCollection[Doc]) -> int:
    """Add the entries of groups that have none (created before entries existed); return
    how many. Reads both collections whole: once per worker start."""
    indexed = {doc["_id"] async for doc in index.find({}, {"_id": 1})}
    missing = [(doc["orgId"], str(doc["_id"])) async for doc in groups.find({}, {"orgId": 1})
               if entry_id(doc["orgId"], str(doc["_id"])) not in indexed]
    await add(index, missing)
    return len(missing)


async def page(index: AsyncCollection[Doc], groups: AsyncCollection[Doc], org_id: int,
               after: str | None, limit: int, include_inactive: bool) -> Page:
    """Up to `limit` of the org's groups after `after` (from the first without), active
    ones only unless `include_inactive`."""
    if after is not None and await index.find_one({"_id": entry_id(org_id, after)}) is None:
        raise UnknownCursorError(f"after: {after} is not a group of this org")
    cursor = entry_id(org_id, after) if after is not None else f"{org_id}:"
    found: list[Group] = []
    more = True
    while more and len(found) < limit:
        wanted = limit - len(found)
        # $gt/$lt on strings: the patched FerretDB reads only this org's entries after the
        # cursor through the _id index. One more than wanted tells whether more follow.
        entries = await index.find({"_id": {"$gt": cursor, "$lt": f"{org_id};"}},
                                   {"groupId": 1}).sort("_id").limit(wanted + 1).to_list()
        more = len(entries) > wanted
        entries = entries[:wanted]
        if entries:
            cursor = entries[-1]["_id"]
        found += _shown([e["groupId"] for e in entries],
                        await _groups(groups, org_id, entries), include_inactive)
    return Page(found, found[-1].id if more and found else None)


async def _groups(groups: AsyncCollection[Doc], org_id: int, entries: Sequence[Doc]
                  ) -> dict[ObjectId, Doc]:
    if not entries:
        return {}  # an empty $in is a scan on FerretDB
    # orgId in the filter too: a read never returns another org's group.
    ids = [e["groupId"] for e in entries]
    return {d["_id"]: d async for d in groups.find({"_id": {"$in": ids}, "orgId": org_id})}


def _shown(ids: Sequence[ObjectId], docs: dict[ObjectId, Doc], include_inactive: bool
           ) -> list[Group]:
    """The groups in entry order; an entry whose group is not written yet is skipped."""
    shown = [group_from_doc(docs[oid]) for oid in ids if oid in docs]
    return [g for g in shown if include_inactive or g.is_active]
