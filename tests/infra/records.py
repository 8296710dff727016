"""Kafka records for the tests to check or plant: what the command topics hold, and results
written as a producer other than the worker would write them."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from aiokafka import AIOKafkaConsumer, TopicPartition

from badges_schemas import Topics
from badges_sdk import kafka
from service.settings import Settings


async def end_offsets(settings: Settings) -> dict[TopicPartition, int]:
    """The command topics' end offsets: what was published to them, in total."""
    topics = sorted(set(Topics(settings.topic_prefix).commands.values()))
    consumer = AIOKafkaConsumer(**kafka.connection_options(settings))
    await asyncio.wait_for(consumer.start(), 30)
    try:
        partitions = [TopicPartition(t, p) for t in topics
                      for p in await kafka.partitions(settings, t)]
        return dict(await asyncio.wait_for(consumer.end_offsets(partitions), 30))
    finally:
        await consumer.stop()


async def write_results(settings: Settings, values: Sequence[bytes]) -> None:
    """Straight to partition 0 of the results topic, in this order, without a round trip
    each: a client reading the last one has read all before it."""
    producer = kafka.producer(settings)
    await asyncio.wait_for(producer.start(), 10)
    try:
        topic = Topics(settings.topic_prefix).results
        deliveries = [await producer.send(topic, v, key=b"k", partition=0) for v in values]
        await asyncio.wait_for(asyncio.gather(*deliveries), 60)
    finally:
        await asyncio.wait_for(producer.stop(), 10)
