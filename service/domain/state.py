"""What a batch of commands reads, and that state kept current as the batch is decided.

Commands later in a batch see the effects of earlier ones without a round trip: only
this worker changes the entities of its partitions, so the snapshot cannot go stale
except for group names, which the store re-checks on reservation.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from badges_schemas import Command
from badges_schemas.commands import ClaimBadge, CreateBadgeGroup, UpdateBadgeGroup
from service.domain.decisions import claim_key
from service.domain.model import (
    ClaimKey,
    Effect,
    Group,
    ReleaseName,
    ReserveName,
    SaveGroup,
    SetClaim,
)

GroupKey = tuple[int, str]  # (orgId, groupId)
NameKey = tuple[int, str]  # (orgId, name)


@dataclass
class Reads:
    claims: set[ClaimKey] = field(default_factory=set)
    groups: set[GroupKey] = field(default_factory=set)
    names: set[NameKey] = field(default_factory=set)

    def add(self, command: Command) -> None:
        payload = command.payload
        if isinstance(payload, ClaimBadge):
            self.claims.add(claim_key(command.orgId, payload))
        elif isinstance(payload, UpdateBadgeGroup):
            self.groups.add((command.orgId, payload.groupId.lower()))
            self.names.add((command.orgId, payload.name))
        elif isinstance(payload, CreateBadgeGroup):
            self.names.add((command.orgId, payload.name))


@dataclass
class Snapshot:
    active_claims: set[ClaimKey] = field(default_factory=set)
    groups: dict[GroupKey, Group] = field(default_factory=dict)
    names: dict[NameKey, str] = field(default_factory=dict)
    # Claims that had a record, active or not, when the batch read them. Decisions ignore
    # it; it lets the store insert the claims that are new instead of upserting them.
    # Effects do not change it: it describes the store before the batch.
    stored_claims: frozenset[ClaimKey] = frozenset()

    def apply(self, effect: Effect) -> None:
        match effect:
            case SetClaim(key=key, is_active=True):
                self.active_claims.add(key)
            case SetClaim(key=key):
                self.active_claims.discard(key)
            case SaveGroup(group=group):
                self.groups[(group.org_id, group.id)] = group
            case ReserveName(org_id=org, name=name, group_id=gid):
                self.names[(org, name)] = gid
            case ReleaseName(org_id=org, name=name, group_id=gid):
                if self.names.get((org, name)) == gid:
                    del self.names[(org, name)]

