"""Process one batch of consumed messages: dedupe, decide, persist, and say what to publish.

The order of durable steps is what gives exactly-once effects without transactions:
1. look the commands up in the command log (a logged command is answered from it) and,
   at the same time, read the state the batch's commands need;
2. decide the new ones against that snapshot. Name reservations are made first, in one
   bulk, for the names a dry run of the batch's group commands says they will ask for
   (service/worker/reservations.py), then taken by the decisions that ask; the insert of a
   reservation is the uniqueness check, so a name found taken is reserved again the old
   way, one by one, and what was made ahead and not taken is removed before logging. A
   reservation records its command, so one whose command was logged with another
   decision counts as stale;
3. log each decision (result + effects) as pending;
4. apply the claim and group effects, one write per document, then release the names they
   free. A release waits for its decision to be logged: a worker that loses the race to
   log (a zombie, or the old owner overlapping the new one) may have decided otherwise,
   and its release would free a name the logged decision keeps. When a later command of
   the batch needs a name an earlier one frees, the decisions so far are logged and their
   names released first (`_release_logged`);
5. mark the log entries done. The worker does this while the batch's results are
   published (`store_batch`, then `Store.mark_done` beside the publish); until the markers
   are stored, the store counts the entries as done in this process (`Store.applied`), so a
   repeat in the next batch is not re-applied. Offsets move only after both.
A crash anywhere re-runs the batch: a pending entry's effects are applied again (they are
idempotent and re-applied in the original order), and its stored result is re-sent.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from badges_schemas import Command, CommandType, DeadLetter, Invalid, ResultEvent, Unreadable
from badges_schemas.commands import CreateBadgeGroup, UpdateBadgeGroup
from service.domain.decisions import new_group_id
from service.domain.model import Decision, Effect, ReleaseName, ReserveName
from service.domain.state import Reads, Snapshot
from service.store.docs import Fence
from service.store.mongo import LogEntry, Positions, Store
from service.worker.metrics import DEAD_LETTER, DUPLICATE, ERROR, FENCED_WRITES, OK, Outcome
from service.worker.reservations import GroupCommand, advance, first_decision, names_ahead

log = logging.getLogger(__name__)

PREVIEW_BYTES = 1024
# No key of the contract is longer (ids, or an org and a 256-character name). A longer one
# would be sent back with its answer and could push it past the broker's message size, where
# it would be refused on every retry and stop its partition.
MAX_REPLY_KEY_BYTES = 1024
RESERVATION_ATTEMPTS = 5
_TYPES = frozenset(t.value for t in CommandType)


@dataclass(frozen=True)
class Origin:
    topic: str
    partition: int
    offset: int
    timestamp: float  # seconds since the epoch, from the Kafka record
    epoch: int = 0  # the fence epoch of its position (service/store/epochs.py)

    def fence(self) -> Fence:
        return Fence(self.partition, self.offset, self.epoch)


@dataclass(frozen=True)
class Incoming:
    message: Command | Invalid | Unreadable
    key: bytes | None
    value: bytes | None
    origin: Origin

    @property
    def at(self) -> float:
        """The command's time: issuedAt when given, else when Kafka got it."""
        if isinstance(self.message, Command) and self.message.issuedAt is not None:
            return self.message.issuedAt.timestamp()
        return self.origin.timestamp


@dataclass(frozen=True)
class Outgoing:
    dead_letter: bool
    key: bytes | None
    value: bytes


def log_key(command: Command) -> str:
    return f"{command.orgId}:{command.commandId}"


def result_json(command: Command, decision: Decision) -> str:
    envelope = decision.envelope
    return ResultEvent(
        commandId=command.commandId, type=str(command.type), orgId=command.orgId,
        data=envelope.data, errors=envelope.errors, warnings=envelope.warnings,
    ).model_dump_json()


def rejection_json(invalid: Invalid) -> str:
    return ResultEvent(
        commandId=invalid.commandId, type=invalid.type, orgId=invalid.orgId,
        data=None, errors=list(invalid.problems),
    ).model_dump_json()


def reply_key(key: bytes | None) -> bytes | None:
    """The key of an answer: the command's, or the SHA-256 (hex) of one too long to echo."""
    if key is None or len(key) <= MAX_REPLY_KEY_BYTES:
        return key
    return hashlib.sha256(key).hexdigest().encode()


def dead_letter_json(incoming: Incoming, reason: str) -> str:
    value = incoming.value or b""
    key = incoming.key
    return DeadLetter(
        reason=reason, topic=incoming.origin.topic, partition=incoming.origin.partition,
        offset=incoming.origin.offset, timestamp=incoming.origin.timestamp,
        key=key[:PREVIEW_BYTES].decode("utf-8", "replace") if key is not None else None,
        valueSize=len(value), valueSha256=hashlib.sha256(value).hexdigest(),
        valuePreview=base64.b64encode(value[:PREVIEW_BYTES]).decode(),
    ).model_dump_json()


@dataclass
class _Batch:
    """Working state of one batch: what it will log, apply and publish."""

    snapshot: Snapshot
    logged: dict[str, LogEntry]
    positions: Positions  # the fences of the documents the batch writes, as it goes
    answered: dict[str, str] = field(default_factory=dict)
    new_entries: list[LogEntry] = field(default_factory=list)
    origins: list[dict[str, object]] = field(default_factory=list)
    effects: list[tuple[Effect, Fence | None]] = field(default_factory=list)
    logged_upto: int = 0  # how many of new_entries are logged already
    unreleased: list[tuple[ReleaseName, Fence | None]] = field(default_factory=list)
    out: list[Outgoing] = field(default_factory=list)
    outcomes: list[Outcome] = field(default_factory=list)


@dataclass(frozen=True)
class Stored:
    """A batch whose effects are durable: what to publish, and the log entries to mark done."""

    out: list[Outgoing]
    done: list[str]
    outcomes: list[Outcome] = field(default_factory=list)  # for the metrics, once published


async def handle_batch(batch: Sequence[Incoming], store: Store) -> list[Outgoing]:
    """The whole batch, one step after the other: store it, then mark its entries done."""
    stored = await store_batch(batch, store)
    await store.mark_done(stored.done)
    return stored.out


async def store_batch(batch: Sequence[Incoming], store: Store) -> Stored:
    """Steps 1 to 4; the caller marks `done` (Store.mark_done) before acknowledging."""
    commands = [m.message for m in batch if isinstance(m.message, Command)]
    reads = Reads()
    for command in commands:
        reads.add(command)
    # Independent reads: the log lookup does not change what the commands read.
    logged, (snapshot, positions) = await asyncio.gather(
        store.find_logged(log_key(c) for c in commands), store.load(reads)
    )
    work = _Batch(snapshot, logged, positions)
    fenced_before = store.fenced_writes
    await store.reserve_ahead(names_ahead(_group_commands(batch, logged), snapshot, positions))
    for incoming in batch:
        await _handle_one(incoming, work, store)
    await store.drop_unused()
    await _log(work, store)
    await store.apply(work.effects, snapshot.stored_claims)  # releases the names too
    done = [e.key for e in work.new_entries] + [k for k, e in logged.items() if e.pending]
    store.applied(done)
    if fenced := store.fenced_writes - fenced_before:
        FENCED_WRITES.inc(fenced)
        first = batch[0].origin
        log.warning("fenced %d stale writes of a batch of %d from %s: documents were newer "
                    "(this worker lost the partition while it was stalled)", fenced,
                    len(batch), first.topic,
                    extra={"topic": first.topic, "partition": first.partition,
                           "offset": first.offset})
    return Stored(work.out, done, work.outcomes)


def _group_commands(batch: Sequence[Incoming], logged: dict[str, LogEntry]
                    ) -> list[GroupCommand]:
    """The batch's group commands as the handler will meet them: each log key once, a
    logged one only if its entry is pending (it is replayed)."""
    found: dict[str, GroupCommand] = {}
    for incoming in batch:
        command = incoming.message
        if not isinstance(command, Command) or not isinstance(
                command.payload, CreateBadgeGroup | UpdateBadgeGroup):
            continue
        key = log_key(command)
        entry = logged.get(key)
        if key in found or (entry is not None and not entry.pending):
            continue
        found[key] = GroupCommand(command, incoming.at, _fence(command, incoming.origin), key,
                                  entry.effects if entry is not None else None)
    return list(found.values())


async def _handle_one(incoming: Incoming, work: _Batch, store: Store) -> None:
    message = incoming.message
    key = reply_key(incoming.key)
    at = incoming.origin.timestamp
    if isinstance(message, Unreadable):
        value = dead_letter_json(incoming, message.reason)
        work.out.append(Outgoing(True, key, value.encode()))
        work.outcomes.append(Outcome("unknown", DEAD_LETTER, "", at))
        return
    if isinstance(message, Invalid):
        work.out.append(Outgoing(False, key, rejection_json(message).encode()))
        work.outcomes.append(Outcome(_type_label(message.type), ERROR,
                                     str(message.problems[0].code), at))
        return
    entry = log_key(message)
    repeat = entry in work.answered or _answered_before(work.logged.get(entry))
    if entry not in work.answered:
        work.answered[entry] = await _answer(message, incoming, work, store)
    result = work.answered[entry]
    work.out.append(Outgoing(False, key, result.encode()))
    work.outcomes.append(Outcome(str(message.type), DUPLICATE, "", at) if repeat
                         else _outcome(message, result, at))
    if log.isEnabledFor(logging.DEBUG):
        _trace(message, incoming.origin, work.outcomes[-1])


def _trace(command: Command, origin: Origin, outcome: Outcome) -> None:
    """One line per command at DEBUG, with the fields that find it (JSON logs show them)."""
    log.debug("%s %s: %s %s", command.type, command.commandId, outcome.outcome, outcome.code,
              extra={"commandId": command.commandId, "orgId": command.orgId,
                     "topic": origin.topic, "partition": origin.partition,
                     "offset": origin.offset})


def _answered_before(entry: LogEntry | None) -> bool:
    """A repeat of a command whose answer was published (a pending one may not have been)."""
    return entry is not None and not entry.pending


def _type_label(name: str | None) -> str:
    """A command type, or "unknown": labels come from a fixed set, never from raw input."""
    return name if name in _TYPES else "unknown"


def _outcome(command: Command, result: str, at: float) -> Outcome:
    errors = json.loads(result).get("errors") or []
    if errors:
        return Outcome(str(command.type), ERROR, str(errors[0]["code"]), at)
    return Outcome(str(command.type), OK, "", at)


async def _answer(command: Command, incoming: Incoming, work: _Batch, store: Store) -> str:
    entry = work.logged.get(log_key(command))
    if entry is not None:
        if entry.pending:
            fence = None if _creates(command) else entry.fence
            await _replay(entry, work, store, fence)
        elif _creates(command) and not entry.effects:
            await _drop_orphan_reservation(command, incoming.at, store)
        return entry.result
    origin = incoming.origin
    fence = _fence(command, origin)
    decision = await _decide_in_order(command, incoming.at, work, store, fence)
    result = result_json(command, decision)
    work.new_entries.append(LogEntry(log_key(command), result, decision.effects))
    work.origins.append({"topic": origin.topic, "partition": origin.partition,
                         "offset": origin.offset, "epoch": origin.epoch})
    _track(decision.effects, work, fence)
    return result


async def _drop_orphan_reservation(command: Command, at: float, store: Store) -> None:
    """A creation logged as failed makes no group, yet a worker that lost the race to log
    it (a zombie, or the other side of a rebalance) may have reserved the name for it
    first: that reservation would hold the name forever. Its redelivery removes it."""
    assert isinstance(command.payload, CreateBadgeGroup)
    group_id = new_group_id(command.orgId, command.commandId, at)
    await store.release_name(ReleaseName(command.orgId, command.payload.name, group_id))


def _fence(command: Command, origin: Origin) -> Fence | None:
    """The fence of a fresh decision's writes: where the command was read; none for a
    creation (see `_creates`)."""
    return None if _creates(command) else origin.fence()


def _creates(command: Command) -> bool:
    """A group's creation comes from another topic than its updates: it has no fence
    (service/store/docs.py explains what protects it instead)."""
    return command.type is CommandType.CREATE_BADGE_GROUP


async def _decide_in_order(command: Command, at: float, work: _Batch, store: Store,
                           fence: Fence | None) -> Decision:
    """Decide; if another worker took the name we were about to reserve, decide again.

    A command whose document already reflects a newer one is superseded, not decided
    (`first_decision`): decided against that newer state, it would be answered as applied
    while its fenced write is refused. Within an epoch that is a command read again after
    its consumer group's offsets were reset lower; across epochs, one left in a partition
    its key has moved from, or a stalled worker's of a topic since recreated."""
    for _ in range(RESERVATION_ATTEMPTS):
        decision = first_decision(command, at, work.snapshot, work.positions, fence)
        conflict = await _reserve_names(decision.effects, work, store, fence, log_key(command))
        if not conflict:
            advance(work.positions, command, fence, decision)
            return decision
    raise RuntimeError(f"name reservation kept changing under command {command.commandId}")


async def _reserve_names(effects: Sequence[Effect], work: _Batch, store: Store,
                         fence: Fence | None, command: str) -> bool:
    for effect in effects:
        if isinstance(effect, ReserveName):
            await _release_logged(effect, work, store)
            holder = await store.reserve_name(effect, fence, command, defer_check=True)
            if holder != effect.group_id:
                name = (effect.org_id, effect.name)
                if holder:
                    work.snapshot.names[name] = holder
                else:
                    work.snapshot.names.pop(name, None)
                return True
    return False


async def _log(work: _Batch, store: Store) -> None:
    """Log the batch's decisions that are not logged yet (their reservations checked
    first)."""
    await store.check_reservations()
    await store.log_pending(work.new_entries[work.logged_upto:],
                            work.origins[work.logged_upto:])
    work.logged_upto = len(work.new_entries)


async def _release_logged(effect: ReserveName, work: _Batch, store: Store) -> None:
    """Before reserving a name that an earlier decision of this batch frees: log the
    decisions so far, then release their names (the snapshot has them free already, and
    the store would still find them held)."""
    if not any((r.org_id, r.name) == (effect.org_id, effect.name) for r, _ in work.unreleased):
        return
    await _log(work, store)
    await store.release_names(work.unreleased)
    work.unreleased.clear()


def _track(effects: Sequence[Effect], work: _Batch, fence: Fence | None) -> None:
    """A fresh decision's effects: in the snapshot now; entities and releases in the
    batch's bulk write, once the batch is logged (Store.apply). Its reservations are made
    already (`_decide`)."""
    for effect in effects:
        work.snapshot.apply(effect)
        if isinstance(effect, ReleaseName):
            work.unreleased.append((effect, fence))
        if not isinstance(effect, ReserveName):
            work.effects.append((effect, fence))


async def _replay(entry: LogEntry, work: _Batch, store: Store, fence: Fence | None) -> None:
    """A logged decision's effects again: its names at once (it is the logged decision),
    its entities in the batch's bulk write."""
    for effect in entry.effects:
        work.snapshot.apply(effect)
        if isinstance(effect, ReserveName):
            await _release_logged(effect, work, store)
            await store.reserve_name(effect, fence, entry.key, defer_check=True)
            continue
        if isinstance(effect, ReleaseName):
            await store.release_name(effect, fence)
        work.effects.append((effect, fence))
