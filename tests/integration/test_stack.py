"""Smoke tests: the stack is a real Kafka broker and a real MongoDB-protocol server."""

from __future__ import annotations

import asyncio

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from tests.infra.containers import Servers

pytestmark = pytest.mark.integration
TIMEOUT = 30


async def _create_topic(bootstrap: str, name: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await asyncio.wait_for(admin.start(), TIMEOUT)
    try:
        await asyncio.wait_for(admin.create_topics([NewTopic(name, 1, 1)]), TIMEOUT)
    finally:
        await admin.close()


async def _read(consumer: AIOKafkaConsumer, count: int) -> list[bytes]:
    values: list[bytes] = []

    async def collect() -> None:
        async for record in consumer:
            values.append(record.value)
            if len(values) == count:
                return

    await asyncio.wait_for(collect(), TIMEOUT)
    return values


async def test_kafka_produce_consume_and_group_commit(stack: Servers, topic_prefix: str) -> None:
    topic, group = f"{topic_prefix}.smoke", f"{topic_prefix}-group"
    await _create_topic(stack.kafka_bootstrap, topic)
    producer = AIOKafkaProducer(bootstrap_servers=stack.kafka_bootstrap, acks="all")
    await asyncio.wait_for(producer.start(), TIMEOUT)
    try:
        await asyncio.wait_for(producer.send_and_wait(topic, b"hello", key=b"k"), TIMEOUT)
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=stack.kafka_bootstrap, group_id=group,
        auto_offset_reset="earliest", enable_auto_commit=False,
    )
    await asyncio.wait_for(consumer.start(), TIMEOUT)
    try:
        assert await _read(consumer, 1) == [b"hello"]
        await asyncio.wait_for(consumer.commit(), TIMEOUT)
        committed = await asyncio.wait_for(consumer.committed(TopicPartition(topic, 0)), TIMEOUT)
        assert committed == 1
    finally:
        await consumer.stop()


async def test_kafka_transactional_produce(stack: Servers, topic_prefix: str) -> None:
    topic = f"{topic_prefix}.tx"
    await _create_topic(stack.kafka_bootstrap, topic)
    producer = AIOKafkaProducer(
        bootstrap_servers=stack.kafka_bootstrap, transactional_id=f"{topic_prefix}-tx"
    )
    await asyncio.wait_for(producer.start(), TIMEOUT)
    try:
        async with producer.transaction():
            await producer.send(topic, b"committed")
        await producer.begin_transaction()
        await producer.send(topic, b"aborted")
        await asyncio.wait_for(producer.abort_transaction(), TIMEOUT)
        async with producer.transaction():
            await producer.send(topic, b"after")
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=stack.kafka_bootstrap, isolation_level="read_committed",
        auto_offset_reset="earliest",
    )
    await asyncio.wait_for(consumer.start(), TIMEOUT)
    try:
        assert await _read(consumer, 2) == [b"committed", b"after"]
    finally:
        await consumer.stop()


async def test_mongo_insert_find_update_and_unique_index(mongo_db: AsyncDatabase[dict]) -> None:
    things = mongo_db["things"]
    await things.create_index("name", unique=True)
    inserted = await things.insert_one({"name": "a", "rank": 1})
    await things.update_one({"_id": inserted.inserted_id}, {"$set": {"rank": 2}})
    found = await things.find_one({"name": "a"})
    assert found is not None and found["rank"] == 2
    with pytest.raises(DuplicateKeyError):
        await things.insert_one({"name": "a", "rank": 3})
    assert await things.count_documents({}) == 1
