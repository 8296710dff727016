"""Effects on one claim collapse into one write that leaves it as applying them in order would."""

from __future__ import annotations

from schemas import OwnerType
from service.domain.model import ClaimKey, SetClaim
from service.store import _claim_ops

KEY = ClaimKey(1, "6581281e8f68666070de15c5", OwnerType.LOYALTY, "a:b")
OTHER = ClaimKey(1, "6581281e8f68666070de15c5", OwnerType.MILESTONES, "m")


def test_many_effects_on_one_claim_make_one_write_with_the_last_state() -> None:
    effects = [SetClaim(KEY, i % 2 == 0, actor_id=i, at=float(i)) for i in range(101)]
    effects.insert(50, SetClaim(OTHER, True, actor_id=7, at=7.0))
    ops = _claim_ops(effects)
    assert len(ops) == 2
    first = ops[0]._doc
    assert ops[0]._filter == {"_id": "1:6581281e8f68666070de15c5:Loyalty:a:b"}
    assert first["$set"] == {"isActive": True, "lastUpdatedBy": 100, "lastUpdatedOn": 100.0}
    assert (first["$setOnInsert"]["createdBy"], first["$setOnInsert"]["createdOn"]) == (0, 0.0)
    assert ops[1]._filter == {"_id": "1:6581281e8f68666070de15c5:Milestones:m"}
