"""The writes the store makes: one per document, fenced by the commands' Kafka positions."""

from __future__ import annotations

from badges_schemas import OwnerType
from service.domain.model import ClaimKey, Group, SaveGroup, SetClaim
from service.store.docs import (
    Fence,
    claim_doc,
    claim_op,
    claim_writes,
    group_op,
    group_ops,
    is_past,
    is_stale,
)

KEY = ClaimKey(1, "6581281e8f68666070de15c5", OwnerType.LOYALTY, "a:b")
OTHER = ClaimKey(1, "6581281e8f68666070de15c5", OwnerType.MILESTONES, "m")
GROUP = Group("6581281e8f68666070de15c6", 1, "Gold", 4, 2, 3.5, 2, 3.5)


def _toggles() -> list[tuple[SetClaim, Fence | None]]:
    effects = [(SetClaim(KEY, i % 2 == 0, actor_id=i, at=float(i)), Fence(0, 10 + i))
               for i in range(101)]
    effects.insert(50, (SetClaim(OTHER, True, actor_id=7, at=7.0), Fence(0, 7)))
    return effects


def test_many_effects_on_a_stored_claim_make_one_update_fenced_by_the_last() -> None:
    new, existing = claim_writes(_toggles(), stored=frozenset({KEY, OTHER}))
    assert new == []
    ops = [claim_op(w) for w in existing]
    assert ops[0]._filter == {"_id": "1:6581281e8f68666070de15c5:Loyalty:a:b",
                              "$nor": [{"fence.e": {"$gt": 0}},
                                       {"fence.e": {"$exists": False}, "fence.p": 0,
                                        "fence.o": {"$gte": 110}}]}
    assert ops[0]._doc == {"$set": {"isActive": True, "lastUpdatedBy": 100,
                                    "lastUpdatedOn": 100.0, "fence": {"p": 0, "o": 110}}}
    assert not ops[0]._upsert  # a fenced write never upserts over a newer document
    assert ops[1]._filter["_id"] == "1:6581281e8f68666070de15c5:Milestones:m"


def test_a_new_claim_is_inserted_with_its_creator_last_state_and_fence() -> None:
    new, existing = claim_writes(_toggles(), stored=frozenset({OTHER}))
    assert len(existing) == 1 and existing[0].first.key == OTHER
    doc = claim_doc(new[0])
    assert doc["_id"] == "1:6581281e8f68666070de15c5:Loyalty:a:b"
    assert (doc["isActive"], doc["createdBy"], doc["lastUpdatedBy"]) == (True, 0, 100)
    assert doc["fence"] == {"p": 0, "o": 110}


def test_without_fences_a_claim_is_upserted_as_before() -> None:
    _, existing = claim_writes([(e, None) for e, _ in _toggles()], stored=frozenset({KEY}))
    op = claim_op(existing[0])
    assert op._filter == {"_id": "1:6581281e8f68666070de15c5:Loyalty:a:b"}
    assert op._upsert is True and "fence" not in op._doc["$set"]


def test_a_creation_only_inserts_and_an_update_only_lands_on_an_older_group() -> None:
    create = group_op([(SaveGroup(GROUP, created=True), Fence(2, 5))])
    assert create._doc == {"$setOnInsert": {**create._doc["$setOnInsert"]}}
    assert create._upsert is True and create._filter == {"_id": create._filter["_id"]}
    update = group_op([(SaveGroup(GROUP.renamed("Silver", 1, 3, 4.0)), Fence(2, 9))])
    assert not update._upsert
    assert update._filter["$nor"] == [{"fence.e": {"$gt": 0}},
                                      {"fence.e": {"$exists": False}, "fence.p": 2,
                                       "fence.o": {"$gte": 9}}]
    assert update._doc["$set"]["name"] == "Silver"


def test_a_reservation_is_stale_once_its_group_is_stored_past_it_under_another_name() -> None:
    made_at_7 = {"name": "Gold", "fence": {"p": 1, "o": 7}}
    assert not is_stale(made_at_7, None)
    assert not is_stale(made_at_7, {"name": "Gold", "fence": {"p": 1, "o": 9}})
    assert not is_stale(made_at_7, {"name": "Silver", "fence": {"p": 1, "o": 6}})  # in flight
    assert is_stale(made_at_7, {"name": "Silver", "fence": {"p": 1, "o": 7}})
    assert not is_stale(made_at_7, {"name": "Silver", "fence": {"p": 0, "o": 9}})
    assert is_stale({"name": "Gold"}, {"name": "Silver"})  # the creation's, renamed since


def test_fences_compare_only_within_an_epoch_and_a_later_epoch_is_newer() -> None:
    op = group_op([(SaveGroup(GROUP.renamed("Silver", 1, 3, 4.0)), Fence(2, 9, epoch=3))])
    assert op._filter["$nor"] == [{"fence.e": {"$gt": 3}},
                                  {"fence.e": 3, "fence.p": 2, "fence.o": {"$gte": 9}}]
    assert op._doc["$set"]["fence"] == {"p": 2, "o": 9, "e": 3}
    assert is_past(Fence(0, 0, epoch=1), Fence(2, 9))  # any write of an earlier epoch
    assert not is_past(Fence(2, 90), Fence(2, 9, epoch=1))  # offsets started again
    assert is_past(Fence(2, 9, epoch=1), Fence(2, 9, epoch=1))
    assert not is_past(Fence(1, 9, epoch=1), Fence(2, 3, epoch=1))  # another partition
    made_in_1 = {"name": "Gold", "fence": {"p": 1, "o": 0, "e": 1}}
    assert not is_stale(made_in_1, {"name": "Silver", "fence": {"p": 1, "o": 7}})
    assert is_stale(made_in_1, {"name": "Silver", "fence": {"p": 0, "o": 0, "e": 2}})


def test_a_replayed_older_effect_listed_last_does_not_win() -> None:
    """A resent command whose first copy's entry is pending replays that entry where the
    copy sits, after newer decisions on the same document: the write leaves the document
    as the newest position does (a chaos run stored a rename's older state that way)."""
    older, newer = GROUP.renamed("Gold", 7, 8, 4.0), GROUP.renamed("Gold", 5, 44, 5.0)
    [op] = group_ops([(SaveGroup(newer), Fence(7, 15)), (SaveGroup(older), Fence(7, 11))])
    assert (op._doc["$set"]["rank"], op._doc["$set"]["fence"]) == (5, {"p": 7, "o": 15})
    _, [claim] = claim_writes([(SetClaim(KEY, False, actor_id=2, at=2.0), Fence(0, 12)),
                               (SetClaim(KEY, True, actor_id=1, at=1.0), Fence(0, 11))],
                              stored=frozenset({KEY}))
    assert claim_op(claim)._doc["$set"]["isActive"] is False


def test_a_group_created_and_updated_in_one_batch_gets_both_writes_in_order() -> None:
    created, renamed = SaveGroup(GROUP, created=True), SaveGroup(GROUP.renamed("Silver", 1, 3, 4.0))
    insert, update = group_ops([(created, None), (renamed, Fence(2, 9))])
    assert insert._upsert and insert._doc["$setOnInsert"]["name"] == "Gold"
    assert update._doc["$set"]["name"] == "Silver" and not update._upsert
