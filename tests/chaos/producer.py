"""The chaos run's producer, a process of its own: publishes a workload file at a steady rate.

    python -m tests.chaos.producer WORKLOAD BOOTSTRAP PREFIX RATE

WORKLOAD holds one JSON object per line: topic suffix, key and value (base64, or null).
Each record is stamped with the real time it is sent (the producer's CreateTime, never a
made-up one): the checker orders a command after every answer received before it was
published. Each message is sent once the broker has the one before it, so none overtakes
another; a send that fails (the broker restarting) is sent again until it succeeds, which
may leave a second copy, as any producer's retry would. (Not an idempotent producer: after
a broker restart it can fail for good with OutOfOrderSequenceNumber.) Prints progress,
and "published N" at the end.
"""

from __future__ import annotations

import asyncio
import base64
import json
import sys
import time

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

SEND_TIMEOUT = 15.0


def _bytes(text: str | None) -> bytes | None:
    return None if text is None else base64.b64decode(text)


async def publish(messages: list[dict[str, object]], bootstrap: str, prefix: str,
                  rate: float) -> int:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all",
                                request_timeout_ms=10_000)
    await asyncio.wait_for(producer.start(), 60)
    started = time.monotonic()
    try:
        for i, m in enumerate(messages):
            await asyncio.sleep(max(0.0, started + i / rate - time.monotonic()))
            await _send(producer, f"{prefix}.{m['topic']}.v1", m)
            if (i + 1) % 500 == 0:
                print(f"published {i + 1}/{len(messages)}", flush=True)
    finally:
        await asyncio.wait_for(producer.stop(), 60)
    return len(messages)


async def _send(producer: AIOKafkaProducer, topic: str, m: dict[str, object]) -> None:
    while True:
        try:
            sent = await producer.send(topic, _bytes(m["value"]),  # type: ignore[arg-type]
                                       key=_bytes(m["key"]))  # type: ignore[arg-type]
            await asyncio.wait_for(sent, SEND_TIMEOUT)
            return
        except (KafkaError, TimeoutError) as exc:
            print(f"send failed ({exc!r}); sending again", flush=True)
            await asyncio.sleep(0.5)  # the broker is restarting: give it a moment


if __name__ == "__main__":
    path, bootstrap, prefix, rate = sys.argv[1:5]
    with open(path) as lines:
        workload = [json.loads(line) for line in lines]
    print(f"published {asyncio.run(publish(workload, bootstrap, prefix, float(rate)))}")
