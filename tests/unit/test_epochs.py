"""Fence epochs: when one opens, and which epoch a message belongs to."""

from __future__ import annotations

from service.store.epochs import Epoch, EpochTable, Layout, following

FIRST = Epoch(0, "a" * 32, 2, (0, 0))


def test_the_first_record_is_epoch_0_from_the_start_of_every_partition() -> None:
    assert following([], Layout("a" * 32, 2, {0: 40, 1: 7})) == FIRST


def test_the_same_topic_id_and_partition_count_open_nothing() -> None:
    # Offsets lower than before (a consumer group reset) are no new epoch: the topic still
    # holds the same messages at the same offsets.
    assert following([FIRST], Layout("a" * 32, 2, {0: 3, 1: 0})) is None


def test_a_recreated_topic_opens_an_epoch_holding_all_it_has() -> None:
    new = following([FIRST], Layout("b" * 32, 2, {0: 5, 1: 2}))
    assert new == Epoch(1, "b" * 32, 2, (0, 0))
    table = EpochTable((FIRST, new), "b" * 32)
    assert table.of(0, 0) == 1 and table.of(1, 4) == 1
    assert EpochTable((FIRST,), "a" * 32).of(0, 99) == 0  # a stalled worker's view


def test_more_partitions_leave_what_the_old_ones_hold_in_the_old_epoch() -> None:
    new = following([FIRST], Layout("a" * 32, 3, {0: 40, 1: 7, 2: 1}))
    assert new == Epoch(1, "a" * 32, 3, (40, 7, 0))
    table = EpochTable((FIRST, new), "a" * 32)
    assert [table.of(0, 39), table.of(0, 40), table.of(1, 6), table.of(2, 0)] == [0, 1, 0, 1]


def test_an_epoch_round_trips_through_its_document() -> None:
    assert Epoch.from_doc(FIRST.as_doc()) == FIRST
