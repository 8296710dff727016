"""Benchmark: commands per second through a real worker, batched against one at a time.

    make bench            (or: python -m tests.benchmarks.throughput --commands 3000)

Starts the test stack, then for each configuration a fresh worker in its own namespace;
publishes N claim commands on distinct badges as fast as the producer can, and times
from the first send to the last result event. Prints throughput, the ratio against the
batch-size-1 baseline measured in the same run, and the worker's peak resident memory.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
import uuid
from pathlib import Path

from aiokafka import AIOKafkaProducer
from bson import ObjectId

from schemas import CommandType, command_key
from service import kafka
from service.client import BadgesClient
from service.settings import Settings
from tests.infra.containers import Servers, servers
from tests.infra.worker import WorkerProcess


def _claims(count: int) -> list[tuple[str, bytes, bytes]]:
    messages = []
    for _ in range(count):
        command_id = str(uuid.uuid4())
        payload = {"badgeId": str(ObjectId()), "ownerType": "Loyalty", "referenceId": "bench"}
        body = {"commandId": command_id, "type": "ClaimBadge", "orgId": 1, "actorId": 1,
                "payload": payload}
        key = command_key(CommandType.CLAIM_BADGE, 1, payload)
        messages.append((command_id, json.dumps(body).encode(), key.encode()))
    return messages


async def _publish_and_wait(settings: Settings, count: int) -> float:
    messages = _claims(count)
    async with BadgesClient(settings) as client:
        producer: AIOKafkaProducer = kafka.producer(settings)
        await producer.start()
        topic = client.topics.command(CommandType.CLAIM_BADGE)
        started = time.perf_counter()
        try:
            sends = [await producer.send(topic, value, key=key) for _, value, key in messages]
            await asyncio.wait_for(asyncio.gather(*sends), 60)
        finally:
            await producer.stop()
        for command_id, _, _ in messages:
            await client.result(command_id, timeout=300)
        return time.perf_counter() - started


def _peak_rss_mib(worker: WorkerProcess) -> float:
    assert worker.process is not None
    status = Path(f"/proc/{worker.process.pid}/status").read_text()
    line = next(x for x in status.splitlines() if x.startswith("VmHWM:"))
    return int(line.split()[1]) / 1024


def _run(stack: Servers, batch_size: int, count: int, workdir: Path) -> tuple[float, float]:
    prefix = f"bench{uuid.uuid4().hex[:8]}"
    settings = Settings(
        kafka_bootstrap_servers=stack.kafka_bootstrap, mongo_url=stack.mongo_url,
        mongo_database=prefix, topic_prefix=prefix, topic_partitions=3, batch_size=batch_size,
    )
    worker = WorkerProcess(settings, workdir / f"{prefix}.log").start()
    try:
        seconds = asyncio.run(_publish_and_wait(settings, count))
        return seconds, _peak_rss_mib(worker)
    finally:
        worker.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--commands", type=int, default=3000)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 10, 100])
    args = parser.parse_args()
    with servers() as stack, tempfile.TemporaryDirectory() as tmp:
        print(f"stack: Kafka {stack.kafka_version}, {stack.mongo_version}; "
              f"{args.commands} claim commands per run")
        baseline = None
        for batch_size in args.batch_sizes:
            seconds, rss = _run(stack, batch_size, args.commands, Path(tmp))
            rate = args.commands / seconds
            baseline = baseline or rate
            print(f"batch_size={batch_size:<4} {seconds:7.2f} s  {rate:8.1f} commands/s  "
                  f"x{rate / baseline:5.2f} vs batch_size={args.batch_sizes[0]}  "
                  f"worker peak RSS {rss:6.1f} MiB")


if __name__ == "__main__":
    main()
