"""faust's Kafka consumer, made to commit only what the offset ledger says is finished,
and to read a partition again from the first offset that never reached the agent.

faust keeps its own bookkeeping (acknowledged offsets, gaps); it is left to run, but what
is committed comes from `service.worker.offsets.OffsetLedger` alone (see its docstring for why).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, cast

import faust
from faust.transport.drivers import aiokafka as faust_kafka
from faust.types import TP
from mode import Service

from service.worker.metrics import REREADS
from service.worker.offsets import Admit, OffsetLedger

log = logging.getLogger(__name__)

# How often idle partitions are checked for a tail that was fetched but never arrived;
# a partition is read again after two checks in a row saw the same stall.
STALL_CHECK_SECONDS = 10.0


class LedgerConsumer(faust_kafka.Consumer):
    """Commits `ledger.committable(tp)`; `admit` and `finished` are the agent's side."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._stalls: dict[TP, tuple[int, int]] = {}
        super().__init__(*args, **kwargs)

    @property
    def ledger(self) -> OffsetLedger[TP]:
        return cast(LedgerApp, self.app).ledger

    async def seek_to_committed(self) -> Mapping[TP, int]:
        """Every assignment ends here (faust's `perform_seek`): the ledger starts each
        partition where the consumer will read it from."""
        committed = await super().seek_to_committed()
        tps = list(committed)
        earliest = await self.earliest_offsets(*tps) if tps else {}
        ends = await self.highwaters(*tps) if tps else {}
        self.ledger.start({tp: _start(committed[tp], earliest.get(tp, 0), ends.get(tp, 0))
                           for tp in tps})
        self._stalls = {}
        return committed

    async def on_partitions_revoked(self, revoked: set[TP]) -> None:
        # faust waits for the events in flight and commits them before it lets go: the
        # ledger keeps the partitions until then.
        await super().on_partitions_revoked(revoked)
        self.ledger.forget(revoked)

    def _new_offset(self, tp: TP) -> int | None:
        # faust's acknowledged offsets and gaps are cleared unread: they are not evidence
        # that anything below them was finished.
        self._acked[tp].clear()
        self._acked_index[tp].clear()
        self._gap[tp].clear()
        return self.ledger.committable(tp)

    async def admit(self, message: Any) -> bool:
        """Whether the agent should process this message; if not, it is let go, and a
        hole before it is read again."""
        tp, offset = message.tp, message.offset
        verdict = self.ledger.admit(tp, offset)
        if verdict is Admit.TAKE:
            return True
        self.let_go(message)
        if verdict is Admit.HOLE:
            expected = cast(int, self.ledger.next_expected(tp))
            await self._read_again(tp, expected, "hole", offset)
        elif verdict is Admit.UNKNOWN:
            log.warning("%s[%d] offset %d arrived before its partition was started; "
                        "reading every partition again from its committed offset",
                        tp.topic, tp.partition, offset)
            await self.perform_seek()
        return False

    def finished(self, message: Any) -> None:
        if not self.ledger.finished(message.tp, message.offset):
            # Not the next one due: an event taken before its partition was revoked or read
            # again (a rebalance); its copy read again finishes in order. Commits only wait.
            log.debug("%s[%d] offset %d finished out of order", message.tp.topic,
                      message.tp.partition, message.offset)

    def let_go(self, message: Any) -> None:
        """Acknowledged to faust, not finished: it counts for nothing in the ledger."""
        # faust tracks every delivered message until it is acknowledged (a rebalance waits
        # for them); its ack ignores offsets below the committed one, so untrack it too.
        self.ack(message)
        self._unacked_messages.discard(message)

    def _fetch_position(self, tp: TP) -> int | None:
        consumer = self._thread._consumer  # faust reads it across threads too (highwater)
        return fetch_position(consumer._subscription, tp) if consumer is not None else None

    async def _read_again(self, tp: TP, offset: int, reason: str, seen: int) -> None:
        REREADS.labels(reason).inc()
        log.warning("%s[%d]: expected offset %d, got up to %d (%s); reading again from %d",
                    tp.topic, tp.partition, offset, seen, reason, offset,
                    extra={"topic": tp.topic, "partition": tp.partition, "offset": offset})
        try:
            await self.seek_wait({tp: offset})
        except Exception as exc:  # revoked meanwhile, or the broker is away: the next
            # stray message or stall check tries again, a rebalance starts afresh
            log.warning("%s[%d]: seek to %d failed (%.300r)", tp.topic, tp.partition,
                        offset, exc)

    @Service.timer(STALL_CHECK_SECONDS)
    async def _check_stalls(self) -> None:
        """A partition whose fetch position is past what the agent was given, with
        nothing in flight, twice in a row: its tail was dropped on the way; read it again.
        (A hole is otherwise seen only when a later message arrives.)"""
        for tp, expected in self.ledger.idle().items():
            position = self._fetch_position(tp)
            if position is None or position <= expected:
                self._stalls.pop(tp, None)
            elif self._stalls.get(tp) == (expected, position):
                self._stalls.pop(tp)
                await self._read_again(tp, expected, "stalled", position - 1)
            else:
                self._stalls[tp] = (expected, position)


def fetch_position(subscription: Any, tp: TP) -> int | None:
    """The offset aiokafka will fetch `tp` from next, if it knows it now; None if not (not
    assigned, or its position is being reset).

    Read without waiting, never through `position()`: that call waits in the consumer's
    thread until the position is known (after a broker restart, until the group settles),
    and two such waits fill the thread's queue of two workers, which every fetch and commit
    goes through: a chaos run stalled for a minute that way, until a rebalance.
    """
    assignment = subscription.subscription.assignment if subscription.subscription else None
    state = assignment.state_value(tp) if assignment is not None else None
    return state.position if state is not None and state.has_valid_position else None


def _start(committed: int | None, earliest: int, end: int) -> int:
    """Where the consumer reads a partition from: its committed offset, unless there is
    none or it is outside what the partition holds, where the consumer's reset policy
    (earliest) applies."""
    if committed is None or committed < earliest or committed > end:
        return earliest
    return committed


class LedgerTransport(faust_kafka.Transport):
    Consumer = LedgerConsumer


class LedgerApp(faust.App):
    """A faust app whose consumer commits from `ledger`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.ledger: OffsetLedger[TP] = OffsetLedger()
        super().__init__(*args, **kwargs)

    def _new_transport(self) -> LedgerTransport:
        return LedgerTransport(self.conf.broker_consumer, self)

    @property
    def ledger_consumer(self) -> LedgerConsumer:
        return cast(LedgerConsumer, self.consumer)
