"""What the REST gateway reads and writes in MongoDB: groups by id, idempotency records.

Collection `gateway_idempotency`: _id = "<orgId>:<commandId>" (the commandId the gateway
derived from an Idempotency-Key), `digest` = SHA-256 of the request it first carried,
`expiresAt`. Inserted, never updated: the insert is the check, so two gateways racing with
the same key agree on the one request the key stands for (FerretDB reports duplicate keys
on inserts only, MongoDB everywhere). An expired record counts as absent, and is replaced.
Every lookup goes by _id (the index FerretDB serves); only the hourly sweep of expired
records filters on another field. Groups are listed from `group_index` (group_index.py).
"""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from typing import Any

from bson import ObjectId
from pymongo import IndexModel
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from service.domain.model import Group
from service.store import group_index
from service.store.docs import group_from_doc
from service.store.group_index import Page

Doc = dict[str, Any]
# Two gateways replacing the same expired record can each see the other's write vanish:
# a few rounds settle it.
RECORD_ATTEMPTS = 3


class KeyContentionError(RuntimeError):
    """The key's record kept changing under this request: the caller should retry."""


class KeyUse(enum.Enum):
    NEW = "new"  # first use of the key: publish
    SAME = "same"  # the key was used with this very request: publish again (same answer)
    DIFFERENT = "different"  # the key was used with another request: refuse


def _utc(moment: datetime) -> datetime:
    """BSON dates are UTC; a client without tz_aware reads them without a zone."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


class GatewayStore:
    def __init__(self, db: AsyncDatabase[Doc]) -> None:
        self.db = db
        self.groups = db["badge_groups"]
        self.keys = db["gateway_idempotency"]
        self.index = db[group_index.COLLECTION]

    async def ping(self) -> None:
        await self.db.client.admin.command("ping")

    async def ensure_indexes(self) -> None:
        # For the sweep of expired records (MongoDB serves it from this index).
        await self.keys.create_indexes([IndexModel([("expiresAt", 1)])])

    async def group(self, org_id: int, group_id: str) -> Group | None:
        """The org's group with that id (24 hex digits), or None: another org's is None."""
        doc = await self.groups.find_one({"_id": ObjectId(group_id), "orgId": org_id})
        return group_from_doc(doc) if doc is not None else None

    async def groups_page(self, org_id: int, after: str | None, limit: int,
                          include_inactive: bool) -> Page:
        """The org's groups in creation order, `limit` at most after `after` (see
        group_index.page; UnknownCursorError if `after` is none of the org's)."""
        return await group_index.page(self.index, self.groups, org_id, after, limit,
                                      include_inactive)

    async def use_key(self, org_id: int, command_id: str, digest: str, now: datetime,
                      expires_at: datetime) -> KeyUse:
        """Record that (org, commandId) stands for the request with `digest`, once."""
        _id = f"{org_id}:{command_id}"
        for _ in range(RECORD_ATTEMPTS):
            try:
                await self.keys.insert_one({"_id": _id, "digest": digest,
                                            "expiresAt": expires_at})
                return KeyUse.NEW
            except DuplicateKeyError:
                held = await self.keys.find_one({"_id": _id})
            if held is None:
                continue  # expired and deleted in between: try to take it again
            if _utc(held["expiresAt"]) <= now:
                # Only this expired record: a fresh one written meanwhile stays.
                await self.keys.delete_one({"_id": _id, "expiresAt": held["expiresAt"]})
                continue
            return KeyUse.SAME if held["digest"] == digest else KeyUse.DIFFERENT
        raise KeyContentionError(f"idempotency record {_id} kept changing; retry the request")

    async def sweep_keys(self, now: datetime) -> int:
        """Delete the expired idempotency records; return how many."""
        result = await self.keys.delete_many({"expiresAt": {"$lte": now}})
        return result.deleted_count
