"""The chaos checker passes a correct run and reports each seeded bug.

The runs are simulated: a service that applies the workload in a correct order (the
reference model does the deciding), and the same service with one bug seeded: redeliveries
decided again (deduplication off), a zombie's stale write landing (fence off), and two
commands of one claim applied out of order. The checker must find each.
"""

from __future__ import annotations

import itertools
import json
import zlib
from collections.abc import Callable, Sequence

import pytest

import tests.chaos.check as check_module
from tests.chaos.check import (
    Answer,
    Findings,
    Record,
    Stored,
    _interleave,
    _split_renames,
    _Step,
    check,
)
from tests.chaos.fuzz import CLAIMS
from tests.chaos.model import Model, read, verdict
from tests.chaos.workload import Message, commands
from tests.unit.simulated_service import (
    BUGS,
    Simulation,
    records_of,
    with_a_last_rank_only_update,
)

PARTITIONS = 4
Bug = Callable[[list[Record]], list[Record]]


def _records(messages: Sequence[Message]) -> list[Record]:
    offsets: dict[tuple[str, int], int] = {}
    out = []
    for m in messages:
        partition = zlib.crc32(m.key or b"") % PARTITIONS
        offset = offsets.get((m.topic, partition), 0)
        offsets[(m.topic, partition)] = offset + 1
        out.append(Record(m.topic, partition, offset, m.key, m.value, m.timestamp_ms))
    return out


def _service(records: Sequence[Record], dedupe: bool = True
             ) -> tuple[list[Answer], list[dict[str, object]], Stored, Model]:
    """Apply the records in publish order (one interleaving the real service may take)."""
    model = Model()
    answers, letters, seen = [], [], set()
    for r in records:
        if verdict(r.value, r.topic) == "unreadable":
            letters.append({"topic": f"p.{r.topic}.v1", "partition": r.partition,
                            "offset": r.offset})
            continue
        again = r.value in seen and not dedupe and r.topic == CLAIMS
        seen.add(r.value)
        event = _decide_again(model, r) if again else model.apply_raw(
            r.value, r.timestamp_ms / 1000, r.topic)
        assert event is not None
        answers.append(Answer(zlib.crc32(r.key or b"") % PARTITIONS, len(answers), event,
                              r.timestamp_ms + 5))
    stored = Stored(claims={k: dict(v) for k, v in model.claims.items()},
                    groups={k: dict(v) for k, v in model.groups.items()},
                    names=dict(model.names),
                    log_ids=[f"{org}:{cid}" for org, cid in model.answers])
    return answers, letters, stored, model


def _decide_again(model: Model, record: Record) -> dict[str, object]:
    """A redelivery decided as a new command: what deduplication prevents."""
    command = read(record.value)
    original = command["commandId"]
    command["commandId"] = "00000000-0000-4000-8000-" + original[-12:]
    event = dict(model.apply(command, record.timestamp_ms / 1000, record.topic))
    event["commandId"] = original
    return event


def _run(records: list[Record], dedupe: bool = True,
         tamper: Callable[[Stored], None] | None = None) -> Findings:
    answers, letters, stored, _ = _service(records, dedupe)
    if tamper is not None:
        tamper(stored)
    return check(records, answers, letters, stored)


RECORDS = _records(commands(3_000, seed=5, start_ms=1_764_300_000_000, claims=40))


def test_a_correct_run_passes() -> None:
    found = _run(RECORDS)
    assert found.examples == []
    assert found.lost == 0 and found.answered == found.commands == len(RECORDS)
    readable = [r.value for r in RECORDS if verdict(r.value, r.topic) != "unreadable"]
    assert found.redelivered_answers == len(readable) - len(set(readable)) > 0  # the resends


def test_deduplication_off_is_reported() -> None:
    found = _run(RECORDS, dedupe=False)
    assert found.double_effects > 0, found.examples


def test_a_stale_write_landing_is_reported() -> None:
    def stale(stored: Stored) -> None:  # a zombie's write of a claim's earlier state
        claim = next(c for c in stored.claims.values() if c["lastUpdatedOn"] > c["createdOn"])
        claim["isActive"] = not claim["isActive"]

    found = _run(RECORDS, tamper=stale)
    assert found.state_mismatches > 0, found.examples


def test_effects_applied_out_of_order_are_reported() -> None:
    claims = [i for i, r in enumerate(RECORDS) if r.topic == CLAIMS]
    # Two consecutive commands of one claim key, of different types, processed swapped.
    first, second = next((i, j) for i, j in itertools.pairwise(claims)
                         if RECORDS[i].key == RECORDS[j].key
                         and json.loads(RECORDS[i].value or b"")["type"]
                         != json.loads(RECORDS[j].value or b"")["type"])
    swapped = list(RECORDS)
    swapped[first], swapped[second] = swapped[second], swapped[first]
    answers, letters, stored, _ = _service(swapped)
    found = check(RECORDS, answers, letters, stored)
    assert found.mismatched_answers + found.order_violations > 0, found.examples


def _group_command(n: int, type_: str, **payload: object) -> dict[str, object]:
    return {"commandId": f"00000000-0000-4000-8000-{n:012d}", "type": type_, "orgId": 7,
            "actorId": 1, "issuedAt": "2026-11-28T09:18:01Z", "payload": payload}


def _steps(commands: list[dict[str, object]], seen: dict[object, dict[str, object]],
           decided: float) -> list[_Step]:
    return [_Step(c, 0, seen[c["commandId"]], decided) for c in commands]


@pytest.mark.parametrize("before", [2, 20])
def test_an_error_decided_against_an_older_snapshot_is_explained_without_backtracking(
        monkeypatch: pytest.MonkeyPatch, before: int) -> None:
    """A batch of creates read the names before a concurrent rename freed one, and was
    logged after it: its "name taken" answer needs the creates before it, which the logged
    order puts after the rename, to go first. Holding the rename back finds that order
    with no step back; the plain logged order cannot. With 20 creates before it (a dense
    small chaos run had 12 in one partition's batch, and a lookahead of 8 steps left its
    search to the budget, which real time then exhausted)."""
    first = _group_command(1, "CreateBadgeGroup", name="N35", rank=1)
    group = Model()
    group.apply(first, 0)
    gid = next(iter(group.groups))
    rename = _group_command(2, "UpdateBadgeGroup", groupId=gid, name="N33", rank=2)
    batch = [*(_group_command(3 + n, "CreateBadgeGroup", name=f"A{n}", rank=3)
               for n in range(before)),
             _group_command(3 + before, "CreateBadgeGroup", name="N35", rank=5)]
    truth = Model()  # the order the service took: the batch's reads came first
    seen = {c["commandId"]: truth.apply(c, 0) for c in [first, *batch, rename]}
    assert seen[batch[-1]["commandId"]]["errors"][0]["code"] == 733

    queues = [_steps([first], seen, 0.5), _steps([rename], seen, 1.0),
              _steps(batch, seen, 2.0)]
    monkeypatch.setattr(check_module, "SEARCH_BUDGET", 0)
    assert _interleave(queues, Model(), hold=True) == []
    unexplained = _interleave(queues, Model(), hold=False)
    assert batch[-1] in [step.command for step, _ in unexplained]


def test_a_create_refused_while_a_rename_holds_both_names_is_explained() -> None:
    """A rename reserves its new name, then releases the old one: a batch of creates in
    between finds both taken. No order of whole updates gives both refusals; the rename in
    its two steps does."""
    first = _group_command(1, "CreateBadgeGroup", name="OLD", rank=1)
    truth = Model()
    seen = {first["commandId"]: truth.apply(first, 0)}
    gid = next(iter(truth.groups))
    rename = _group_command(2, "UpdateBadgeGroup", groupId=gid, name="NEW", rank=2)
    batch = [_group_command(3, "CreateBadgeGroup", name="NEW", rank=3),
             _group_command(4, "CreateBadgeGroup", name="OLD", rank=4)]
    truth.names[(7, "NEW")] = gid  # the rename's reservation, before its release
    seen.update({c["commandId"]: truth.apply(c, 0) for c in [*batch, rename]})
    assert [seen[c["commandId"]]["errors"][0]["code"] for c in batch] == [733, 733]
    queues = [_steps([first], seen, 0), _steps([rename], seen, 1), _steps(batch, seen, 2)]
    assert _interleave(queues, Model()) != []
    assert _interleave(_split_renames(queues), Model()) == []


# -- seeded bugs under a chaos run's contention (tests/unit/simulated_service.py) ---------

WORKLOAD = commands(3_000, seed=5, start_ms=1_764_300_000_000, claims=40, names=40)
CONTENDED = records_of(WORKLOAD)
# The counter each bug must show up in (at least one of them).
CAUGHT_BY = {
    "stale_group_read": ("realtime_violations",),
    "lazy_name_release": ("realtime_violations", "mismatched_answers"),
    "lost_rank_only_update": ("state_mismatches",),
    "leaked_reservation": ("state_mismatches",),
    "code_733_for_732": ("mismatched_answers",),
    "code_732_for_733": ("mismatched_answers",),
    "create_applied_twice": ("double_effects",),
    "lost_command": ("lost",),
    "claims_decided_again": ("double_effects",),
    "claims_out_of_order": ("mismatched_answers", "order_violations"),
}


# A smaller search budget than a real run's keeps these tests quick where a bug leaves
# many answers unexplained (each costs a whole search); the correct run passes with it too,
# so what is reported below is the bug, not the budget.
QUICK_BUDGET = 300


@pytest.fixture
def quick_search(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(check_module, "SEARCH_BUDGET", QUICK_BUDGET)


@pytest.mark.usefixtures("quick_search")
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_correct_run_under_contention_passes_in_real_time_order(seed: int) -> None:
    records, answers, letters, stored, received = Simulation(CONTENDED, seed=seed).run()
    found = check(records, answers, letters, stored, received)
    assert found.examples == [], found.examples
    assert found.answered == found.commands == len(CONTENDED)
    assert len(received) > 0.9 * len(CONTENDED)


@pytest.mark.usefixtures("quick_search")
@pytest.mark.parametrize("bug", BUGS)
def test_a_seeded_bug_is_reported(bug: str) -> None:
    records = CONTENDED
    if bug == "lost_rank_only_update":  # lost for good only if nothing rewrites the group
        records = records_of(with_a_last_rank_only_update(WORKLOAD))
    found = check(*Simulation(records, bug).run())  # the correct run's seed 1
    counts = found.counts()
    assert any(counts[counter] for counter in CAUGHT_BY[bug]), (bug, counts, found.examples)
