"""Which offsets of each partition the worker has taken and finished: the only source of
the offsets it commits.

faust decides what to commit from the offsets acknowledged per partition, and fills the
holes it sees with "gaps" it treats as done; its check that the first acknowledged offset
follows the committed one is off by one (`faust/transport/consumer.py`, `_new_offset`:
`min(acked) - committed_offset > 1`, skipped when the committed offset is 0). So a command
that never reached the agent, with the next one finished, was committed past and lost
(the small chaos run's `update-badge-group/10@1`). Our command topics are neither
compacted nor written transactionally, so offsets in a partition follow one another
without holes: an event that is not the next one expected means something was dropped
on its way here, and the answer is to read it again, never to step over it.

Per partition the ledger holds two cursors, both starting where the partition is read
from after an assignment (its committed offset, or its earliest if it has none or the
committed one was deleted):
- `taken`: the next offset the agent must receive. An event below it was taken already
  (a redelivery after a seek) and is skipped; above it, a hole: the agent seeks back.
- `done`: the next offset not yet finished (stored, answered and marked done). It moves
  only one step at a time, so it can never pass an offset that was not finished; it is
  what is committed.
Pure bookkeeping: no Kafka, no clock.
"""

from __future__ import annotations

import enum
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)  # a topic-partition


class Admit(enum.Enum):
    TAKE = "take"  # the next offset: process it
    SKIP = "skip"  # taken before (a redelivery): let it go
    HOLE = "hole"  # offsets before it never arrived: read again from `taken`
    UNKNOWN = "unknown"  # a partition not started: read it again from its committed offset


@dataclass
class _Cursors:
    taken: int
    done: int


class OffsetLedger(Generic[K]):
    def __init__(self) -> None:
        self._partitions: dict[K, _Cursors] = {}

    def start(self, positions: Mapping[K, int]) -> None:
        """The partitions are read from these offsets (after an assignment or a seek to
        the committed offsets); what was taken before and not finished comes again.

        Finished work stays finished: faust also seeks a partition it holds back to its
        committed offset during a rebalance, while events taken before still finish (and
        are committed before the partition goes); their copies read again are skipped by
        `finished`. Only a partition not held (new, or forgotten) starts afresh."""
        for tp, offset in positions.items():
            held = self._partitions.get(tp)
            self._partitions[tp] = _Cursors(offset, max(offset, held.done) if held else offset)

    def forget(self, tps: Iterable[K]) -> None:
        """The partitions were revoked: nothing of theirs is committed from here."""
        for tp in tps:
            self._partitions.pop(tp, None)

    def admit(self, tp: K, offset: int) -> Admit:
        cursors = self._partitions.get(tp)
        if cursors is None:
            return Admit.UNKNOWN
        if offset < cursors.taken:
            return Admit.SKIP
        if offset > cursors.taken:
            return Admit.HOLE
        cursors.taken += 1
        return Admit.TAKE

    def finished(self, tp: K, offset: int) -> bool:
        """An admitted event was finished; False (and nothing moves) unless it is the next
        one due, so an out-of-order report can only hold commits back, never skip."""
        cursors = self._partitions.get(tp)
        if cursors is None or offset != cursors.done:
            return False
        cursors.done += 1
        return True

    def next_expected(self, tp: K) -> int | None:
        cursors = self._partitions.get(tp)
        return None if cursors is None else cursors.taken

    def committable(self, tp: K) -> int | None:
        """The offset to commit: every offset below it was finished in this assignment."""
        cursors = self._partitions.get(tp)
        return None if cursors is None else cursors.done

    def idle(self) -> dict[K, int]:
        """Partitions with nothing in flight, and the offset each expects next."""
        return {tp: c.taken for tp, c in self._partitions.items() if c.taken <= c.done}
