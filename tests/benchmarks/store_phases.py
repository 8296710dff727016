"""Benchmark: where a batch spends its time in the store, as the collections grow.

    python -m tests.benchmarks.store_phases --batch-size 100 --batches 30

Runs the handler's batch pipeline directly against the test stack's MongoDB-protocol server
(no Kafka, no worker): each batch claims new badges, so the claims and the command log grow
by one batch each time. Prints the milliseconds of each store phase for the first and the
last batch; the first batch is the baseline of the ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable
from typing import Any

from bson import ObjectId
from pymongo import AsyncMongoClient

from schemas import parse
from service.handler import Incoming, Origin, handle_batch
from service.store import Store
from tests.infra.containers import servers

PHASES = ("find_logged", "load", "log_pending", "apply", "mark_done")


def _timed(spent: dict[str, float], name: str, step: Callable[..., Awaitable[Any]]
           ) -> Callable[..., Awaitable[Any]]:
    async def timed(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return await step(*args, **kwargs)
        finally:
            spent[name] += time.perf_counter() - started
    return timed


def _batch(size: int, first_offset: int) -> list[Incoming]:
    batch = []
    for i in range(size):
        payload = {"badgeId": str(ObjectId()), "ownerType": "Loyalty", "referenceId": "bench"}
        raw = json.dumps({"commandId": str(uuid.uuid4()), "type": "ClaimBadge", "orgId": 1,
                          "actorId": 1, "payload": payload}).encode()
        origin = Origin("bench", 0, first_offset + i, time.time())
        batch.append(Incoming(parse(raw), b"bench", raw, origin))
    return batch


def _line(label: str, spent: dict[str, float], total: float, baseline: float) -> str:
    phases = "  ".join(f"{name} {spent[name] * 1000:7.0f}" for name in PHASES)
    return f"{label:<24} total {total * 1000:7.0f} ms  x{total / baseline:6.2f}  {phases}"


async def _measure(mongo_url: str, batch_size: int, batches: int) -> None:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo_url, timeoutMS=120_000)
    database = f"bench{uuid.uuid4().hex[:8]}"
    try:
        store = Store(client[database])
        await store.ensure_indexes()
        spent: dict[str, float] = defaultdict(float)
        for name in PHASES:
            setattr(store, name, _timed(spent, name, getattr(store, name)))
        baseline = 0.0
        for number in range(batches):
            spent.clear()
            started = time.perf_counter()
            await handle_batch(_batch(batch_size, number * batch_size), store)
            total = time.perf_counter() - started
            baseline = baseline or total
            if number in (0, batches - 1):
                label = f"batch {number + 1} ({number * batch_size} stored)"
                print(_line(label, spent, total, baseline))
    finally:
        await client.drop_database(database)
        await client.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--batches", type=int, default=30)
    args = parser.parse_args()
    with servers() as stack:
        print(f"{stack.mongo_version}; {args.batches} batches of {args.batch_size} claims; "
              "phase times in ms")
        asyncio.run(_measure(stack.mongo_url, args.batch_size, args.batches))


if __name__ == "__main__":
    main()
