"""`python -m tests.benchmarks.sdk` (`make bench-sdk`): the Python SDK's publish rate and memory.

On one fresh test stack, in a namespace of its own, no worker (only the client is measured):

1. publish rate: BadgesClient.send awaited one after another (today's way: one broker round
   trip per command) against send_many (handed to the producer at once, acknowledgements
   awaited together), same client, same kind of commands, in the same run;
2. memory: 1,000,000 foreign result events (+ the first mark's) are written straight to the
   results topic by a fast producer; then a BadgesClient in a process of its own
   (tests/benchmarks/sdk_reader.py) reads them from the beginning and reports its RSS after
   10,000 and after 1,000,000 read, and the size of its recent-results cache. The growth
   between the two must stay within 20 MiB (exit status 1 otherwise).

Prints a table, writes .state/bench/sdk.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
import uuid
from typing import Any

from aiokafka import AIOKafkaProducer
from bson import ObjectId
from tqdm import tqdm

from badges_schemas import CommandType
from badges_sdk import kafka
from badges_sdk.client import BadgesClient, OutgoingCommand
from service.settings import Settings
from tests.benchmarks import report
from tests.infra.containers import Servers, servers
from tests.infra.worker import settings_environment

GROWTH_LIMIT_MIB = 20
WARM_UP = 200  # sends before anything is timed: connections and metadata are not the rate
READER_TIMEOUT = 1800


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = report.arguments(__doc__)
    parser.add_argument("--sequential", type=int, default=2_000,
                        help="commands sent one awaited send after another")
    parser.add_argument("--batched", type=int, default=20_000,
                        help="commands sent with one send_many")
    parser.add_argument("--foreign", type=int, default=1_000_000,
                        help="foreign results read before the second memory mark")
    parser.add_argument("--first-mark", type=int, default=10_000,
                        help="foreign results read before the first memory mark")
    return parser.parse_args(argv)


def claim(n: int) -> OutgoingCommand:
    return OutgoingCommand(CommandType.CLAIM_BADGE, 1 + n % 4, 7,
                           {"badgeId": str(ObjectId()), "ownerType": "Loyalty",
                            "referenceId": str(n)})


async def publish_rates(settings: Settings, sequential: int, batched: int) -> dict[str, Any]:
    async with BadgesClient(settings) as client:
        for n in range(WARM_UP):
            c = claim(n)
            await client.send(c.command_type, c.org_id, c.actor_id, c.payload)
        commands = [claim(n) for n in range(sequential)]
        started = time.perf_counter()
        for c in tqdm(commands, desc="send, one after another", unit="cmd"):
            await client.send(c.command_type, c.org_id, c.actor_id, c.payload)
        one_by_one = time.perf_counter() - started
        commands = [claim(n) for n in range(batched)]
        print(f"send_many of {batched:,} commands ...", file=sys.stderr)
        started = time.perf_counter()
        ids = await client.send_many(commands)
        many = time.perf_counter() - started
        assert len(set(ids)) == batched
    old, new = sequential / one_by_one, batched / many
    return {"sequential": {"commands": sequential, "seconds": round(one_by_one, 2),
                           "cmd_s": round(old, 1)},
            "send_many": {"commands": batched, "seconds": round(many, 2),
                          "cmd_s": round(new, 1)},
            "ratio": round(new / old, 2)}


def foreign_result(n: int) -> tuple[bytes, bytes]:
    """A result of someone else's command: realistic size, 4 orgs, keyed by the badge id.

    Formatted from a template rather than json.dumps: the writer, not the reader, is what
    would otherwise take most of the run.
    """
    badge = str(ObjectId())
    value = (f'{{"commandId": "{uuid.uuid4()}", "type": "ClaimBadge", "orgId": {10 + n % 4}, '
             f'"data": {{"badgeMetaId": "{badge}", "ownerType": "Loyalty", "referenceId": '
             f'"{n}"}}, "errors": [], "warnings": []}}')
    return value.encode(), badge.encode()


async def write_foreign(settings: Settings, count: int) -> dict[str, Any]:
    """As fast as one aiokafka producer goes: whole batches (send_batch), leader acks only,
    round robin over the partitions."""
    producer = AIOKafkaProducer(**kafka.connection_options(settings), acks=1,
                                max_batch_size=512 * 1024)
    await asyncio.wait_for(producer.start(), 30)
    topic = BadgesClient(settings).topics.results
    partitions = await kafka.partitions(settings, topic)
    started = time.perf_counter()
    try:
        deliveries: list[asyncio.Future[Any]] = []  # one per batch of about 2,000
        batch, turn, in_batch = producer.create_batch(), 0, 0
        with tqdm(total=count, desc="write foreign results", unit="result",
                  unit_scale=True) as bar:
            for n in range(count):
                value, key = foreign_result(n)
                if batch.append(key=key, value=value, timestamp=None) is None:  # full
                    partition = partitions[turn % len(partitions)]
                    deliveries.append(await producer.send_batch(batch, topic,
                                                                partition=partition))
                    bar.update(in_batch)
                    batch, turn, in_batch = producer.create_batch(), turn + 1, 0
                    batch.append(key=key, value=value, timestamp=None)
                in_batch += 1
            partition = partitions[turn % len(partitions)]
            deliveries.append(await producer.send_batch(batch, topic, partition=partition))
            bar.update(in_batch)
            await asyncio.wait_for(asyncio.gather(*deliveries), 120)
    finally:
        await asyncio.wait_for(producer.stop(), 30)
    seconds = time.perf_counter() - started
    return {"results": count, "seconds": round(seconds, 1), "per_s": round(count / seconds)}


def read_in_own_process(settings: Settings, marks: list[int]) -> dict[str, Any]:
    env = {**os.environ, **settings_environment(settings)}
    done = subprocess.run([sys.executable, "-m", "tests.benchmarks.sdk_reader",
                           *map(str, marks)], env=env, stdout=subprocess.PIPE, text=True,
                          timeout=READER_TIMEOUT, check=True)
    found: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return found


def memory(read: dict[str, Any]) -> dict[str, Any]:
    first, last = read["marks"][0], read["marks"][-1]
    growth = last["rss_mib"] - first["rss_mib"]
    reading = last["read"] - first["read"]
    return {"rss_mib_first": first["rss_mib"], "read_first": first["read"],
            "rss_mib_last": last["rss_mib"], "read_last": last["read"],
            "growth_mib": round(growth, 2), "growth_limit_mib": GROWTH_LIMIT_MIB,
            "within_limit": growth <= GROWTH_LIMIT_MIB,
            "recent_cache": last["recent"], "recent_cache_limit":
                read["limits"]["recent_commands"], "slots": last["slots"],
            "read_per_s": round(reading / max(last["seconds"] - first["seconds"], 1e-9)),
            "own_wait_answered": read["own_wait_answered"], "marks": read["marks"]}


def run(args: argparse.Namespace, stack: Servers) -> dict[str, Any]:
    namespace = f"benchsdk{uuid.uuid4().hex[:6]}"
    settings = Settings(kafka_bootstrap_servers=stack.kafka_bootstrap,
                        mongo_url=stack.mongo_url, mongo_database=namespace,
                        topic_prefix=namespace, topic_partitions=3)
    publish = asyncio.run(publish_rates(settings, args.sequential, args.batched))
    total = args.foreign + args.first_mark
    written = asyncio.run(write_foreign(settings, total))
    # Marks between the two show whether memory grows with what was read or levels off.
    between = [m for m in (100_000, 250_000, 500_000) if args.first_mark < m < args.foreign]
    read = read_in_own_process(settings, [args.first_mark, *between, args.foreign])
    return {"publish": publish, "write": written, "memory": memory(read),
            **report.provenance(stack)}


def table(s: dict[str, Any]) -> str:
    p, m = s["publish"], s["memory"]
    return "\n".join([
        f"{'SDK figure':<52} value",
        f"{'publish, send awaited one after another':<52} {p['sequential']['cmd_s']:,.1f} "
        f"commands/s ({p['sequential']['commands']:,} in {p['sequential']['seconds']} s)",
        f"{'publish, send_many':<52} {p['send_many']['cmd_s']:,.1f} commands/s "
        f"({p['send_many']['commands']:,} in {p['send_many']['seconds']} s)",
        f"{'send_many / one after another':<52} x{p['ratio']}",
        f"{'RSS after reading ' + format(m['read_first'], ',') + ' foreign results':<52} "
        f"{m['rss_mib_first']:.1f} MiB",
        f"{'RSS after reading ' + format(m['read_last'], ',') + ' foreign results':<52} "
        f"{m['rss_mib_last']:.1f} MiB",
        f"{'RSS growth (limit ' + str(m['growth_limit_mib']) + ' MiB)':<52} "
        f"{m['growth_mib']:+.1f} MiB {'ok' if m['within_limit'] else 'OVER THE LIMIT'}",
        f"{'RSS at each mark (results read: MiB)':<52} "
        + ", ".join(f"{r['read']:,}: {r['rss_mib']:.1f}" for r in m["marks"]),
        f"{'recent-results cache (commandIds kept / bound)':<52} "
        f"{m['recent_cache']:,} / {m['recent_cache_limit']:,}",
        f"{'own wait answered after the flood':<52} {m['own_wait_answered']}",
        f"{'client reads foreign results':<52} {m['read_per_s']:,}/s",
        f"{'foreign results written (acks=1, one producer)':<52} {s['write']['per_s']:,}/s",
        f"stack: Kafka {s['stack']['kafka']}; git {s['git']['commit'][:10]}"
        f"{' (uncommitted changes)' if s['git']['dirty'] else ''}",
    ])


def main(argv: list[str] | None = None) -> None:
    args = parse(argv)
    with servers() as stack:
        summary = run(args, stack)
    report.write(summary, report.STATE / "sdk.json")
    print("\n" + table(summary))
    print(f"\nwrote {report.STATE / 'sdk.json'}")
    if not (summary["memory"]["within_limit"] and summary["memory"]["own_wait_answered"]):
        sys.exit(1)


if __name__ == "__main__":
    main()
