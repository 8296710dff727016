"""Entities, and the effects a decision asks the store to make durable."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime

from badges_schemas import Envelope, OwnerType


@dataclass(frozen=True)
class ClaimKey:
    org_id: int
    badge_id: str
    owner_type: OwnerType
    reference_id: str


@dataclass(frozen=True)
class Group:
    id: str
    org_id: int
    name: str
    rank: int
    created_by: int
    created_on: float
    last_updated_by: int
    last_updated_on: float
    is_active: bool = True

    def renamed(self, name: str, rank: int, actor_id: int, at: float) -> Group:
        return replace(self, name=name, rank=rank, last_updated_by=actor_id, last_updated_on=at)

    def as_data(self) -> dict[str, object]:
        """The group as the API shows it."""
        return {
            "id": self.id,
            "orgId": self.org_id,
            "name": self.name,
            "rank": self.rank,
            "createdBy": self.created_by,
            "createdOn": self.created_on,
            "createdOnISO": iso(self.created_on),
            "lastUpdatedBy": self.last_updated_by,
            "lastUpdatedOn": self.last_updated_on,
            "lastUpdatedOnISO": iso(self.last_updated_on),
            "isActive": self.is_active,
        }


def iso(epoch_seconds: float) -> str:
    return datetime.fromtimestamp(epoch_seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class SetClaim:
    key: ClaimKey
    is_active: bool
    actor_id: int
    at: float


@dataclass(frozen=True)
class SaveGroup:
    group: Group
    # A creation is written only where the group does not exist yet: replayed late, it
    # must not undo the updates made since.
    created: bool = False


@dataclass(frozen=True)
class ReserveName:
    """Take (org, name) for a group; the store's unique _id makes this the uniqueness check."""

    org_id: int
    name: str
    group_id: str


@dataclass(frozen=True)
class ReleaseName:
    org_id: int
    name: str
    group_id: str


Effect = SetClaim | SaveGroup | ReserveName | ReleaseName


@dataclass(frozen=True)
class Decision:
    envelope: Envelope
    effects: tuple[Effect, ...] = ()
