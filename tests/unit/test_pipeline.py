"""The batch pipeline keeps order and acknowledges only what is stored and published."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from service.settings import Settings
from service.worker.handler import Outgoing, Stored
from service.worker.pipeline import BatchPipeline

SETTINGS = Settings(batch_size=3, batch_window_seconds=0, retry_initial_backoff_seconds=0.01)


class Fake:
    """Store, publish and ack that record what they were given, in order."""

    def __init__(self, expected: int) -> None:
        self.log: list[tuple[str, list[int]]] = []
        self.storing = asyncio.Event()
        self.store_gate = asyncio.Event()
        self.all_acked = asyncio.Event()
        self.expected = expected
        self.publish_failures = 0

    async def store(self, events: Sequence[int]) -> Stored:
        self.log.append(("store", list(events)))
        self.storing.set()
        await self.store_gate.wait()
        return Stored([Outgoing(False, None, str(e).encode()) for e in events],
                      [f"key{e}" for e in events])

    async def mark_done(self, keys: Sequence[str]) -> None:
        self.log.append(("mark_done", [int(k.removeprefix("key")) for k in keys]))

    async def publish(self, messages: Sequence[Outgoing]) -> None:
        if self.publish_failures:
            self.publish_failures -= 1
            raise ConnectionError("broker away")
        self.log.append(("publish", [int(m.value) for m in messages]))

    async def ack(self, event: int) -> None:
        self.log.append(("ack", [event]))
        if sum(1 for kind, _ in self.log if kind == "ack") == self.expected:
            self.all_acked.set()


async def _run(fake: Fake, events: list[int]) -> None:
    pipeline = BatchPipeline(SETTINGS, "test", fake.store, fake.publish, fake.mark_done,
                             fake.ack)
    try:
        await pipeline.put(events[0])
        # The first batch is being stored: the rest arrive meanwhile and wait in the queue.
        feeder = asyncio.create_task(_put_all(pipeline, events[1:]))
        await asyncio.wait_for(fake.storing.wait(), 5)
        fake.store_gate.set()
        await feeder
        await asyncio.wait_for(fake.all_acked.wait(), 5)
    finally:
        await pipeline.close()


async def _put_all(pipeline: BatchPipeline, events: list[int]) -> None:
    for event in events:
        await pipeline.put(event)


async def test_batches_take_what_has_arrived_and_keep_every_stage_in_order() -> None:
    fake = Fake(expected=7)
    await _run(fake, list(range(1, 8)))
    stored = [events for kind, events in fake.log if kind == "store"]
    published = [events for kind, events in fake.log if kind == "publish"]
    acked = [events[0] for kind, events in fake.log if kind == "ack"]
    assert stored[0] == [1] and all(len(b) <= 3 for b in stored)
    assert [e for b in stored for e in b] == list(range(1, 8))
    assert published == stored and acked == list(range(1, 8))
    for batch in published:  # acknowledged only once its results are out and entries marked
        first_ack = fake.log.index(("ack", [batch[0]]))
        assert fake.log.index(("publish", batch)) < first_ack
        assert fake.log.index(("mark_done", batch)) < first_ack


async def test_a_failed_publish_is_retried_and_holds_back_its_acks() -> None:
    fake = Fake(expected=4)
    fake.publish_failures = 2
    await _run(fake, [1, 2, 3, 4])
    kinds = [kind for kind, _ in fake.log]
    first_ack = kinds.index("ack")
    assert "publish" in kinds[:first_ack]
    assert [e[0] for k, e in fake.log if k == "ack"] == [1, 2, 3, 4]
