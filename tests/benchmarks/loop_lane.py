"""One lane of the aiokafka loop (tests/benchmarks/aiokafka_loop.py): a consumer of some
command topics, its batches in two overlapping stages, and its offset commits.

    batch N+1: fetch -> store_batch                 (the worker's handler, unchanged)
    batch N:        publish results | mark done     (at once, while N+1 is stored)
                    -> offsets of N to the committer (a commit in flight at most; the next
                       takes every offset finished meanwhile)

Batches are stored one at a time in fetch order, and published in that order, each only
once its effects are durable; offsets move only past batches whose results the broker
acknowledged and whose done-markers are stored: the worker's order and guarantees
(service/worker/pipeline.py), without faust.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.structs import ConsumerRecord

from badges_schemas import CommandType, Topics, parse
from badges_sdk import kafka
from service.settings import Settings
from service.store.epochs import EpochTable
from service.store.mongo import Store
from service.worker import kafka as worker_kafka
from service.worker.handler import Incoming, Origin, Stored, store_batch
from service.worker.runtime import send_all

Record = ConsumerRecord[bytes, bytes]
IDLE_POLL_MS = 200  # how long a fetch waits for a first record (and the stop flag is seen)


class Committer:
    """Commits finished offsets without holding up the batches: one commit in flight at
    most, the next one carrying every offset finished since."""

    def __init__(self, consumer: AIOKafkaConsumer, timeout: float) -> None:
        self.consumer = consumer
        self.timeout = timeout
        self.pending: dict[TopicPartition, int] = {}
        self.task: asyncio.Task[None] | None = None

    def advance(self, offsets: dict[TopicPartition, int]) -> None:
        self.pending.update(offsets)  # batches finish in order: offsets only move forward
        if self.task is not None and self.task.done():
            self.task.result()  # a failed commit stops the loop here
            self.task = None
        if self.task is None:
            self.task = asyncio.create_task(self._commit())

    async def flush(self) -> None:
        if self.task is not None:
            await self.task

    async def _commit(self) -> None:
        while self.pending:
            owned = self.consumer.assignment()
            offsets = {tp: o for tp, o in self.pending.items() if tp in owned}
            self.pending = {}
            if offsets:  # a partition revoked meanwhile is its new owner's to commit
                await asyncio.wait_for(self.consumer.commit(offsets), self.timeout)


class Lane(ConsumerRebalanceListener):
    def __init__(self, settings: Settings, name: str,
                 accepted: dict[str, frozenset[CommandType]], store: Store,
                 producer: AIOKafkaProducer) -> None:
        """`accepted`: the lane's topics, each with the command types it carries."""
        self.settings, self.accepted = settings, accepted
        self.store, self.producer = store, producer
        self.topics = Topics(settings.topic_prefix)
        self.timeout = settings.network_timeout_seconds
        # A consumer group per lane: one lane's rebalance never pauses another's.
        self.consumer = AIOKafkaConsumer(
            **kafka.connection_options(settings), group_id=f"{settings.topic_prefix}-loop-"
            f"{name}", enable_auto_commit=False, auto_offset_reset="earliest")
        self.committer = Committer(self.consumer, self.timeout)
        self.sending: asyncio.Task[None] | None = None
        self.epochs: dict[str, EpochTable] = {}

    async def start(self) -> None:
        await asyncio.wait_for(self.consumer.start(), self.timeout)
        self.consumer.subscribe(list(self.accepted), listener=self)

    async def stop(self) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.consumer.stop(), self.timeout)

    async def run(self, stop: asyncio.Event) -> None:
        """Batches until `stop` is set; then finish the one in hand."""
        try:
            while not stop.is_set():
                records = await self._next_batch()
                if records:
                    await self._handle(records)
        finally:
            await self.drain()

    async def _handle(self, records: Sequence[Record]) -> None:
        epochs = {topic: await self._epochs(topic) for topic in {r.topic for r in records}}
        stored = await store_batch([self._incoming(r, epochs[r.topic]) for r in records],
                                   self.store)
        if self.sending is not None:
            await self.sending  # the previous batch's results go first
        self.sending = asyncio.create_task(self._finish(stored, _next_offsets(records)))

    async def _finish(self, stored: Stored, offsets: dict[TopicPartition, int]) -> None:
        await asyncio.gather(
            asyncio.wait_for(send_all(self.producer, self.topics, stored.out), self.timeout),
            self.store.mark_done(stored.done))
        self.committer.advance(offsets)

    async def drain(self) -> None:
        """Everything in hand published, marked done and committed."""
        if self.sending is not None:
            await self.sending
        await self.committer.flush()

    async def _next_batch(self) -> list[Record]:
        """Whatever has arrived, up to the batch size; after a first record, up to the
        batch window for more (as the worker's pipeline)."""
        size = self.settings.batch_size
        records = _flat(await self.consumer.getmany(timeout_ms=IDLE_POLL_MS, max_records=size))
        window_ms = int(self.settings.batch_window_seconds * 1000)
        if records and len(records) < size and window_ms:
            records += _flat(await self.consumer.getmany(timeout_ms=window_ms,
                                                         max_records=size - len(records)))
        return records

    async def _epochs(self, topic: str) -> EpochTable:
        """A topic's fence epochs, learned once per assignment (as the worker's Runtime)."""
        if topic not in self.epochs:
            layout = await worker_kafka.layout(self.settings, topic)
            epochs = await self.store.open_epochs(topic, layout)
            self.epochs[topic] = EpochTable(tuple(epochs), layout.topic_id)
        return self.epochs[topic]

    def _incoming(self, record: Record, epochs: EpochTable) -> Incoming:
        """As service/worker/app.py's `_incoming` (an aiokafka timestamp is in ms)."""
        return Incoming(
            message=parse(record.value, self.accepted[record.topic]), key=record.key,
            value=record.value,
            origin=Origin(record.topic, record.partition, record.offset,
                          record.timestamp / 1000, epochs.of(record.partition, record.offset)))

    # -- the rebalance listener: faust's behaviour, which the worker relies on -----------

    async def on_partitions_revoked(self, revoked: Any) -> None:
        await self.drain()  # what was taken is finished and committed before letting go

    async def on_partitions_assigned(self, assigned: Any) -> None:
        self.epochs = {}


def _flat(batches: dict[TopicPartition, list[Record]]) -> list[Record]:
    """One list, each partition's records in their order."""
    return [record for records in batches.values() for record in records]


def _next_offsets(records: Sequence[Record]) -> dict[TopicPartition, int]:
    """For each partition of the batch, the offset to commit: the one after its last."""
    return {TopicPartition(r.topic, r.partition): r.offset + 1 for r in records}
