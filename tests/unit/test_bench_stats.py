"""The benchmark's arithmetic: percentiles, the spread of repeated runs, latency from the
scheduled send (tests/benchmarks/stats.py)."""

from __future__ import annotations

import math

from tests.benchmarks.stats import Spread, intended_send, latencies_ms, percentile, percentiles


def test_percentile_is_the_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 0.5) == 50
    assert percentile(values, 0.99) == 99
    assert percentile(values, 1.0) == 100
    assert percentile([7.0], 0.99) == 7
    assert math.isnan(percentile([], 0.5))


def test_percentiles_name_each_figure() -> None:
    found = percentiles([10.0, 20.0, 30.0, 40.0])
    assert found == {"p50_ms": 20.0, "p90_ms": 40.0, "p99_ms": 40.0, "max_ms": 40.0}


def test_spread_is_the_median_with_the_lowest_and_highest_run() -> None:
    assert Spread.of([600.0, 549.0, 660.0]) == Spread(600.0, 549.0, 660.0, 3)
    assert Spread.of([1.0, 2.0, 3.0, 10.0]).median == 2.5
    assert Spread.of([600.0, 549.0, 660.0]).text() == "600.0 (549.0-660.0)"
    assert Spread.of([5.0, math.nan]).runs == 1  # a run without a figure is left out
    assert Spread.of([]).runs == 0


def test_latency_counts_from_the_slot_not_from_a_late_send() -> None:
    # Slot at 0 s; the sender fell behind and sent at 5 s; the answer came at 6 s.
    intended = {"a": intended_send(slot=0.0)}
    assert latencies_ms(intended, {"a": 6.0}, ["a"]) == [6000.0]


def test_a_rename_is_intended_once_its_group_is_answered() -> None:
    assert intended_send(slot=1.0, prerequisite_answered=3.0) == 3.0
    assert intended_send(slot=4.0, prerequisite_answered=3.0) == 4.0


def test_unanswered_commands_have_no_latency() -> None:
    assert latencies_ms({"a": 0.0, "b": 0.0}, {"b": 0.5}, ["a", "b"]) == [500.0]
