"""The workers' consumer-group lag as the broker sees it: for each command topic's
partition, the group's committed offset and the end offset. Read by `badges status` and by
the lag exporter (service/exporter/), never by a worker: it must keep reporting when every
worker is dead or stalled, which is when lag matters.

Read-only: the admin client and a consumer without a group, so that looking never joins
the group (which would start a rebalance). Every network wait is bounded by
BADGES_NETWORK_TIMEOUT_SECONDS.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from badges_schemas import Topics
from badges_sdk.kafka import admin_client, connection_options
from service.settings import Settings


@dataclass(frozen=True)
class PartitionLag:
    topic: str
    partition: int
    committed: int | None  # None: the group never committed there
    end: int
    # End offset minus the committed one; with none committed, minus the first offset the
    # topic still holds (where the worker starts: it reads from the earliest).
    lag: int


@dataclass(frozen=True)
class GroupLag:
    partitions: list[PartitionLag]
    missing_topics: list[str]  # command topics Kafka does not have (no worker ever started)


class LagReader:
    """Reads the lag of the workers' group (`async with`: one admin client and one
    consumer, kept for every read)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._stack = contextlib.AsyncExitStack()
        self.admin: AIOKafkaAdminClient | None = None
        self._consumer: AIOKafkaConsumer | None = None

    async def __aenter__(self) -> LagReader:
        timeout = self.settings.network_timeout_seconds
        try:
            self.admin = await self._stack.enter_async_context(admin_client(self.settings))
            consumer = AIOKafkaConsumer(**connection_options(self.settings),
                                        enable_auto_commit=False)
            self._stack.push_async_callback(lambda: asyncio.wait_for(consumer.stop(), timeout))
            await asyncio.wait_for(consumer.start(), timeout)
            self._consumer = consumer
        except BaseException:
            await self._stack.aclose()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._stack.aclose()

    async def read(self) -> GroupLag:
        assert self.admin is not None, "use LagReader with `async with`"
        timeout, group_id = self.settings.network_timeout_seconds, self.settings.app_id
        wanted = sorted(set(Topics(self.settings.topic_prefix).commands.values()))
        committed = await asyncio.wait_for(self.admin.list_consumer_group_offsets(group_id),
                                           timeout)
        # All topics' metadata: naming topics would let a broker auto-create missing ones.
        known = await asyncio.wait_for(self.admin.describe_topics(), timeout)
        numbers = {t["topic"]: sorted(p["partition"] for p in t["partitions"])
                   for t in known if t["topic"] in wanted and t["error_code"] == 0}
        tps = [TopicPartition(topic, n) for topic in wanted for n in numbers.get(topic, [])]
        first, end = await self._offsets(tps)
        partitions = []
        for tp in tps:
            done = committed.get(tp)
            done_offset = done.offset if done is not None and done.offset >= 0 else None
            lag = end[tp] - (first[tp] if done_offset is None else done_offset)
            partitions.append(PartitionLag(tp.topic, tp.partition, done_offset, end[tp],
                                           max(0, lag)))
        return GroupLag(partitions, [t for t in wanted if t not in numbers])

    async def _offsets(self, tps: list[TopicPartition]
                       ) -> tuple[dict[TopicPartition, int], dict[TopicPartition, int]]:
        """The first and end offsets of partitions that exist (aiokafka would wait forever
        on one that does not)."""
        if not tps:
            return {}, {}
        assert self._consumer is not None
        timeout = self.settings.network_timeout_seconds
        first = await asyncio.wait_for(self._consumer.beginning_offsets(tps), timeout)
        end = await asyncio.wait_for(self._consumer.end_offsets(tps), timeout)
        return first, end
