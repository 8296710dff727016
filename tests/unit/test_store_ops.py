"""Effects on one claim collapse into one write that leaves it as applying them in order would."""

from __future__ import annotations

from schemas import OwnerType
from service.domain.model import ClaimKey, SetClaim
from service.store import _claim_doc, _claim_writes

KEY = ClaimKey(1, "6581281e8f68666070de15c5", OwnerType.LOYALTY, "a:b")
OTHER = ClaimKey(1, "6581281e8f68666070de15c5", OwnerType.MILESTONES, "m")


def _toggles() -> list[SetClaim]:
    effects = [SetClaim(KEY, i % 2 == 0, actor_id=i, at=float(i)) for i in range(101)]
    effects.insert(50, SetClaim(OTHER, True, actor_id=7, at=7.0))
    return effects


def test_many_effects_on_a_stored_claim_make_one_upsert_with_the_last_state() -> None:
    new, existing = _claim_writes(_toggles(), stored=frozenset({KEY, OTHER}))
    assert new == []
    assert len(existing) == 2
    first = existing[0]._doc
    assert existing[0]._filter == {"_id": "1:6581281e8f68666070de15c5:Loyalty:a:b"}
    assert first["$set"] == {"isActive": True, "lastUpdatedBy": 100, "lastUpdatedOn": 100.0}
    assert (first["$setOnInsert"]["createdBy"], first["$setOnInsert"]["createdOn"]) == (0, 0.0)
    assert existing[1]._filter == {"_id": "1:6581281e8f68666070de15c5:Milestones:m"}


def test_a_new_claim_is_inserted_as_the_upsert_would_have_left_it() -> None:
    new, existing = _claim_writes(_toggles(), stored=frozenset({OTHER}))
    assert len(existing) == 1 and existing[0]._filter["_id"].endswith(":Milestones:m")
    assert len(new) == 1
    doc = _claim_doc(*new[0])
    upsert = _claim_writes(_toggles(), stored=frozenset({KEY}))[1][0]._doc
    assert doc == {"_id": "1:6581281e8f68666070de15c5:Loyalty:a:b",
                   **upsert["$setOnInsert"], **upsert["$set"]}
    assert (doc["isActive"], doc["createdBy"], doc["lastUpdatedBy"]) == (True, 0, 100)
