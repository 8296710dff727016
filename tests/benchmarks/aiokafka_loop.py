"""Baseline: the worker's handler in a hand-rolled aiokafka loop, without Faust.

    python -m tests.benchmarks.aiokafka_loop worker     (settings from BADGES_*, as the worker)

getmany (at most the batch size; waiting at most the batch window when nothing is there)
-> the same Incoming objects service/worker/app.py builds -> handle_batch -> publish the results
with service/worker/runtime.py's send_all (acks=all, idempotent, wait for all) -> commit. The
difference from the worker's throughput is then what Faust costs (or saves). No retries:
a failure ends it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRecord
from pymongo import AsyncMongoClient

from badges_schemas import CommandType, Topics, parse
from badges_sdk import kafka
from service.settings import Settings
from service.store.mongo import Store
from service.worker.handler import Incoming, Origin, handle_batch
from service.worker.runtime import send_all
from tests.benchmarks.mix import accepted_types

log = logging.getLogger("aiokafka_loop")


def incoming(record: ConsumerRecord[bytes, bytes],
             accepted: dict[str, frozenset[CommandType]]) -> Incoming:
    """As service/worker/app.py's `_incoming`, from an aiokafka record (its timestamp is in ms)."""
    return Incoming(
        message=parse(record.value, accepted[record.topic]),
        key=record.key,
        value=record.value,
        origin=Origin(record.topic, record.partition, record.offset, record.timestamp / 1000),
    )


async def run(settings: Settings, stop: asyncio.Event) -> None:
    topics = Topics(settings.topic_prefix)
    accepted = accepted_types(topics)
    timeout_ms = int(settings.network_timeout_seconds * 1000)
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        settings.mongo_url, timeoutMS=timeout_ms, tz_aware=True)
    store = Store(client[settings.mongo_database])
    await store.ensure_indexes()
    consumer = AIOKafkaConsumer(
        *accepted, **kafka.connection_options(settings), group_id=f"{settings.topic_prefix}-loop",
        enable_auto_commit=False, auto_offset_reset="earliest")
    producer = kafka.producer(settings)
    try:
        await consumer.start()
        await producer.start()
        print("Ready", flush=True)
        while not stop.is_set():
            records = await consumer.getmany(timeout_ms=settings.batch_window_seconds * 1000,
                                             max_records=settings.batch_size)
            batch = [incoming(r, accepted) for rs in records.values() for r in rs]
            if batch:
                await send_all(producer, topics, await handle_batch(batch, store))
                await consumer.commit()
    finally:
        for part in (consumer.stop(), producer.stop(), client.close()):
            with contextlib.suppress(Exception):
                await asyncio.wait_for(part, 10)


async def main_async() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)  # finish the batch in hand, then stop
    await run(Settings(), stop)


def main() -> None:
    logging.basicConfig(level=logging.INFO)
    asyncio.run(main_async())


if __name__ == "__main__":
    main()
