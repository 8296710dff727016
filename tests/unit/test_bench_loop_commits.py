"""The aiokafka loop commits offsets past finished batches only, without holding them up:
one commit in flight, the next carrying all that finished since, none for a partition
given away (tests/benchmarks/loop_lane.py)."""

from __future__ import annotations

import asyncio
from typing import Any

from aiokafka import TopicPartition

from tests.benchmarks.loop_lane import Committer

A, B = TopicPartition("t", 0), TopicPartition("t", 1)


class Consumer:
    def __init__(self) -> None:
        self.owned = {A, B}
        self.commits: list[dict[TopicPartition, int]] = []
        self.gate = asyncio.Event()

    def assignment(self) -> set[TopicPartition]:
        return self.owned

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        self.commits.append(dict(offsets))
        await self.gate.wait()


async def test_offsets_finished_during_a_commit_go_in_the_next_one() -> None:
    consumer = Consumer()
    committer = Committer(consumer, timeout=5)  # type: ignore[arg-type]
    committer.advance({A: 10})
    await asyncio.sleep(0)  # the first commit is in flight, waiting on the broker
    committer.advance({A: 20, B: 5})
    committer.advance({A: 30})
    consumer.gate.set()
    await asyncio.wait_for(committer.flush(), 5)
    assert consumer.commits == [{A: 10}, {A: 30, B: 5}]


async def test_a_partition_given_away_is_not_committed() -> None:
    consumer: Any = Consumer()
    consumer.gate.set()
    consumer.owned = {A}
    committer = Committer(consumer, timeout=5)
    committer.advance({A: 3, B: 7})
    await asyncio.wait_for(committer.flush(), 5)
    assert consumer.commits == [{A: 3}]
