"""Correlation of result events with the waits for them, by (orgId, commandId).

The request-reply core shared by BadgesClient and the gateway; it does no I/O: a reader
hands it each record of the results topic (`deliver`), senders `register` the commands they
publish, and callers `wait` for results. Memory stays bounded however long it runs:

- Results of registered commands (sent by this process) are kept in a slot until a wait
  takes them. A slot nobody waits for is dropped `pending_seconds` after its last send, or
  when more than `pending_commands` such slots exist (oldest first).
- Every other result ("foreign": other clients', other instances', replays) only enters an
  LRU cache of the `recent_commands` most recent commandIds, at most `per_command` results
  each. A slot's results move there when the slot is dropped, so `results(id, count=2)` can
  still find an earlier answer within those bounds.
- A foreign record is parsed only as far as correlation needs (commandId, orgId); the full
  ResultEvent validation runs when a wait takes it. A record that is not a result event is
  logged once, with its partition and offset, and skipped.
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


class _Arrived:
    """One result record: validated when a wait first takes it."""

    __slots__ = ("event", "offset", "org_id", "partition", "raw")

    def __init__(self, org_id: int | None, raw: bytes, partition: int, offset: int) -> None:
        self.org_id, self.raw, self.partition, self.offset = org_id, raw, partition, offset
        self.event: ResultEvent | None = None

    def validated(self) -> ResultEvent | None:
        """The event, or None (logged) when the record is not a valid ResultEvent."""
        if self.event is None:
            try:
                self.event = ResultEvent.model_validate_json(self.raw)
            except ValidationError as exc:
                _skipped(self.partition, self.offset, exc)
                return None
        return self.event


def _skipped(partition: int, offset: int, error: Exception) -> None:
    reason = " ".join(str(error).split())[:300]
    log.warning("skipped the record at partition %d offset %d of the results topic: not a "
                "result event (%s)", partition, offset, reason)


@dataclass(eq=False)
class _Waiter:
    org_id: int | None
    count: int
    found: list[ResultEvent]
    future: asyncio.Future[list[ResultEvent]]

    def offer(self, arrived: _Arrived, event: ResultEvent) -> None:
        if self.future.done() or not _matches(arrived, self.org_id):
            return
        self.found.append(event)
        if len(self.found) >= self.count:
            self.future.set_result(list(self.found))


@dataclass(eq=False)
class _Slot:
    """What arrived for one commandId that this process sent or waits for."""

    registered: bool = False
    arrived: list[_Arrived] = field(default_factory=list)  # validated on arrival
    waiters: list[_Waiter] = field(default_factory=list)


def _matches(arrived: _Arrived, org_id: int | None) -> bool:
    return org_id is None or arrived.org_id == org_id


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
        self._slots: dict[str, _Slot] = {}
        # Registered slots without a waiter, by expiry (each registration moves it last).
        self._unawaited: OrderedDict[str, float] = OrderedDict()
        self._recent: LRUCache[str, tuple[_Arrived, ...]] = LRUCache(
            self.limits.recent_commands)
        self._closed: tuple[str, BaseException | None] | None = None  # reason, cause
        self.read = 0  # records delivered, good or bad
        self.skipped = 0  # of them, not result events

    def stats(self) -> dict[str, int]:
        return {"read": self.read, "skipped": self.skipped, "recent": len(self._recent),
                "slots": len(self._slots), "unawaited": len(self._unawaited)}

    # -- senders -----------------------------------------------------------------------

    def register(self, key: str) -> None:
        """Keep the results of a command this process is about to send, for its waits.

        `key` is its commandId in canonical form (as the worker echoes it; see canonical()).
        """
        if self._closed is not None:
            return  # nobody can wait: nothing to keep
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
        arrived = _Arrived(address.orgId, value, partition, offset)
        slot = self._slots.get(address.commandId)
        if slot is None:
            self._remember(address.commandId, (arrived,))
        else:
            self._keep(slot, arrived)
        if self._unawaited:
            self._sweep()

    def _keep(self, slot: _Slot, arrived: _Arrived) -> None:
        """An own command's result: validated now (only our commands pay for that)."""
        event = arrived.validated()
        if event is None:
            self.skipped += 1
            return
        slot.arrived = [*slot.arrived, arrived][-self.limits.per_command:]
        for waiter in slot.waiters:
            waiter.offer(arrived, event)

    def _remember(self, key: str, arrived: tuple[_Arrived, ...]) -> None:
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
                   org_id: int | None = None) -> list[ResultEvent]:
        """The command's results once `count` have arrived (of `org_id` only, if given).

        Results that arrived before the wait began count too: the registered ones, and the
        recent ones still in the cache. `timeout=None` leaves the bound to the caller.
        """
        if not 1 <= count <= self.limits.per_command:
            raise ValueError(f"count must be 1 to {self.limits.per_command} (per_command)")
        if self._closed is not None:
            raise self._unavailable()
        key = canonical(command_id)
        slot = self._slots.setdefault(key, _Slot())
        self._unawaited.pop(key, None)
        found = self._known(key, slot, org_id)
        waiter = _Waiter(org_id, count, found, asyncio.get_running_loop().create_future())
        if len(found) >= count:
            waiter.future.set_result(found)
        slot.waiters.append(waiter)
        try:
            async with asyncio.timeout(timeout):
                return await waiter.future
        except TimeoutError:
            raise ResultTimeoutError(
                f"no result for command {command_id} within {timeout}s") from None
        finally:
            slot.waiters.remove(waiter)
            answered = waiter.future.done() and not waiter.future.cancelled()
            self._settle(key, slot, answered)

    def _known(self, key: str, slot: _Slot, org_id: int | None) -> list[ResultEvent]:
        """What arrived already: recent ones (validated now; bad ones dropped), then the slot's."""
        found = []
        cached = self._recent.get(key, ())
        valid = tuple(a for a in cached if a.validated() is not None)
        if len(valid) != len(cached):
            self.skipped += len(cached) - len(valid)
            if valid:
                self._recent[key] = valid
            else:
                del self._recent[key]
        for arrived in (*valid, *slot.arrived):
            if _matches(arrived, org_id) and arrived.event is not None:
                found.append(arrived.event)
        return found

    def _settle(self, key: str, slot: _Slot, answered: bool) -> None:
        """After a wait: drop the slot once nobody needs it; its results go to the cache."""
        if slot.waiters or self._slots.get(key) is not slot:
            return
        if slot.registered and not answered:  # timed out: its answer may still be wanted
            self._unawaited_until_expiry(key)
            return
        self._retire(key, slot)

    def _unawaited_until_expiry(self, key: str) -> None:
        """Keep a registered slot nobody waits for `pending_seconds` more, last to expire."""
        self._unawaited[key] = self._clock() + self.limits.pending_seconds
        self._unawaited.move_to_end(key)

    def _retire(self, key: str, slot: _Slot) -> None:
        del self._slots[key]
        self._unawaited.pop(key, None)
        if slot.arrived:
            self._remember(key, tuple(slot.arrived))

    def _sweep(self) -> None:
        """Drop registered slots nobody waited for: expired, or beyond the count bound."""
        now = self._clock()
        while self._unawaited:
            key, expires = next(iter(self._unawaited.items()))
            if expires > now and len(self._unawaited) <= self.limits.pending_commands:
                return
            self._retire(key, self._slots[key])
