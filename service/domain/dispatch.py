"""Route a command to its decision, reading what it needs from the batch snapshot."""

from __future__ import annotations

from badges_schemas import Command
from badges_schemas.commands import ClaimBadge, CreateBadgeGroup, UnclaimBadge, UpdateBadgeGroup
from service.domain import decisions
from service.domain.model import Decision
from service.domain.state import Snapshot


def decide(command: Command, snapshot: Snapshot, at: float) -> Decision:
    """`at` is the command's own time (issuedAt, else its Kafka timestamp), never the clock."""
    payload, org, actor = command.payload, command.orgId, command.actorId
    if isinstance(payload, ClaimBadge):
        key = decisions.claim_key(org, payload)
        active = key in snapshot.active_claims
        act = decisions.unclaim if isinstance(payload, UnclaimBadge) else decisions.claim
        return act(key, active, actor, at)
    holder = snapshot.names.get((org, payload.name))
    if isinstance(payload, UpdateBadgeGroup):
        group = snapshot.groups.get((org, payload.groupId.lower()))
        return decisions.update_group(payload, group, holder, actor, at)
    assert isinstance(payload, CreateBadgeGroup)
    group_id = decisions.new_group_id(org, command.commandId, at)
    return decisions.create_group(org, payload, group_id, holder, actor, at)
