"""Correlation of result events with the waits for them, by (orgId, commandId).

The request-reply core shared by BadgesClient and the gateway; it does no I/O: a reader
hands it each record of the results topic (`deliver`), senders `register` the commands they
publish, and callers `wait` for results. A commandId is unique per org only, so everything
is keyed by the pair: another org's results for the same commandId never answer a wait,
nor push its results out of what is kept. A wait names the org, or it is for a command
this process sent (whose org it knows), or it says `any_org` (raw tools reading any
org's results). Memory stays bounded however long it runs:

- Results of registered commands (sent by this process) are kept in a slot until a wait
  takes them. A slot nobody waits for is dropped `pending_seconds` after its last send, or
  when more than `pending_commands` such slots exist (oldest first); the latter are
  counted (`stats()["dropped"]`) and logged, and a wait that then times out says so.
- Every other result ("foreign": other clients', other instances', replays) only enters an
  LRU cache of the `recent_commands` most recent (orgId, commandId) pairs, at most
  `per_command` results each. A slot's results move there when the slot is dropped, so
  `results(id, count=2)` can still find an earlier answer within those bounds.
- A foreign record is parsed only as far as correlation needs (commandId, orgId); the full
  ResultEvent validation runs when a wait takes it. A record that is not a result event is
  logged once, with its partition and offset, and skipped; if a wait is for it (its
  commandId and org parse, the rest does not), that wait raises MalformedResultError
  naming it, rather than time out.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

from cachetools import LRUCache
from pydantic import BaseModel, ValidationError

from badges_schemas import ResultEvent

log = logging.getLogger(__name__)


class ResultTimeoutError(TimeoutError):
    """No result event for the command arrived in time."""


class MalformedResultError(ValueError):
    """A record with the awaited command's id and org is not a valid result event."""


class ResultsUnavailableError(RuntimeError):
    """No result can arrive any more: the reader of the results topic stopped (the cause is
    chained), the client was stopped, or it was started without reading results."""


@dataclass(frozen=True)
class ReplyLimits:
    """How much the core keeps; see the module docstring."""

    recent_commands: int = 10_000
    per_command: int = 4
    pending_commands: int = 100_000
    pending_seconds: float = 600.0


class _Address(BaseModel):
    """The only fields correlation reads; pydantic skips the rest of the JSON unbuilt."""

    commandId: str
    orgId: int | None


# A slot's or a cached result's key: (orgId, canonical commandId); ANY in place of the org
# for an any-org wait.
Key = tuple[object, str]
ANY = "any org"
# Dropped slots are logged at the first and then every so many.
DROP_LOG_EVERY = 1_000


class _Arrived:
    """One result record: validated when a wait first takes it."""

    __slots__ = ("command_id", "error", "event", "offset", "org_id", "partition", "raw")

    def __init__(self, org_id: int | None, command_id: str, raw: bytes, partition: int,
                 offset: int) -> None:
        self.org_id, self.command_id, self.raw = org_id, command_id, raw
        self.partition, self.offset = partition, offset
        self.event: ResultEvent | None = None
        self.error: MalformedResultError | None = None

    def validated(self) -> ResultEvent | None:
        """The event, or None (logged, `error` set) when the record is not a ResultEvent."""
        if self.event is None and self.error is None:
            try:
                self.event = ResultEvent.model_validate_json(self.raw)
            except ValidationError as exc:
                _skipped(self.partition, self.offset, exc)
                reason = " ".join(str(exc).split())[:300]
                self.error = MalformedResultError(
                    f"the result of command {self.command_id} (org {self.org_id}) at "
                    f"partition {self.partition} offset {self.offset} is not a result "
                    f"event: {reason}")
        return self.event


def _skipped(partition: int, offset: int, error: Exception) -> None:
    reason = " ".join(str(error).split())[:300]
    log.warning("skipped the record at partition %d offset %d of the results topic: not a "
                "result event (%s)", partition, offset, reason)


@dataclass(eq=False)
class _Waiter:
    count: int
    found: list[ResultEvent]
    future: asyncio.Future[list[ResultEvent]]

    def offer(self, arrived: _Arrived) -> None:
        if self.future.done():
            return
        if arrived.event is None:
            assert arrived.error is not None
            self.future.set_exception(arrived.error)
            return
        self.found.append(arrived.event)
        if len(self.found) >= self.count:
            self.future.set_result(list(self.found))


@dataclass(eq=False)
class _Slot:
    """What arrived for one commandId that this process sent or waits for."""

    registered: bool = False
    arrived: list[_Arrived] = field(default_factory=list)  # validated on arrival
    waiters: list[_Waiter] = field(default_factory=list)


def canonical(command_id: str) -> str:
    """The commandId as the worker echoes it (lower-case UUID); other strings as they are."""
    try:
        return str(uuid.UUID(command_id))
    except ValueError:
        return command_id


class Replies:
    def __init__(self, limits: ReplyLimits | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.limits = limits or ReplyLimits()
        self._clock = clock
        self._slots: dict[Key, _Slot] = {}
        # Registered slots without a waiter, by expiry (each registration moves it last).
        self._unawaited: OrderedDict[Key, float] = OrderedDict()
        self._recent: LRUCache[Key, tuple[_Arrived, ...]] = LRUCache(
            self.limits.recent_commands)
        # The org of each command this process sent, for waits that do not name it.
        self._sent: LRUCache[str, int] = LRUCache(
            self.limits.pending_commands + self.limits.recent_commands)
        self._anywhere: dict[str, int] = {}  # any-org waits per commandId
        self._closed: tuple[str, BaseException | None] | None = None  # reason, cause
        self.read = 0  # records delivered, good or bad
        self.skipped = 0  # of them, not result events
        self.dropped = 0  # registered slots dropped at the pending_commands bound

    def stats(self) -> dict[str, int]:
        return {"read": self.read, "skipped": self.skipped, "recent": len(self._recent),
                "slots": len(self._slots), "unawaited": len(self._unawaited),
                "dropped": self.dropped}

    # -- senders -----------------------------------------------------------------------

    def register(self, org_id: int, command_id: str) -> None:
        """Keep the results of a command this process is about to send, for its waits.

        `command_id` in canonical form (as the worker echoes it; see canonical()).
        """
        if self._closed is not None:
            return  # nobody can wait: nothing to keep
        self._sent[command_id] = org_id
        key = (org_id, command_id)
        slot = self._slots.setdefault(key, _Slot())
        slot.registered = True
        if not slot.waiters:
            self._unawaited_until_expiry(key)
        self._sweep()

    # -- the reader --------------------------------------------------------------------

    def deliver(self, value: bytes | None, partition: int, offset: int) -> None:
        """One record of the results topic, in the order read."""
        self.read += 1
        try:
            address = _Address.model_validate_json(value or b"")
        except ValidationError as exc:
            self.skipped += 1
            _skipped(partition, offset, exc)
            return
        assert value is not None  # an empty value fails validation above
        arrived = _Arrived(address.orgId, address.commandId, value, partition, offset)
        key = (address.orgId, address.commandId)
        slot = self._slots.get(key)
        if slot is None:
            self._remember(key, (arrived,))
        else:
            self._keep(slot, arrived)
        if self._anywhere and address.commandId in self._anywhere:
            self._keep(self._slots[(ANY, address.commandId)], arrived)
        if self._unawaited:
            self._sweep()

    def _keep(self, slot: _Slot, arrived: _Arrived) -> None:
        """An awaited command's result: validated now (only those pay for that)."""
        if arrived.validated() is None:
            self.skipped += 1  # kept too: a wait that finds nothing better raises its error
        slot.arrived = [*slot.arrived, arrived][-self.limits.per_command:]
        for waiter in slot.waiters:
            waiter.offer(arrived)

    def _remember(self, key: Key, arrived: tuple[_Arrived, ...]) -> None:
        kept = self._recent.get(key, ())
        self._recent[key] = (kept + arrived)[-self.limits.per_command:]

    def fail(self, error: BaseException) -> None:
        """The reader died: every wait, now or later, fails at once with the cause."""
        self._close(f"the reader of the results topic failed: {error!r}", error)

    def close(self, reason: str) -> None:
        self._close(reason, None)

    def _close(self, reason: str, cause: BaseException | None) -> None:
        if self._closed is not None:
            return
        self._closed = (reason, cause)
        for slot in self._slots.values():
            for waiter in slot.waiters:
                if not waiter.future.done():
                    waiter.future.set_exception(self._unavailable())

    def _unavailable(self) -> ResultsUnavailableError:
        assert self._closed is not None
        reason, cause = self._closed
        error = ResultsUnavailableError(reason)
        error.__cause__ = cause
        return error

    @property
    def open(self) -> bool:
        """Whether results can still arrive (the reader runs, or has not been stopped)."""
        return self._closed is None

    # -- waits -------------------------------------------------------------------------

    async def wait(self, command_id: str, count: int = 1, timeout: float | None = 30.0,
                   org_id: int | None = None, any_org: bool = False) -> list[ResultEvent]:
        """The command's results once `count` have arrived.

        Of `org_id`; without it, of the org this process sent the command for; with
        `any_org`, of any org (for tools reading others' results). Results that arrived
        before the wait began count too: the registered ones, and the recent ones still in
        the cache. `timeout=None` leaves the bound to the caller. Raises ValueError for a
        wait that names no org and is for no command this process sent.
        """
        if not 1 <= count <= self.limits.per_command:
            raise ValueError(f"count must be 1 to {self.limits.per_command} (per_command)")
        if self._closed is not None:
            raise self._unavailable()
        wanted = canonical(command_id)
        key = (self._org_of(wanted, org_id, any_org), wanted)
        slot = self._slots.setdefault(key, _Slot())
        self._unawaited.pop(key, None)
        known = self._known(key, slot)
        found = [a.event for a in known if a.event is not None]
        waiter = _Waiter(count, found, asyncio.get_running_loop().create_future())
        if len(found) >= count:
            waiter.future.set_result(found)
        elif not found and (errors := [a.error for a in known if a.error is not None]):
            waiter.future.set_exception(errors[0])  # nothing better answered it
        slot.waiters.append(waiter)
        if key[0] == ANY:
            self._anywhere[key[1]] = self._anywhere.get(key[1], 0) + 1
        try:
            async with asyncio.timeout(timeout):
                return await waiter.future
        except TimeoutError:
            raise ResultTimeoutError(f"no result for command {command_id} within {timeout}s"
                                     f"{self.drop_note()}") from None
        finally:
            slot.waiters.remove(waiter)
            if key[0] == ANY:
                self._anywhere[key[1]] -= 1
                if not self._anywhere[key[1]]:
                    del self._anywhere[key[1]]
            answered = waiter.future.done() and not waiter.future.cancelled()
            self._settle(key, slot, answered)

    def _org_of(self, command_id: str, org_id: int | None, any_org: bool) -> object:
        if any_org:
            return ANY
        if org_id is not None:
            return org_id
        sent = self._sent.get(command_id)
        if sent is None:
            raise ValueError(f"command {command_id}: name its org_id (commandIds are unique "
                             "per org only); this client did not send it. A tool reading "
                             "any org's results says any_org=True")
        return sent

    def drop_note(self) -> str:
        """What a timeout's message adds when sent commands' waits were dropped."""
        if not self.dropped:
            return ""
        return (f"; {self.dropped} sent commands' waits were dropped at the pending_commands "
                f"bound ({self.limits.pending_commands}, ReplyLimits): await results while "
                "sending, or raise the bound")

    def _known(self, key: Key, slot: _Slot) -> list[_Arrived]:
        """What arrived already: recent ones (validated now), then the slot's."""
        org, command_id = key
        keys = [k for k in self._recent if k[1] == command_id] if org == ANY else [key]
        cached = [a for k in keys for a in self._recent.get(k, ())]
        for arrived in cached:
            if arrived.validated() is None:
                self.skipped += 1
        if org == ANY:
            cached += [a for k, s in self._slots.items() if k[1] == command_id and s is not slot
                       for a in s.arrived]
        # An any-org slot's results are copies of other slots': each counts once.
        return list(dict.fromkeys([*cached, *slot.arrived]))

    def _settle(self, key: Key, slot: _Slot, answered: bool) -> None:
        """After a wait: drop the slot once nobody needs it; its results go to the cache."""
        if slot.waiters or self._slots.get(key) is not slot:
            return
        if slot.registered and not answered:  # timed out: its answer may still be wanted
            self._unawaited_until_expiry(key)
            return
        self._retire(key, slot)

    def _unawaited_until_expiry(self, key: Key) -> None:
        """Keep a registered slot nobody waits for `pending_seconds` more, last to expire."""
        self._unawaited[key] = self._clock() + self.limits.pending_seconds
        self._unawaited.move_to_end(key)

    def _retire(self, key: Key, slot: _Slot) -> None:
        del self._slots[key]
        self._unawaited.pop(key, None)
        if slot.arrived and key[0] != ANY:  # an any-org slot holds copies only
            self._remember(key, tuple(slot.arrived))

    def _sweep(self) -> None:
        """Drop registered slots nobody waited for: expired, or beyond the count bound."""
        now = self._clock()
        while self._unawaited:
            key, expires = next(iter(self._unawaited.items()))
            if expires > now and len(self._unawaited) <= self.limits.pending_commands:
                return
            if expires > now:
                self._dropped(key)
            self._retire(key, self._slots[key])

    def _dropped(self, key: Key) -> None:
        if self.dropped % DROP_LOG_EVERY == 0:
            log.warning("more than %d sent commands wait for no one: dropped the oldest "
                        "(%s of org %s), %d so far; a wait for it will only find its result "
                        "in the recent cache", self.limits.pending_commands, key[1], key[0],
                        self.dropped + 1)
        self.dropped += 1
