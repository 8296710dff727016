"""The raw ceiling's plan does each command's durable work once, keeps each document's
commands in order, and leaves what the worker would (tests/benchmarks/ceiling_plan.py)."""

from __future__ import annotations

from tests.benchmarks.ceiling_plan import plan
from tests.benchmarks.mix import build_mix

MIX = build_mix(3_000, seed=1)
PLAN = plan(MIX, claim_lanes=3, batch_size=100)
BATCHES = [b for lane in PLAN.lanes for b in lane]


def test_every_command_is_logged_and_marked_done_once() -> None:
    keys = [k for b in BATCHES for k in b.log_keys]
    assert sorted(keys) == sorted(f"{c.org_id}:{c.command_id}" for c in MIX)
    assert [d["_id"] for b in BATCHES for d in b.log_docs] == keys
    assert sum(b.commands for b in BATCHES) == PLAN.commands == len(MIX)


def test_a_lane_holds_its_commands_in_the_mix_order() -> None:
    position = {f"{c.org_id}:{c.command_id}": n for n, c in enumerate(MIX)}
    for lane in PLAN.lanes:
        keys = [position[k] for b in lane for k in b.log_keys]
        assert keys == sorted(keys)


def test_group_commands_have_a_lane_of_their_own() -> None:
    groups = {f"{c.org_id}:{c.command_id}" for c in MIX if c.kind.startswith("group")}
    assert {k for b in PLAN.lanes[-1] for k in b.log_keys} == groups
    assert not any(b.new_groups or b.reservations for lane in PLAN.lanes[:-1] for b in lane)


def test_the_writes_leave_what_the_worker_would() -> None:
    expected = PLAN.expected
    assert sum(len(b.new_claims) for b in BATCHES) == expected["badge_claims"]
    assert sum(len(b.new_groups) for b in BATCHES) == expected["badge_groups"]
    names = sum(len(b.reservations) - len(b.releases) for b in BATCHES)
    assert names == expected["group_names"] == expected["badge_groups"]
    created = sum(1 for c in MIX if c.kind == "claim_new")
    hot = {c.payload["badgeId"] for c in MIX if c.kind == "hot_reclaim"}
    assert expected["badge_claims"] == created + len(hot)
    assert expected["active_claims"] == expected["badge_claims"] - sum(
        1 for c in MIX if c.kind == "unclaim")


def test_a_batch_reads_what_its_commands_read() -> None:
    for batch in BATCHES:
        assert len(batch.log_keys) == batch.commands
        assert len(batch.claim_ids) + len(batch.name_ids) >= 1
