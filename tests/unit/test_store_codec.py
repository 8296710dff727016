"""The command log keeps effects as JSON; entries of earlier releases hold documents."""

from __future__ import annotations

import json
from dataclasses import asdict

from badges_schemas import OwnerType
from service.domain.model import (
    ClaimKey,
    Effect,
    Group,
    ReleaseName,
    ReserveName,
    SaveGroup,
    SetClaim,
)
from service.store.codec import effects_from_log, effects_to_log

EFFECTS = (
    SetClaim(ClaimKey(1, "6581281e8f68666070de15c5", OwnerType.JOURNEYS, "r:1"), True, 2, 3.25),
    ReserveName(1, "Gold", "6581281e8f68666070de15c6"),
    SaveGroup(Group("6581281e8f68666070de15c6", 1, "Gold", 4, 2, 3.5, 2, 3.75)),
    ReleaseName(1, "Silver", "6581281e8f68666070de15c6"),
)


def test_effects_survive_the_log_as_a_json_string() -> None:
    stored = effects_to_log(EFFECTS)
    assert isinstance(stored, str) and json.loads(stored)[0]["kind"] == "SetClaim"
    assert effects_from_log(stored) == EFFECTS


def _as_earlier_releases_wrote(effect: Effect) -> dict[str, object]:
    doc = asdict(effect)
    doc.pop("created", None)  # SaveGroup had no `created` then
    if isinstance(effect, SetClaim):
        doc["key"]["owner_type"] = str(effect.key.owner_type)
    return {"kind": type(effect).__name__, **doc}


def test_effects_stored_as_documents_by_earlier_releases_are_read() -> None:
    earlier = [_as_earlier_releases_wrote(e) for e in EFFECTS]
    assert effects_from_log(earlier) == EFFECTS


def test_a_creation_logged_before_the_created_flag_is_read_as_one() -> None:
    group = Group("6581281e8f68666070de15c6", 1, "Gold", 4, 2, 3.5, 2, 3.5)
    earlier = [_as_earlier_releases_wrote(SaveGroup(group, created=True))]
    assert effects_from_log(earlier) == (SaveGroup(group, created=True),)
    assert effects_from_log(json.dumps(earlier)) == (SaveGroup(group, created=True),)
