"""The benchmark's mixes expect what the worker's own decisions answer, and the mix at
1,000,000 documents touches preloaded documents enough (tests/benchmarks/mix.py)."""

from __future__ import annotations

import re

import pytest

from badges_schemas.commands import ClaimBadge
from service.domain.decisions import claim_key
from service.domain.model import Group
from service.domain.state import Snapshot
from tests.benchmarks.ceiling_plan import decide_all
from tests.benchmarks.mix import (
    CLAIMS_ONLY,
    GROUPS_ONLY,
    SHARES,
    SHARES_PRELOADED,
    BenchCommand,
    build_mix,
    build_unclaims,
    describe,
)
from tests.benchmarks.preloaded import Preloaded

PRELOADED = Preloaded(count=3_000)


def test_the_mix_expects_what_the_worker_decides() -> None:
    mix = build_mix(3_000, seed=1)
    decide_all(mix)  # raises on the first answer not as the mix expects
    assert set(describe(mix, 1)["counts"]) == {"claim_new", "unclaim", "hot_reclaim",
                                               "group_create", "group_rename"}


def test_each_kind_alone_expects_what_the_worker_decides() -> None:
    claims = build_mix(500, seed=11, shares=CLAIMS_ONLY)
    groups = build_mix(500, seed=15, shares=GROUPS_ONLY)
    decide_all([*claims, *build_unclaims(claims, seed=13), *groups])
    assert {c.kind for c in groups} == {"group_create", "group_rename"}


def test_a_mix_and_its_prefix_are_the_same_commands() -> None:
    assert build_mix(500, seed=1) == build_mix(2_000, seed=1)[:500]


def _preloaded_state(mix: list[BenchCommand]) -> Snapshot:
    """What the preload holds of the entities the mix touches: claims active, groups named."""
    snapshot = Snapshot()
    groups = {PRELOADED.group(n).group_id: PRELOADED.group(n) for n in range(PRELOADED.count)}
    for c in mix:
        if c.kind in ("old_unclaim", "old_reclaim"):
            payload = ClaimBadge.model_validate(c.payload)
            snapshot.active_claims.add(claim_key(c.org_id, payload))
        elif c.kind == "old_rename":
            old = groups[c.payload["groupId"]]
            snapshot.groups[(old.org_id, old.group_id)] = Group(
                old.group_id, old.org_id, old.name, 1, 123, 0.0, 123, 0.0)
            snapshot.names[(old.org_id, old.name)] = old.group_id
    return snapshot


def test_the_mix_at_preload_touches_preloaded_documents_as_the_worker_decides() -> None:
    mix = build_mix(2_000, seed=1, shares=SHARES_PRELOADED, preloaded=PRELOADED)
    decide_all(mix, _preloaded_state(mix))
    described = describe(mix, 1, SHARES_PRELOADED)
    assert described["touching_preloaded"] >= 0.30
    assert {"old_unclaim", "old_reclaim", "old_rename"} <= set(described["counts"])
    # Re-claims of old claims: warned while active, applied once unclaimed in the stream.
    assert {c.warnings for c in mix if c.kind == "old_reclaim"} == {(), (9100,)}


def test_preloaded_ids_are_random_yet_the_same_for_the_same_number() -> None:
    claims = [PRELOADED.claim(n) for n in range(200)]
    assert PRELOADED.claim(5) == Preloaded(count=3_000).claim(5)
    assert len({c.claim_id for c in claims}) == 200
    assert all(re.fullmatch(r"[0-9a-f]{24}", c.payload["badgeId"]) for c in claims)
    assert len({c.payload["badgeId"][:2] for c in claims}) > 50  # spread over the index
    assert len({PRELOADED.log_key(n) for n in range(200)}) == 200
    assert PRELOADED.group(0).group_id < PRELOADED.group(1).group_id  # ObjectIds: seconds


def test_a_mix_that_touches_preloaded_documents_needs_them() -> None:
    with pytest.raises(ValueError, match="preloaded"):
        build_mix(10, seed=1, shares=SHARES_PRELOADED)
    assert build_mix(10, seed=1, shares=SHARES)
