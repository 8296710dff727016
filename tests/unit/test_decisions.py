"""Every command's decision for every outcome, on the pure domain functions."""

from __future__ import annotations

from badges_schemas import Code, OwnerType
from badges_schemas.commands import CreateBadgeGroup, UpdateBadgeGroup
from service.domain import decisions
from service.domain.model import ClaimKey, Group, ReleaseName, ReserveName, SaveGroup, SetClaim

BADGE = "6581281e8f68666070de15c5"
KEY = ClaimKey(50156, BADGE, OwnerType.LOYALTY, "123")
AT = 1702963230.966423


def codes(problems: list) -> list[int]:
    return [p.code for p in problems]


def test_claim_new_creates_the_claim() -> None:
    decision = decisions.claim(KEY, active=False, actor_id=7, at=AT)
    assert decision.envelope.data == {
        "badgeMetaId": BADGE, "ownerType": "Loyalty", "referenceId": "123"
    }
    assert decision.envelope.errors == [] and decision.envelope.warnings == []
    assert decision.effects == (SetClaim(KEY, True, 7, AT),)


def test_claim_already_active_succeeds_with_a_warning_and_no_effect() -> None:
    decision = decisions.claim(KEY, active=True, actor_id=7, at=AT)
    assert decision.envelope.ok
    assert codes(decision.envelope.warnings) == [Code.CLAIM_ALREADY_ACTIVE]
    assert decision.effects == ()


def test_unclaim_active_soft_deletes() -> None:
    decision = decisions.unclaim(KEY, active=True, actor_id=7, at=AT)
    assert decision.envelope.data == {"ownerType": "Loyalty", "referenceId": "123",
                                      "isActive": False}
    assert decision.effects == (SetClaim(KEY, False, 7, AT),)


def test_unclaim_without_active_claim_is_737() -> None:
    decision = decisions.unclaim(KEY, active=False, actor_id=7, at=AT)
    assert decision.envelope.data is None
    assert codes(decision.envelope.errors) == [737]
    assert decision.envelope.errors[0].message == "Claim not found in existing claims"
    assert decision.effects == ()


def _group(name: str = "GROUP_RANK_2", gid: str = BADGE) -> Group:
    return Group(gid, 50156, name, 2, 123, AT, 123, AT)


def test_create_group_returns_every_field() -> None:
    payload = CreateBadgeGroup(name="GROUP_RANK_2", rank=2)
    decision = decisions.create_group(50156, payload, BADGE, None, 123, AT)
    assert decision.envelope.data == {
        "id": BADGE, "orgId": 50156, "name": "GROUP_RANK_2", "rank": 2, "createdBy": 123,
        "createdOn": AT, "createdOnISO": "2023-12-19T05:20:30Z", "lastUpdatedBy": 123,
        "lastUpdatedOn": AT, "lastUpdatedOnISO": "2023-12-19T05:20:30Z", "isActive": True,
    }
    assert decision.effects == (ReserveName(50156, "GROUP_RANK_2", BADGE),
                                SaveGroup(_group(), created=True))


def test_create_group_with_taken_name_is_733() -> None:
    payload = CreateBadgeGroup(name="Gold", rank=2)
    decision = decisions.create_group(1, payload, BADGE, "0" * 24, 123, AT)
    assert codes(decision.envelope.errors) == [733]
    assert decision.envelope.errors[0].message == "Group Name should be Unique."
    assert decision.effects == ()


def test_create_group_whose_name_it_already_holds_succeeds() -> None:
    # A redelivered create after a crash finds its own reservation.
    payload = CreateBadgeGroup(name="Gold", rank=2)
    assert decisions.create_group(1, payload, BADGE, BADGE, 123, AT).envelope.ok


def test_new_group_id_is_deterministic_per_command_and_org() -> None:
    first = decisions.new_group_id(1, "c1", AT)
    assert first == decisions.new_group_id(1, "c1", AT)
    assert first != decisions.new_group_id(2, "c1", AT)
    assert first != decisions.new_group_id(1, "c2", AT)
    assert len(first) == 24 and int(first[:8], 16) == int(AT)


def test_update_group_renames_and_moves_the_reservation() -> None:
    payload = UpdateBadgeGroup(groupId=BADGE, name="GROUP_RANK_58", rank=1)
    decision = decisions.update_group(payload, _group(), None, 456, AT + 10)
    data = decision.envelope.data
    assert data is not None
    assert (data["name"], data["rank"], data["lastUpdatedBy"], data["lastUpdatedOn"]) == (
        "GROUP_RANK_58", 1, 456, AT + 10)
    assert (data["createdBy"], data["createdOn"]) == (123, AT)
    assert decision.effects[0] == ReserveName(50156, "GROUP_RANK_58", BADGE)
    assert decision.effects[2] == ReleaseName(50156, "GROUP_RANK_2", BADGE)


def test_update_group_to_its_own_name_keeps_the_reservation() -> None:
    payload = UpdateBadgeGroup(groupId=BADGE, name="GROUP_RANK_2", rank=9)
    decision = decisions.update_group(payload, _group(), BADGE, 456, AT)
    assert decision.envelope.ok
    assert [type(e) for e in decision.effects] == [SaveGroup]


def test_update_group_to_a_name_held_by_another_group_is_733() -> None:
    payload = UpdateBadgeGroup(groupId=BADGE, name="Taken", rank=1)
    decision = decisions.update_group(payload, _group(), "1" * 24, 456, AT)
    assert codes(decision.envelope.errors) == [733] and decision.effects == ()


def test_update_unknown_group_is_group_not_found() -> None:
    payload = UpdateBadgeGroup(groupId=BADGE, name="X", rank=1)
    decision = decisions.update_group(payload, None, None, 456, AT)
    assert codes(decision.envelope.errors) == [Code.GROUP_NOT_FOUND]
