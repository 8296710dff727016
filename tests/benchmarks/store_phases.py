"""Where a batch spends its time in the store, as the collections grow.

    python -m tests.benchmarks.store_phases --batch-size 100 --batches 30
    (after `eval "$(deploy/stack.sh env)"`; `make bench` runs it as one of its phases)

Runs handle_batch directly against the test stack's MongoDB-protocol server (no Kafka, no
worker) on consecutive batches of the benchmark's command mix, so the collections and the
command log grow by one batch each time. Every public coroutine method of the Store is
timed (found at run time, so the phases follow the Store as it changes); "rest" is the
batch's time outside them (negative if phases ran concurrently and overlapped). Reports
milliseconds per phase for the first and the last batch, and the median of each phase over
all batches (one batch's figures move by a third from run to run on a shared machine).
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import statistics
import time
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from pymongo import AsyncMongoClient
from tqdm import tqdm

from badges_schemas import Topics, parse
from service.store.mongo import Store
from service.worker.handler import Incoming, Origin, handle_batch
from tests.benchmarks.mix import BenchCommand, accepted_types, build_mix
from tests.infra.containers import servers

NOT_A_PHASE = {"ensure_indexes"}


def _timed(spent: dict[str, float], name: str, step: Callable[..., Awaitable[Any]]
           ) -> Callable[..., Awaitable[Any]]:
    async def timed(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return await step(*args, **kwargs)
        finally:
            spent[name] += time.perf_counter() - started
    return timed


def time_phases(store: Store) -> dict[str, float]:
    """Wrap the store's public coroutine methods; the returned dict collects their seconds."""
    spent: dict[str, float] = defaultdict(float)
    for name in dir(store):
        method = getattr(store, name)
        if not name.startswith("_") and name not in NOT_A_PHASE and \
                inspect.iscoroutinefunction(method):
            setattr(store, name, _timed(spent, name, method))
    return spent


def incoming(commands: Sequence[BenchCommand], first_offset: int) -> list[Incoming]:
    """The batch as the worker would receive it (one partition, consecutive offsets)."""
    topics = Topics("bench")
    accepted = accepted_types(topics)
    batch = []
    for number, c in enumerate(commands):
        topic = c.topic(topics)
        origin = Origin(topic, 0, first_offset + number, c.at)
        batch.append(Incoming(parse(c.value, accepted[topic]), c.key, c.value, origin))
    return batch


async def measure(mongo_url: str, commands: Sequence[BenchCommand],
                  batch_size: int = 100) -> dict[str, Any]:
    """ms per phase of the first and the last batch of `commands`, in batches of batch_size,
    and each phase's median over the batches."""
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo_url, timeoutMS=120_000)
    database = f"phases{uuid.uuid4().hex[:8]}"
    batches = [commands[i:i + batch_size] for i in range(0, len(commands), batch_size)]
    try:
        store = Store(client[database])
        await store.ensure_indexes()
        spent = time_phases(store)
        every: list[dict[str, float]] = []
        for number, batch in enumerate(tqdm(batches, desc="store phases", unit="batch")):
            spent.clear()
            started = time.perf_counter()
            await handle_batch(incoming(batch, number * batch_size), store)
            every.append(_ms(spent, time.perf_counter() - started))
        return {"batch_size": batch_size, "batches": len(batches),
                "stored_before_last": (len(batches) - 1) * batch_size, "first": every[0],
                "last": every[-1], "median": _medians(every)}
    finally:
        await client.drop_database(database)
        await client.close()


def _ms(spent: dict[str, float], total: float) -> dict[str, float]:
    phases = {name: round(seconds * 1000, 1) for name, seconds in sorted(spent.items())}
    phases["rest"] = round(total * 1000 - sum(phases.values()), 1)
    phases["total"] = round(total * 1000, 1)
    return phases


def _medians(every: Sequence[dict[str, float]]) -> dict[str, float]:
    """Each phase's median over the batches (0 in a batch that did not call it)."""
    names = sorted({name for phases in every for name in phases})
    return {name: round(statistics.median(p.get(name, 0.0) for p in every), 1)
            for name in names}


def lines(result: dict[str, Any]) -> list[str]:
    out = []
    for label in ("first", "last", "median"):
        phases = result.get(label)
        if phases is None:  # results of a run before medians were kept
            continue
        where = {"first": "first  batch (0 stored)",
                 "last": f"last   batch ({result['stored_before_last']} stored)",
                 "median": f"median of {result['batches']} batches"}[label]
        parts = "  ".join(f"{k} {v:.0f}" for k, v in phases.items() if k != "total")
        out.append(f"  {where:<30}: {phases['total']:5.0f} ms = {parts}")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--batches", type=int, default=30)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    commands = build_mix(args.batch_size * args.batches, args.seed)
    with servers() as stack:
        print(f"{stack.mongo_version}; {args.batches} batches of {args.batch_size} commands "
              "of the benchmark mix; ms per store phase")
        result = asyncio.run(measure(stack.mongo_url, commands, args.batch_size))
        print("\n".join(lines(result)))


if __name__ == "__main__":
    main()
