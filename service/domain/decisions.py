"""One pure function per command: (command, the state it reads, time) -> Decision."""

from __future__ import annotations

import hashlib

from badges_schemas import ClaimData, Code, Envelope, Problem, UnclaimData
from badges_schemas.commands import ClaimBadge, CreateBadgeGroup, UpdateBadgeGroup
from service.domain.model import (
    ClaimKey,
    Decision,
    Group,
    ReleaseName,
    ReserveName,
    SaveGroup,
    SetClaim,
)


def claim_key(org_id: int, payload: ClaimBadge) -> ClaimKey:
    return ClaimKey(org_id, payload.badgeId.lower(), payload.ownerType, payload.referenceId)


def claim(key: ClaimKey, active: bool, actor_id: int, at: float) -> Decision:
    data = ClaimData(
        badgeMetaId=key.badge_id, ownerType=key.owner_type, referenceId=key.reference_id
    ).model_dump(mode="json")
    if active:
        return Decision(Envelope(data=data, warnings=[Problem.of(Code.CLAIM_ALREADY_ACTIVE)]))
    return Decision(Envelope(data=data), (SetClaim(key, True, actor_id, at),))


def unclaim(key: ClaimKey, active: bool, actor_id: int, at: float) -> Decision:
    if not active:
        return Decision(Envelope.failure(Problem.of(Code.CLAIM_NOT_FOUND)))
    data = UnclaimData(ownerType=key.owner_type, referenceId=key.reference_id, isActive=False)
    return Decision(
        Envelope(data=data.model_dump(mode="json")), (SetClaim(key, False, actor_id, at),)
    )


def superseded() -> Decision:
    """A command older than the state of what it is about (read again after its consumer
    group's offsets were reset lower, or left in a partition its key has moved from):
    nothing to apply, and the answer says it was not applied."""
    return Decision(Envelope.failure(Problem.of(Code.SUPERSEDED)))


def new_group_id(org_id: int, command_id: str, at: float) -> str:
    """An ObjectId derived from the command, so a redelivered create makes the same group.

    Same layout as a generated ObjectId: 4 bytes of seconds, then 8 bytes unique to it.
    """
    seconds = int(at).to_bytes(4, "big")
    digest = hashlib.sha256(f"{org_id}:{command_id}".encode()).digest()[:8]
    return (seconds + digest).hex()


def create_group(
    org_id: int, payload: CreateBadgeGroup, group_id: str, holder: str | None,
    actor_id: int, at: float,
) -> Decision:
    """`holder` is the group now holding the name in this org, if any."""
    if holder not in (None, group_id):
        return Decision(Envelope.failure(Problem.of(Code.GROUP_NAME_NOT_UNIQUE)))
    group = Group(group_id, org_id, payload.name, payload.rank, actor_id, at, actor_id, at)
    return Decision(
        Envelope(data=group.as_data()),
        (ReserveName(org_id, payload.name, group_id), SaveGroup(group, created=True)),
    )


def update_group(
    payload: UpdateBadgeGroup, group: Group | None, holder: str | None, actor_id: int, at: float,
) -> Decision:
    """`group` is the org's group with payload.groupId; `holder` holds payload.name."""
    if group is None:
        return Decision(Envelope.failure(Problem.of(Code.GROUP_NOT_FOUND, payload.groupId)))
    if payload.name != group.name and holder not in (None, group.id):
        return Decision(Envelope.failure(Problem.of(Code.GROUP_NAME_NOT_UNIQUE)))
    updated = group.renamed(payload.name, payload.rank, actor_id, at)
    save = SaveGroup(updated)
    if payload.name == group.name:
        return Decision(Envelope(data=updated.as_data()), (save,))
    return Decision(
        Envelope(data=updated.as_data()),
        (
            ReserveName(group.org_id, payload.name, group.id),
            save,
            ReleaseName(group.org_id, group.name, group.id),
        ),
    )

