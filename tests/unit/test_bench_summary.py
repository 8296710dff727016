"""A `make bench` run fails on any check that did not pass, wherever it is in the results
(tests/benchmarks/summary.py)."""

from __future__ import annotations

from tests.benchmarks.summary import failed


def test_every_failed_check_is_found_with_where_it_is() -> None:
    results = {
        "rounds": {"worker": [{"checks": {"ok": True, "text": "10/10 ok"}},
                              {"checks": {"ok": False, "text": "9/10 1 MISSING"}}]},
        "latency": {"idle": {"checks": {"ok": True}},
                    "command_types": {"groups": {"checks": {"ok": False, "text": "wrong"}}},
                    "driver_checks": {"ok": False, "text": "1 answered twice"}},
        "flat": {"checks": {"ok": True}},
    }
    assert failed(results) == ["rounds.worker[1]: 9/10 1 MISSING",
                               "latency: 1 answered twice",
                               "latency.command_types.groups: wrong"]


def test_a_run_with_every_check_passed_has_no_failure() -> None:
    assert failed({"rounds": {"worker": [{"checks": {"ok": True}}]}, "plan": {"x": 1}}) == []
