"""The worker's connections, opened inside the running event loop and closed on stop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from functools import partial
from typing import Any

import mode
from aiokafka import AIOKafkaProducer
from aiokafka.errors import OutOfOrderSequenceNumber

from badges_schemas import Topics
from badges_sdk.kafka import producer as new_producer
from service.retry import retry
from service.settings import Settings
from service.store.epochs import EpochTable
from service.store.expiry import CommandLogExpiry
from service.store.expiry_policy import HOUR, Earliest
from service.store.mongo import Store, connect
from service.store.seeded import SeededBugStore
from service.worker import kafka
from service.worker.handler import Outgoing
from service.worker.metrics import EXPIRY_CAUGHT_UP, EXPIRY_ENTRIES, EXPIRY_FAILURES

log = logging.getLogger(__name__)


class Runtime(mode.Service):
    """Mongo store and result producer, shared by the agents of one worker."""

    def __init__(self, settings: Settings, **kwargs: Any) -> None:
        self.settings = settings
        self.topics = Topics(settings.topic_prefix)
        self._store: Store | None = None
        self._producer: AIOKafkaProducer | None = None
        self._lock = asyncio.Lock()
        self._epochs: dict[str, EpochTable] = {}
        super().__init__(**kwargs)

    @property
    def store(self) -> Store | None:
        """The store once connected (readiness checks; agents use `ready`)."""
        return self._store

    @property
    def producer(self) -> AIOKafkaProducer | None:
        return self._producer

    async def ready(self) -> Store:
        """Connect on first use; agents may start before this service does."""
        async with self._lock:
            if self._store is None:
                timeout = self.settings.network_timeout_seconds
                if self._producer is None:  # kept when MongoDB failed after it started
                    producer = new_producer(self.settings)
                    await asyncio.wait_for(producer.start(), timeout)
                    self._producer = producer
                client = connect(self.settings)
                store = _store(self.settings, client[self.settings.mongo_database])
                await store.ensure_indexes()
                indexed = await store.index_unindexed_groups()
                if indexed:
                    log.info("indexed %d groups created before group_index existed", indexed)
                self._store = store
        return self._store

    def assigned(self) -> None:
        """A new assignment: each topic's epochs are learned again before its next batch.
        Between assignments they are not: a worker that lost its partitions while stalled
        keeps the epochs it had, so its stale writes meet the newer epochs' fences."""
        self._epochs.clear()

    async def epochs(self, topic: str) -> EpochTable:
        """The topic's fence epochs: once per assignment, the broker's description of the
        topic against the epochs on record, a new one opened if it changed."""
        table = self._epochs.get(topic)
        if table is None:
            layout = await kafka.layout(self.settings, topic)
            epochs = await (await self.ready()).open_epochs(topic, layout)
            table = self._epochs[topic] = EpochTable(tuple(epochs), layout.topic_id)
            log.info("%s: fence epoch %d (topic id %s, %d partitions)", topic,
                     epochs[-1].number, layout.topic_id, layout.partitions)
        return table

    async def publish(self, messages: Sequence[Outgoing]) -> None:
        """Send the batch's results and dead letters; return once the broker has them all."""
        assert self._producer is not None
        # send() itself can wait (for metadata, or room in the buffer), so it is bounded too.
        try:
            await asyncio.wait_for(send_all(self._producer, self.topics, messages),
                                   self.settings.network_timeout_seconds)
        except OutOfOrderSequenceNumber:
            # After a broker restart the idempotent producer can fail every send from then
            # on (seen in the chaos run: the worker stalled for good). A new producer starts
            # new sequences; the caller's retry sends the batch again (results may repeat,
            # identical, as after any redelivery).
            await self._replace_producer()
            raise

    async def _replace_producer(self) -> None:
        old, timeout = self._producer, self.settings.network_timeout_seconds
        self._producer = new_producer(self.settings)
        await asyncio.wait_for(self._producer.start(), timeout)
        if old is not None:
            with contextlib.suppress(Exception):  # it is broken; only its resources matter
                await asyncio.wait_for(old.stop(), timeout)

    @mode.Service.task
    async def _expire_command_log(self) -> None:
        store = await retry(self.settings, "connecting", self.ready, operation="connecting")
        commands = sorted(set(self.topics.commands.values()))
        await expiry_passes(store.expiry, self.settings, time.time, self.sleep,
                            lambda: not self.should_stop,
                            partial(kafka.earliest_offsets, self.settings, commands))

    async def on_stop(self) -> None:
        if self._producer is not None:
            await asyncio.wait_for(self._producer.stop(), self.settings.network_timeout_seconds)
        if self._store is not None:
            await self._store.db.client.close()


def _store(settings: Settings, db: Any) -> Store:
    if settings.seeded_bug:
        return SeededBugStore(db, settings.seeded_bug, fence=settings.write_fence)
    return Store(db, fence=settings.write_fence)


async def expiry_passes(expiry: CommandLogExpiry, settings: Settings,
                        clock: Callable[[], float], sleep: Callable[[float], Awaitable[None]],
                        running: Callable[[], bool],
                        read_earliest: Callable[[], Awaitable[Earliest]]) -> None:
    """The command log's expiry, for as long as `running()`: bounded steps one after the
    other while there is expired work, then a pause of the interval. A pass that has work
    first reads the command partitions' earliest offsets from Kafka: only entries whose
    command is below them may go. A failed step or read (an outage) is logged and tried
    again after the interval: the expiry can wait, and nothing expires while Kafka cannot
    be asked."""
    retention = settings.command_log_retention_hours * HOUR
    interval = settings.command_log_expiry_interval_seconds
    earliest: Earliest | None = None
    while running():
        more = False
        try:
            now = clock()
            if await expiry.due(now, retention):  # else Kafka is not asked at all
                # Read once per pass, not per step: earliest offsets only grow, so an
                # older read only keeps an entry longer.
                earliest = earliest if earliest is not None else await read_earliest()
                more = await _step(expiry, now, retention, earliest)
            if not more:
                EXPIRY_CAUGHT_UP.set(now)
        except Exception as exc:
            EXPIRY_FAILURES.inc()
            log.warning("command log expiry failed (%.300r); trying again in %gs",
                        exc, interval)
        if not more:
            earliest = None  # the next pass reads them again
        await sleep(0 if more else interval)


async def _step(expiry: CommandLogExpiry, now: float, retention: float,
                earliest: Earliest) -> bool:
    """One bounded step; whether there may be more to expire right away."""
    step = await expiry.step(now, retention, earliest)
    EXPIRY_ENTRIES.labels("expired").inc(step.expired)
    EXPIRY_ENTRIES.labels("kept").inc(step.carried)
    if step.expired or step.carried:
        log.debug("command log: %d entries expired, %d kept (pending, or still in Kafka)",
                  step.expired, step.carried)
    return step.more


async def send_all(producer: AIOKafkaProducer, topics: Topics,
                   messages: Sequence[Outgoing]) -> None:
    """Send results and dead letters to their topics; return once the broker has them all."""
    futures = []
    for m in messages:
        topic = topics.dead_letters if m.dead_letter else topics.results
        futures.append(await producer.send(topic, m.value, key=m.key))
    await asyncio.gather(*futures)
