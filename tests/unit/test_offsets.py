"""The offset ledger: commits only what finished in order; holes are read again."""

from __future__ import annotations

from aiokafka.consumer.subscription_state import SubscriptionState
from aiokafka.structs import TopicPartition

from service.worker.consumer import _start, fetch_position
from service.worker.offsets import Admit, OffsetLedger

TP = ("commands", 0)


def started(offset: int = 5) -> OffsetLedger[tuple[str, int]]:
    ledger: OffsetLedger[tuple[str, int]] = OffsetLedger()
    ledger.start({TP: offset})
    return ledger


def test_offsets_in_order_are_taken_and_committed_once_finished() -> None:
    ledger = started()
    assert [ledger.admit(TP, o) for o in (5, 6, 7)] == [Admit.TAKE] * 3
    assert ledger.committable(TP) == 5  # taken, not finished
    assert ledger.finished(TP, 5) and ledger.finished(TP, 6)
    assert ledger.committable(TP) == 7
    assert ledger.idle() == {}
    assert ledger.finished(TP, 7) and ledger.idle() == {TP: 8}


def test_a_hole_is_never_stepped_over() -> None:
    ledger = started()
    assert ledger.admit(TP, 5) is Admit.TAKE
    # 6 never arrived: 7 and 8 are holes until 6 comes again, and then taken in order.
    assert ledger.admit(TP, 7) is Admit.HOLE and ledger.admit(TP, 8) is Admit.HOLE
    assert ledger.next_expected(TP) == 6
    assert ledger.finished(TP, 5)
    assert not ledger.finished(TP, 7)  # not admitted: counts for nothing
    assert ledger.committable(TP) == 6
    assert [ledger.admit(TP, o) for o in (6, 7, 8)] == [Admit.TAKE] * 3


def test_redeliveries_are_skipped_and_finishing_out_of_order_holds_commits_back() -> None:
    ledger = started()
    assert ledger.admit(TP, 5) is Admit.TAKE and ledger.admit(TP, 6) is Admit.TAKE
    assert ledger.admit(TP, 5) is Admit.SKIP and ledger.admit(TP, 4) is Admit.SKIP
    assert not ledger.finished(TP, 6)
    assert ledger.committable(TP) == 5


def test_unknown_and_forgotten_partitions_commit_nothing() -> None:
    ledger = started()
    assert ledger.admit(("other", 0), 0) is Admit.UNKNOWN
    ledger.forget([TP])
    assert ledger.admit(TP, 5) is Admit.UNKNOWN and ledger.committable(TP) is None


def test_a_restart_reads_again_from_the_committed_offset() -> None:
    ledger = started()
    assert ledger.admit(TP, 5) is Admit.TAKE and ledger.admit(TP, 6) is Admit.TAKE
    ledger.forget([TP])  # revoked, then assigned again: 5 and 6 come again
    ledger.start({TP: 5})
    assert ledger.admit(TP, 5) is Admit.TAKE and ledger.committable(TP) == 5


def test_a_seek_back_while_held_keeps_what_finished_and_what_is_in_flight() -> None:
    ledger = started()
    assert [ledger.admit(TP, o) for o in (5, 6, 7, 8)] == [Admit.TAKE] * 4
    assert ledger.finished(TP, 5) and ledger.finished(TP, 6)
    ledger.start({TP: 5})  # faust seeks to the committed offset mid-rebalance
    assert ledger.committable(TP) == 7  # 5 and 6 finished: they stay finished
    assert ledger.finished(TP, 7) and ledger.finished(TP, 8)  # in flight, finishing now
    assert ledger.committable(TP) == 9
    # The copies read again are taken, and their finishing changes nothing.
    assert [ledger.admit(TP, o) for o in (5, 6, 7, 8, 9)] == [Admit.TAKE] * 5
    assert not ledger.finished(TP, 5) and ledger.committable(TP) == 9
    assert ledger.finished(TP, 9) and ledger.committable(TP) == 10


def test_the_start_is_the_committed_offset_unless_the_partition_no_longer_holds_it() -> None:
    assert _start(10, earliest=0, end=20) == 10
    assert _start(None, earliest=3, end=20) == 3
    assert _start(2, earliest=3, end=20) == 3  # deleted by retention: the reset applies
    assert _start(25, earliest=0, end=20) == 0  # beyond the end (a recreated topic)
    assert _start(20, earliest=0, end=20) == 20


async def test_the_fetch_position_is_read_without_waiting() -> None:
    """The stall check reads aiokafka's fetch position where it is kept; a partition
    without one (being reset) or not assigned gives None at once, never a wait."""
    subscription = SubscriptionState()
    tp, other = TopicPartition("t", 0), TopicPartition("t", 1)
    assert fetch_position(subscription, tp) is None  # nothing subscribed
    subscription.assign_from_user({tp})
    assert fetch_position(subscription, tp) is None  # assigned, position not known yet
    subscription.seek(tp, 42)
    assert (fetch_position(subscription, tp), fetch_position(subscription, other)) == (42, None)
