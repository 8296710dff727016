"""The batch snapshot follows effects, so later commands in a batch see earlier ones."""

from __future__ import annotations

import uuid

from badges_schemas import Command, CommandType, OwnerType
from badges_schemas.commands import ClaimBadge, UnclaimBadge
from service.domain.dispatch import decide
from service.domain.model import ClaimKey, ReleaseName, ReserveName
from service.domain.state import Snapshot

BADGE = "6581281e8f68666070de15c5"


def _command(payload: ClaimBadge) -> Command:
    kind = CommandType.UNCLAIM_BADGE if isinstance(payload, UnclaimBadge) else \
        CommandType.CLAIM_BADGE
    return Command(commandId=str(uuid.uuid4()), type=kind, orgId=1, actorId=2, issuedAt=None,
                   payload=payload)


def test_alternating_claims_decided_in_one_batch_follow_each_other() -> None:
    snapshot = Snapshot()
    outcomes = []
    for i in range(6):
        model = ClaimBadge if i % 2 == 0 else UnclaimBadge
        payload = model(badgeId=BADGE, ownerType=OwnerType.LOYALTY, referenceId="123")
        decision = decide(_command(payload), snapshot, float(i))
        for effect in decision.effects:
            snapshot.apply(effect)
        outcomes.append(decision.envelope.ok)
    assert outcomes == [True] * 6
    assert snapshot.active_claims == set()


def test_unclaim_of_another_owner_leaves_the_claim_active() -> None:
    key = ClaimKey(1, BADGE, OwnerType.MILESTONES, "m1")
    snapshot = Snapshot(active_claims={key})
    payload = UnclaimBadge(badgeId=BADGE, ownerType=OwnerType.LOYALTY, referenceId="123")
    decision = decide(_command(payload), snapshot, 1.0)
    assert [p.code for p in decision.envelope.errors] == [737]
    assert snapshot.active_claims == {key}


def test_release_only_frees_a_name_held_by_that_group() -> None:
    snapshot = Snapshot()
    snapshot.apply(ReserveName(1, "Gold", "a" * 24))
    snapshot.apply(ReleaseName(1, "Gold", "b" * 24))
    assert snapshot.names == {(1, "Gold"): "a" * 24}
    snapshot.apply(ReleaseName(1, "Gold", "a" * 24))
    assert snapshot.names == {}
