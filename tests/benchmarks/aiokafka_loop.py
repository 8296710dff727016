"""Baseline: the worker's job without faust, in a hand-written aiokafka pipeline.

    python -m tests.benchmarks.aiokafka_loop worker     (settings from BADGES_*, as the worker)

The same job with the same guarantees as `python -m service worker`, written as well as
aiokafka allows, so that the difference between the two is what faust costs (or saves):
- one consumer on every command topic, as the worker's one agent (BENCH_LOOP_CONSUMERS=topic:
  one per topic, each in a consumer group of its own; measured here at 5,000 commands, 3
  runs each, 1,011 against 1,000 commands/s in the median: the same within the noise, and
  one consumer is the worker's shape); each consumer feeds its own pipeline
  (tests/benchmarks/loop_lane.py);
- the worker's handler itself: `service.worker.handler.store_batch` on each batch, then
  `Store.mark_done`, with the worker's Store (fenced writes, fence epochs per assignment)
  and the worker's `send_all` (acks=all, idempotent producer, shared by the lanes);
- the store of batch N+1 overlaps the publish and the done-markers of batch N;
- offsets committed asynchronously (one commit in flight, the next carrying all that
  finished since), and only past batches whose results the broker acknowledged and whose
  done-markers are stored: a crash re-delivers, never skips;
- a partition taken away is drained first (results sent, committed) as faust does.
Not copied: the worker's retries with backoff (a failure here ends the run: a benchmark
wants it to fail, not to wait out an outage), its metrics and its HTTP endpoints.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from typing import Any

from badges_schemas import CommandType, Topics
from badges_sdk import kafka
from service.settings import Settings
from service.store.mongo import Store, connect
from tests.benchmarks.loop_lane import Lane
from tests.benchmarks.mix import accepted_types

log = logging.getLogger("aiokafka_loop")
# "one": one consumer on every command topic, as the worker's one agent; "topic": one per
# command topic (more stores at once, but a lane of 5 % of the commands makes as many
# batches as the others, each with all of a batch's round trips).
CONSUMERS = os.environ.get("BENCH_LOOP_CONSUMERS", "one")


def lanes_of(accepted: dict[str, frozenset[CommandType]], consumers: str
             ) -> dict[str, dict[str, frozenset[CommandType]]]:
    """The lanes' names, each with its topics."""
    if consumers == "topic":
        return {topic.replace(".", "-"): {topic: types} for topic, types in accepted.items()}
    if consumers == "one":
        return {"all": accepted}
    raise ValueError(f"BENCH_LOOP_CONSUMERS: 'one' or 'topic', not {consumers!r}")


async def run(settings: Settings, stop: asyncio.Event) -> None:
    client: Any = connect(settings)
    store = Store(client[settings.mongo_database], fence=settings.write_fence)
    producer = kafka.producer(settings)
    accepted = accepted_types(Topics(settings.topic_prefix))
    lanes = [Lane(settings, name, topics, store, producer)
             for name, topics in lanes_of(accepted, CONSUMERS).items()]
    try:
        await store.ensure_indexes()
        await asyncio.wait_for(producer.start(), settings.network_timeout_seconds)
        await asyncio.gather(*(lane.start() for lane in lanes))
        print("Ready", flush=True)
        await _until_stopped_or_failed([lane.run(stop) for lane in lanes], stop)
    finally:
        await asyncio.gather(*(lane.stop() for lane in lanes))
        for part in (producer.stop(), client.close()):
            with contextlib.suppress(Exception):
                await asyncio.wait_for(part, settings.network_timeout_seconds)


async def _until_stopped_or_failed(runs: list[Any], stop: asyncio.Event) -> None:
    """Run the lanes; the first to fail stops the others, and its error is raised."""
    tasks = [asyncio.create_task(r) for r in runs]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        for task in done:
            task.result()
    finally:
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)


async def main_async() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)  # finish the batches in hand, then stop
    await run(Settings(), stop)


def main() -> None:
    logging.basicConfig(level=logging.INFO)
    asyncio.run(main_async())


if __name__ == "__main__":
    main()
