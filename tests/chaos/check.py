"""The chaos checker: everything a run published, answered and stored, against the model.

It reads what is in Kafka and MongoDB after the run, not what the producer meant to send:
the command topics read back (every copy, in partition order) are the input the service
saw. It imports nothing from `service/`; the rules are the reference model's.

- Claims and invalid or unreadable messages: the model folds the command topics in
  partition order (claims of one badge share a partition); each answer and each claim must
  be the model's.
- Groups: a create and an update of one group, or two groups wanting one name, travel on
  different partitions, so the service may apply them in any interleaving of the
  partitions' orders. `_interleave` searches for one whose answers are those observed; the
  state it leaves must be the stored one. Invariants are checked on the stored state too.
- Real time: an observer outside the service noted when each answer was first received.
  A command published after another's answer was received must come after it in the
  interleaving (Jepsen's linearizability: a completed operation precedes one that had not
  begun). A search that explains the answers only by breaking that order reports them as
  `realtime_violations`.
- Every copy of an answer for one commandId must be identical (a redelivery re-decided
  would differ: a double effect); the first answers of one key's commands must arrive in
  their partition's order; the command log must hold each commandId once.
"""

from __future__ import annotations

import copy
import functools
import json
import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from tests.chaos.fuzz import CLAIMS
from tests.chaos.model import Model, answers_match, issued_at, new_group_id, read, verdict

Doc = dict[str, Any]
SEARCH_BUDGET = 5_000  # steps back the group interleaving search may take, per attempt
# Steps ahead in each queue where an error answer can hold a success back: a batch decides
# up to its size against one snapshot, so its errors can sit that far behind a concurrent
# success. 8 was too short for a dense small run (12 creates of one org in one partition's
# batch, then the 733): the search was left to its budget, which real time exhausted.
LOOKAHEAD = 32
_MISSING = object()


class Record(NamedTuple):
    """A message as it sits in a command topic."""

    topic: str  # suffix: badge-claims, create-badge-group, update-badge-group
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp_ms: int


class Answer(NamedTuple):
    partition: int  # of the results topic
    offset: int
    event: Doc
    timestamp_ms: int  # when the worker sent it: soon after it decided the command


@dataclass
class Stored:
    claims: dict[str, Doc]
    groups: dict[str, Doc]
    names: dict[tuple[int, str], str]
    log_ids: list[str]
    logged_at: dict[str, float] = field(default_factory=dict)  # log _id -> when decided


@dataclass
class Findings:
    commands: int = 0
    answered: int = 0
    lost: int = 0
    double_effects: int = 0
    mismatched_answers: int = 0
    state_mismatches: int = 0
    order_violations: int = 0
    realtime_violations: int = 0
    redelivered_answers: int = 0
    examples: list[str] = field(default_factory=list)

    def problem(self, counter: str, example: str) -> None:
        setattr(self, counter, getattr(self, counter) + 1)
        if len(self.examples) < 20:
            self.examples.append(f"{counter}: {example}")

    def counts(self) -> dict[str, int]:
        return {k: v for k, v in vars(self).items() if isinstance(v, int)}


# (orgId, commandId) -> when an observer outside the service first received its answer
# (seconds since the epoch, the clock the producer stamps records with).
Received = Mapping[tuple[Any, Any], float]


def check(records: Sequence[Record], answers: Sequence[Answer], letters: Sequence[Doc],
          stored: Stored, received: Received | None = None) -> Findings:
    """`received` empty or None: no real-time order is known (runs saved before it was
    recorded), and only the partitions' orders bind."""
    found = Findings(commands=len(records))
    ordered = sorted(records, key=lambda r: (r.topic, r.partition, r.offset))
    by_id = _answers_by_id(answers, found)
    _check_messages(ordered, by_id, letters, found)
    _check_claims(ordered, by_id, stored, found)
    _check_groups(ordered, by_id, stored, found, received or {})
    _check_order(ordered, by_id, found)
    _check_log(ordered, stored, found)
    return found


def _id(event: Doc) -> tuple[Any, Any]:
    return event.get("orgId"), event.get("commandId")


def _answer_id(record: Record) -> tuple[Any, Any]:
    """The (orgId, commandId) a readable message's answer carries, as the service spells it
    (the answer of an invalid message, or the id of a valid one, depends on no state)."""
    event = Model().apply_raw(record.value, record.timestamp_ms / 1000, record.topic)
    assert event is not None, "only for readable messages"
    return _id(event)


def _answers_by_id(answers: Sequence[Answer], found: Findings) -> dict[tuple[Any, Any],
                                                                         list[Answer]]:
    by_id: dict[tuple[Any, Any], list[Answer]] = defaultdict(list)
    for answer in sorted(answers, key=lambda a: (a.partition, a.offset)):
        by_id[_id(answer.event)].append(answer)
    for key, copies in by_id.items():
        found.redelivered_answers += len(copies) - 1
        bodies = {json.dumps([c.event.get(k) for k in ("data", "errors", "warnings")],
                             sort_keys=True) for c in copies}
        if len(bodies) > 1:
            found.problem("double_effects", f"{key}: {len(bodies)} different answers")
    return by_id


def _check_messages(records: Sequence[Record], by_id: dict[Any, list[Answer]],
                    letters: Sequence[Doc], found: Findings) -> None:
    """Every message answered: a result for each command, a dead letter for the unreadable."""
    lettered = Counter((d.get("partition"), d.get("offset"), _suffix(d.get("topic")))
                       for d in letters)
    for r in records:
        if verdict(r.value, r.topic) == "unreadable":
            ok = lettered[(r.partition, r.offset, r.topic)] > 0
        else:
            ok = bool(by_id.get(_answer_id(r)))
        if ok:
            found.answered += 1
        else:
            found.problem("lost", f"{r.topic}/{r.partition}@{r.offset}")


def _suffix(topic: object) -> str | None:
    return topic.split(".")[1] if isinstance(topic, str) and topic.count(".") >= 2 else None


def _first(by_id: dict[Any, list[Answer]], event: Doc) -> Doc | None:
    copies = by_id.get(_id(event))
    return copies[0].event if copies else None


def _check_claims(records: Sequence[Record], by_id: dict[Any, list[Answer]], stored: Stored,
                  found: Findings) -> None:
    """Claim topics and every invalid message, folded in partition order."""
    model = Model()
    for r in records:
        kind = verdict(r.value, r.topic)
        if kind == "unreadable" or (kind == "valid" and r.topic != CLAIMS):
            continue
        expected = model.apply_raw(r.value, r.timestamp_ms / 1000, r.topic)
        assert expected is not None
        got = _first(by_id, expected)
        if got is not None and not answers_match(expected, got):
            found.problem("mismatched_answers", f"expected {expected}, got {got}")
    _compare("claim", model.claims, stored.claims, found)


def _compare(what: str, expected: dict[Any, Any], actual: dict[Any, Any],
             found: Findings) -> None:
    for key in sorted(set(expected) | set(actual), key=repr):
        if expected.get(key) != actual.get(key):
            found.problem("state_mismatches", f"{what} {key!r}: stored {actual.get(key)!r}, "
                                              f"model {expected.get(key)!r}")


class _Step(NamedTuple):
    command: Doc
    at: float  # the record's time (for a command without issuedAt)
    seen: Doc | None  # the first answer published, None if lost
    decided_at: float  # when its log entry was written (else answered): the order to try
    reserve: bool = False  # only the new name's reservation of a rename (see ATTEMPTS)
    after: tuple[int, int] | None = None  # (queue, index): taken only once that one is
    received: float = math.inf  # when its answer was first received outside (see check)


# The orders the interleaving search tries first, one after the other until one explains
# everything: when each command's log entry was written (its batch decided), when its first
# answer was sent, when it was published. Each misleads somewhere: a batch decides commands
# one by one before it logs them, and sends their answers later still.
ORDERS = ("logged", "answered", "published")
# Each order is tried as it is; then with each successful update in two steps, as the
# service makes it: the new name is reserved when the update is decided, the old one
# released once its batch is logged and applied (`_split_renames`): a create refused in
# between saw both names taken, which no order of whole updates gives; a batch's renames
# all reserve before any releases, and an outage holds them all in between; then holding
# back the successes that
# would spoil an error answer a few steps ahead (`_spoils_an_error`): that explains a batch
# that decided against state older than a concurrent batch logged before it, but misleads
# elsewhere; last, both at once (a small chaos run on a loaded machine, checked against
# real time, needed both: creates refused while a rename held both names, decided against
# names read before a concurrent batch logged). Each attempt that explains everything ends
# the search.
ATTEMPTS = tuple((order, hold, split) for hold, split in ((False, False), (False, True),
                                                          (True, False), (True, True))
                 for order in ORDERS)


def _group_queues(records: Sequence[Record], by_id: dict[Any, list[Answer]],
                  logged_at: dict[str, float], order: str, received: Received
                  ) -> list[list[_Step]]:
    queues: dict[tuple[str, int], list[_Step]] = defaultdict(list)
    copies_seen: set[tuple[Any, Any]] = set()
    for r in records:
        if r.topic != CLAIMS and verdict(r.value, r.topic) == "valid":
            key = _answer_id(r)
            # The answer received is the first copy's: a later copy (a resend) binds nothing.
            first_copy = key not in copies_seen
            copies_seen.add(key)
            copies = by_id.get(key)
            first = copies[0] if copies else None
            published = r.timestamp_ms / 1000
            answered = first.timestamp_ms / 1000 if first else published
            when = {"logged": logged_at.get("{}:{}".format(*key), answered),
                    "answered": answered, "published": published}[order]
            queues[(r.topic, r.partition)].append(_Step(
                read(r.value), published, first.event if first else None, when,
                received=received.get(key, math.inf) if first_copy else math.inf))
    return list(queues.values())


def _check_groups(records: Sequence[Record], by_id: dict[Any, list[Answer]], stored: Stored,
                  found: Findings, received: Received) -> None:
    model = Model()
    queues = {order: _group_queues(records, by_id, stored.logged_at, order, received)
              for order in ORDERS}
    for org in sorted({step.command["orgId"] for q in queues[ORDERS[0]] for step in q}):
        of_org = {order: _of_org(q, org) for order, q in queues.items()}
        org_model, unexplained = _explain_org(of_org, realtime=True)
        if unexplained and received and not _explain_org(of_org, realtime=False)[1]:
            # Some order explains the answers, but only one that puts a command before
            # another whose answer was received before it was even published.
            for step, expected in unexplained:
                found.problem("realtime_violations", f"{step.seen} is explained only by "
                                                     f"an order against real time; in "
                                                     f"real-time order: {expected}")
            unexplained = []
        model.groups.update(org_model.groups)
        model.names.update(org_model.names)
        for step, expected in unexplained:
            found.problem("mismatched_answers", f"no interleaving gives {step.seen}; "
                                                f"first unexplained, model says {expected}")
    _compare("group", model.groups, stored.groups, found)
    _compare("name", model.names, stored.names, found)
    _check_invariants(stored, found)


def _of_org(queues: list[list[_Step]], org: Any) -> list[list[_Step]]:
    """One org's steps of each queue, in the queue's order: orgs share no group, name or
    answer, so each org's interleaving is searched on its own (a far smaller search)."""
    return [mine for q in queues if (mine := [s for s in q if s.command["orgId"] == org])]


def _explain_org(queues: dict[str, list[list[_Step]]], realtime: bool
                 ) -> tuple[Model, list[tuple[_Step, Doc]]]:
    """The model after the org's best interleaving, tried from each order in turn."""
    best: tuple[Model, list[tuple[_Step, Doc]]] | None = None
    for order, hold, split in ATTEMPTS:
        model = Model()
        unexplained = _interleave(_split_renames(queues[order]) if split else queues[order],
                                  model, hold, realtime)
        if best is None or len(unexplained) < len(best[1]):
            best = (model, unexplained)
        if not unexplained:
            break
    assert best is not None
    return best


def _touched(model: Model, command: Doc) -> list[tuple[dict[Any, Any], Any]]:
    """The model entries a group command can change: what to restore to undo it."""
    org, payload = command["orgId"], command["payload"]
    entries: list[tuple[dict[Any, Any], Any]] = [
        (model.answers, (org, command["commandId"])), (model.names, (org, payload["name"]))]
    if command["type"] == "CreateBadgeGroup":
        gid = _group_of_create(org, command["commandId"], command.get("issuedAt"))
    else:
        gid = str(payload["groupId"]).lower()
        old = model.groups.get(gid, {}).get("name")
        entries.append((model.names, (org, old)))
    entries.append((model.groups, gid))
    return entries


@functools.cache
def _group_of_create(org: int, command_id: str, issued: str | None) -> str:
    """The id of the group a create makes (cached: the search asks again and again)."""
    at = issued_at(issued)
    assert at is not None, "chaos creates carry issuedAt"
    return new_group_id(org, command_id, at)


def _save(entries: Iterable[tuple[dict[Any, Any], Any]]) -> list[tuple[dict[Any, Any], Any, Any]]:
    return [(d, k, copy.deepcopy(d[k]) if k in d else _MISSING) for d, k in entries]


def _restore(saved: list[tuple[dict[Any, Any], Any, Any]]) -> None:
    for d, k, value in reversed(saved):
        if value is _MISSING:
            d.pop(k, None)
        else:
            d[k] = value


def _interleave(queues: list[list[_Step]], model: Model,
                hold: bool = False, realtime: bool = True) -> list[tuple[_Step, Doc]]:
    """Apply the queues to `model` in an order whose answers are those seen (depth first).

    An answer with errors changes nothing, so a head whose error matches is taken without
    branching; successes branch, earliest decided first (the time of its log entry: the
    order the workers decided them in, give or take the batch's reservations). Returns the
    steps no order explains (with the model's answer), after applying them anyway, when none
    exists
    within the budget of backtracking steps. `hold`: see ATTEMPTS. `realtime`: a head waits
    while another queue still holds a step whose answer was received before the head was
    published.
    """
    pos = [0] * len(queues)
    trail: list[tuple[int, list[Any], list[int]]] = []  # (queue, saved, other choices)
    budget = SEARCH_BUDGET
    unexplained: list[tuple[_Step, Doc]] = []
    choices: list[int] | None = None
    absent = _awaiting_absence(queues)
    answered_by = _earliest_received(queues) if realtime else None

    def second_step_first(i: int) -> bool:
        """A command's second step before its first (see `_split_renames`)."""
        after = queues[i][pos[i]].after
        return after is not None and pos[after[0]] <= after[1]

    def waits(i: int) -> bool:
        if second_step_first(i):
            return True
        if answered_by is None:
            return False
        published = queues[i][pos[i]].at
        return any(answered_by[q][pos[q]] < published for q in range(len(queues)) if q != i)

    def preference(i: int) -> tuple[int, float]:
        step = queues[i][pos[i]]
        rank, at = _preference(step)
        # A creation that an update seen as "group not found" still waits for goes later.
        if rank == 1 and (any(n >= pos[q] for q, n in absent.get(_created_id(step), ()))
                          or (hold and _spoils_an_error(queues, pos, i, model))):
            rank = 2
        return rank, at

    while any(p < len(q) for p, q in zip(pos, queues, strict=True)):
        if choices is None:
            choices = sorted((i for i, q in enumerate(queues)
                              if pos[i] < len(q) and not waits(i)), key=preference)
        taken = False
        while choices:
            i = choices.pop(0)
            step = queues[i][pos[i]]
            saved = _save(_touched(model, step.command))
            matches, error = _take(model, step)
            if matches:
                trail.append((i, saved, [] if error else choices))
                pos[i] += 1
                taken = True
                break
            _restore(saved)
        if taken:
            choices = None
            continue
        budget -= _jump_back(trail, pos, _heads_keys(queues, pos, model))
        while trail and not trail[-1][2] and budget > 0:
            i, saved, _ = trail.pop()
            _restore(saved)
            pos[i] -= 1
            budget -= 1
        if trail and budget > 0:
            i, saved, choices = trail.pop()
            _restore(saved)
            pos[i] -= 1
            budget -= 1
            continue
        # No order explains what was seen: take the earliest head as it is, and go on. It
        # is unexplained if the model answers it otherwise, or real time says it must wait.
        heads = [i for i, q in enumerate(queues) if pos[i] < len(q)]
        ready = [i for i in heads if not second_step_first(i)]
        i = min(ready or heads, key=lambda j: queues[j][pos[j]].at)
        step, early = queues[i][pos[i]], waits(i)
        matches, _ = _take(model, step)
        if not step.reserve and (early or not matches):  # a reservation has no answer
            unexplained.append((step, model.apply(step.command, step.at)))
        pos[i] += 1
        trail.clear()
        choices = None
    return unexplained


def _earliest_received(queues: list[list[_Step]]) -> list[list[float]]:
    """For each queue and position: the earliest answer received among its steps from
    there on (infinity past the end), so a head's real-time check costs one look a queue."""
    out = []
    for queue in queues:
        suffix = [math.inf] * (len(queue) + 1)
        for n in range(len(queue) - 1, -1, -1):
            suffix[n] = min(queue[n].received, suffix[n + 1])
        out.append(suffix)
    return out


def _take(model: Model, step: _Step) -> tuple[bool, bool]:
    """Apply the step; whether it gives the answer seen, and whether that is an error."""
    if step.reserve:
        return _reserve(model, step.command), False
    expected = model.apply(step.command, step.at)
    return (step.seen is None or answers_match(expected, step.seen)), bool(expected["errors"])


def _reserve(model: Model, command: Doc) -> bool:
    """Reserve the name a create or an update decides for its group, if the name is free or
    the group's already, and an updated group exists (the first half of the command; the
    command itself, which writes the group, is the second)."""
    org, payload = command["orgId"], command["payload"]
    name = (org, payload["name"])
    if command["type"] == "CreateBadgeGroup":
        gid = _group_of_create(org, command["commandId"], command.get("issuedAt"))
    else:
        gid = str(payload["groupId"]).lower()
        group = model.groups.get(gid)
        if group is None or group["orgId"] != org:
            return False
    if model.names.get(name, gid) != gid:
        return False
    model.names[name] = gid
    return True


def _split_renames(queues: list[list[_Step]]) -> list[list[_Step]]:
    """Each create or update answered with success in two steps: the reservation of its
    name,
    where the update sits in its queue (decisions are made in partition order), and the
    update itself in a queue of its own beside it (applied in partition order too, after
    its reservation, but any number of the queue's later decisions may come in between)."""
    decisions: list[list[_Step]] = []
    applied: list[list[_Step]] = []
    for queue in queues:
        decided: list[_Step] = []
        then: list[_Step] = []
        for step in queue:
            if _renames(step):
                then.append(step._replace(after=(len(decisions), len(decided))))
                decided.append(step._replace(reserve=True))
            else:
                decided.append(step)
        decisions.append(decided)
        if then:
            applied.append(then)
    return decisions + applied


def _renames(step: _Step) -> bool:
    """A create or an update answered with success: it reserves its name when decided and
    writes its group (and frees an old name) only once its batch is logged."""
    return (step.command["type"] in ("CreateBadgeGroup", "UpdateBadgeGroup")
            and step.seen is not None and not step.seen.get("errors"))


def _keys(saved: list[tuple[dict[Any, Any], Any, Any]]) -> set[tuple[int, Any]]:
    return {(id(d), k) for d, k, _ in saved if _real(k)}


def _real(key: Any) -> bool:
    """Not the placeholder (org, None) "old name" of an update of a group not yet created:
    every such update touches it, which would make them all look related."""
    return not (isinstance(key, tuple) and key[-1] is None)


def _heads_keys(queues: list[list[_Step]], pos: list[int], model: Model) -> set[tuple[int, Any]]:
    """The group and name entries the steps that cannot be taken now read or write."""
    keys: set[tuple[int, Any]] = set()
    for i, queue in enumerate(queues):
        if pos[i] < len(queue):
            keys |= {(id(d), k) for d, k in _touched(model, queue[pos[i]].command)
                     if d is not model.answers and _real(k)}
    return keys


def _jump_back(trail: list[tuple[int, list[Any], list[int]]], pos: list[int],
               stuck: set[tuple[int, Any]]) -> int:
    """Undo the steps taken since the latest one that touched what the stuck heads need
    (conflict-directed backjumping): steps in between did not cause the conflict, so their
    alternatives need not be tried first. Stops short of it, which the caller then undoes
    or branches at. Only changes which orders are tried: every order taken is still checked
    step by step against the model. Returns the steps undone."""
    culprit = next((n for n in range(len(trail) - 1, -1, -1)
                    if _keys(trail[n][1]) & stuck), None)
    undone = 0
    while culprit is not None and len(trail) > culprit + 1:
        i, saved, _ = trail.pop()
        _restore(saved)
        pos[i] -= 1
        undone += 1
    return undone


def _spoils_an_error(queues: list[list[_Step]], pos: list[int], i: int, model: Model) -> bool:
    """Would taking queue i's head change the answer, which the model gives right now, of
    an error a few steps ahead in another queue?

    A batch decides against the state it read when it started: its errors can come from
    before a concurrent batch's success that was logged earlier. The error's queue must
    then catch up first, through the steps before it, which the decided order does not do.
    """
    head = queues[i][pos[i]].command
    keys = _group_keys(model, head)
    for q, queue in enumerate(queues):
        for step in queue[pos[q]:pos[q] + LOOKAHEAD] if q != i else ():
            if (step.seen and step.seen.get("errors") and keys & _group_keys(model, step.command)
                    and _answers(model, step) and not _answers(model, step, after=head)):
                return True
    return False


def _group_keys(model: Model, command: Doc) -> set[Any]:
    """The names and the group the command reads or changes."""
    return {k for d, k in _touched(model, command) if d is not model.answers and _real(k)}


def _answers(model: Model, step: _Step, after: Doc | None = None) -> bool:
    """Does the model give the step's answer now (or once `after` is applied)? Changes
    nothing."""
    saved = _save(_touched(model, after)) if after is not None else []
    if after is not None:
        model.apply(after, issued_at(after.get("issuedAt")) or 0.0)
    saved += _save(_touched(model, step.command))
    try:
        return step.seen is not None and answers_match(model.apply(step.command, step.at),
                                                       step.seen)
    finally:
        _restore(saved)  # in reverse: the step's entries, then `after`'s


def _created_id(step: _Step) -> tuple[Any, str] | None:
    command = step.command
    if command["type"] != "CreateBadgeGroup":
        return None
    at = issued_at(command.get("issuedAt"))
    return command["orgId"], new_group_id(command["orgId"], command["commandId"], at or 0)


def _awaiting_absence(queues: list[list[_Step]]) -> dict[tuple[Any, str],
                                                          list[tuple[int, int]]]:
    """(org, group id) -> the updates answered "group not found" for it: (queue, index)."""
    found: dict[tuple[Any, str], list[tuple[int, int]]] = defaultdict(list)
    for q, queue in enumerate(queues):
        for n, step in enumerate(queue):
            if any(e.get("code") == 9004 for e in (step.seen or {}).get("errors") or []):
                gid = str(step.command["payload"]["groupId"]).lower()
                found[(step.command["orgId"], gid)].append((q, n))
    return found


def _preference(step: _Step) -> tuple[int, float]:
    """Answers with errors first (taking one that matches never hurts), then successes,
    then the lost, each in the order they were decided."""
    if step.seen is None:
        return 3, step.at
    return (0 if step.seen.get("errors") else 1), step.decided_at


def _check_invariants(stored: Stored, found: Findings) -> None:
    holders: dict[tuple[int, str], list[str]] = defaultdict(list)
    for gid, group in stored.groups.items():
        if group.get("isActive", True):
            holders[(group["orgId"], group["name"])].append(gid)
    for name, gids in holders.items():
        if len(gids) > 1:
            found.problem("state_mismatches", f"name {name} held by groups {gids}")
        if stored.names.get(name) not in gids:
            found.problem("state_mismatches", f"group {gids} holds {name} unreserved")
    for name, gid in stored.names.items():
        group = stored.groups.get(gid)
        if group is None or group["name"] != name[1]:
            found.problem("state_mismatches", f"reservation {name} of {gid}, which is "
                                              f"named {group and group['name']!r}")


def _check_order(records: Sequence[Record], by_id: dict[Any, list[Answer]],
                 found: Findings) -> None:
    """Per key: the first answers of its commands arrive in the order the commands sit."""
    last: dict[tuple[str, bytes | None], tuple[int, int]] = {}
    seen: set[tuple[Any, Any]] = set()
    for r in records:
        if verdict(r.value, r.topic) != "valid":
            continue
        key = _answer_id(r)
        copies = by_id.get(key)
        if key in seen or not copies:
            continue
        seen.add(key)
        at = (copies[0].partition, copies[0].offset)
        before = last.get((r.topic, r.key))
        if before is not None and (before[0] == at[0] and before[1] > at[1]):
            found.problem("order_violations", f"{key} answered at {at}, after a later "
                                              f"command of its key at {before}")
        last[(r.topic, r.key)] = at


def _check_log(records: Sequence[Record], stored: Stored, found: Findings) -> None:
    logged = Counter(stored.log_ids)
    valid = {"{}:{}".format(*_answer_id(r)) for r in records
             if verdict(r.value, r.topic) == "valid"}
    for key in sorted(set(logged) | valid):
        if logged[key] > 1:  # decided more than once: a double effect, whatever answered
            found.problem("double_effects", f"command log holds {key} {logged[key]} times")
        elif logged[key] != (1 if key in valid else 0):
            found.problem("state_mismatches", f"command log holds {key} {logged[key]} times")
