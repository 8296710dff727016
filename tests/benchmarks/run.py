"""`make bench` / `make bench FULL=1`: the worker against its baselines, in one run.

    python -m tests.benchmarks [--full] [--commands N] [--rounds N] [--preload N] ...
    (after `eval "$(deploy/stack.sh env)"`, which `make bench` does)

On one test stack, each run in a fresh namespace (topic prefix + database):
1. an unrecorded worker run: a fresh stack is cold, and the first system paid for it;
2. rounds of the four systems, interleaved (worker, naive agent, aiokafka loop, raw
   ceiling, then again in that order), all on the same mix (tests/benchmarks/mix.py): the
   median of each, with its lowest and highest run;
3. a fresh worker: latency at half the median worker peak, idle latency, then each kind of
   command alone (tests/benchmarks/command_types.py);
4. the store's time per phase (tests/benchmarks/store_phases.py);
5. the worker after `preload` documents per collection, on a mix of which more than 30 %
   touches them; and the same kind of mix after a preload of SMALL_PRELOAD, so that the
   ratio of the two is the cost of the database's size alone (the mix that touches old
   documents has more updates and group commands than the standard one: against the
   standard mix on an empty database, its rate mixes the two costs);
6. with --full, a 1,000,000-command soak for memory.
Every answer is checked. Prints a table, writes .state/bench/latest.json (and partial.json
as it goes) and latest.png, and exits 1 if any command went unanswered or answered wrongly.
"""

from __future__ import annotations

import asyncio
import sys
import time
from dataclasses import asdict, dataclass
from typing import Any

from pymongo import AsyncMongoClient

from tests.benchmarks import (
    command_types,
    latency,
    picture,
    preload,
    report,
    store_phases,
    summary,
    table,
)
from tests.benchmarks.bench import Bench
from tests.benchmarks.driver import Driver
from tests.benchmarks.mix import SHARES_PRELOADED, BenchCommand, build_mix, describe
from tests.benchmarks.preloaded import Preloaded
from tests.benchmarks.stats import Spread
from tests.benchmarks.verify import EXAMPLES
from tests.infra.containers import servers
from tests.infra.worker import WorkerProcess

SYSTEMS = ("worker", "naive", "aiokafka_loop", "raw_ceiling")
NAMESPACES = {"worker": "worker", "naive": "naive", "aiokafka_loop": "loop",
              "raw_ceiling": "ceiling"}
SOAK_SEED = 4
WARM_UP_SEED = 5
WARM_UP_COMMANDS = 5_000
# The same mix's baseline: enough documents that the mix touches at most half of them
# (tests/benchmarks/mix.py, _Old), 5 % of the full preload's size.
SMALL_PRELOAD = 50_000


@dataclass(frozen=True)
class Plan:
    full: bool
    commands: int
    naive_commands: int
    rounds: int
    type_commands: int
    preload: int
    latency_seconds: float
    phase_batches: int
    soak: int
    partitions: int
    seed: int


def parse_plan(argv: list[str] | None = None) -> Plan:
    parser = report.arguments(__doc__)
    parser.add_argument("--full", action="store_true",
                        help="larger runs, longer latency run, and a 1,000,000-command soak")
    parser.add_argument("--commands", type=int, help="commands per system run (20000; full "
                        "50000)")
    # The naive agent answers one message at a time: its rate is steady over 5,000.
    parser.add_argument("--naive-commands", type=int, help="the naive agent's (5000; full "
                        "20000)")
    parser.add_argument("--rounds", type=int, default=3, help="runs of each system (3)")
    parser.add_argument("--type-commands", type=int,
                        help="commands per kind alone (a quarter of --commands)")
    parser.add_argument("--preload", type=int, default=1_000_000,
                        help="documents per collection before the run at 1M documents")
    parser.add_argument("--latency-seconds", type=float, help="half-peak run (12; full 60)")
    parser.add_argument("--phase-batches", type=int,
                        help="store-phase batches of 100 (default: the whole mix)")
    parser.add_argument("--soak", type=int, help="soak commands (0; full 1000000)")
    parser.add_argument("--partitions", type=int, default=3, help="partitions per topic")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)

    def pick(value: Any, quick: Any, full: Any) -> Any:
        return value if value is not None else (full if args.full else quick)

    commands = pick(args.commands, 20_000, 50_000)
    return Plan(args.full, commands, min(commands, pick(args.naive_commands, 5_000, 20_000)),
                args.rounds, args.type_commands or max(1, commands // 4), args.preload,
                pick(args.latency_seconds, 12.0, 60.0),
                args.phase_batches or max(1, commands // 100), pick(args.soak, 0, 1_000_000),
                args.partitions, args.seed)


def run(plan: Plan) -> dict[str, Any]:
    started = time.perf_counter()
    mix = build_mix(plan.commands, plan.seed)
    logs = report.logs_folder()
    results: dict[str, Any] = {"plan": asdict(plan), "mix": describe(mix, plan.seed),
                               "logs": str(logs)}
    print(report.heading(plan, results["mix"]), flush=True)
    with servers() as stack:
        bench = Bench(stack, plan.partitions, logs)
        results["stack"] = {"kafka": stack.kafka_version, "mongo": stack.mongo_version}
        try:
            _measure_all(bench, plan, mix, report.Progress(results))
        finally:
            results.update(phase_seconds=bench.seconds,
                           wall_seconds=round(time.perf_counter() - started, 1))
            if stack.kafka_container is None:  # external servers: leave nothing behind
                bench.drop_databases()
    return results


def _measure_all(bench: Bench, plan: Plan, mix: list[BenchCommand],
                 progress: report.Progress) -> None:
    warm_up = build_mix(min(plan.commands, WARM_UP_COMMANDS), WARM_UP_SEED)
    progress.add("warmup", bench.system("worker", "warmup", warm_up))
    mixes = {"naive": mix[:plan.naive_commands]}
    for number in range(plan.rounds):
        for system in SYSTEMS:
            found = bench.system(system, f"{NAMESPACES[system]}{number}",
                                 mixes.get(system, mix))
            progress.add_round(system, number, plan.rounds, found)
    rounds = progress.results["rounds"]
    peak = Spread.of(r["cmd_s"] for r in rounds["worker"]).median
    progress.add("latency", _latencies(bench, plan, peak))
    with bench.phase("store_phases"):
        progress.add("store_phases", asyncio.run(store_phases.measure(
            bench.stack.mongo_url, mix[:plan.phase_batches * 100], 100)))
    shapes_from = rounds["worker"][0]["database"]
    progress.add("flat_small", _flat(bench, plan, shapes_from, min(SMALL_PRELOAD, plan.preload),
                                     "flatsmall"))
    progress.add("flat", _flat(bench, plan, shapes_from, plan.preload, "flat"))
    if plan.soak:
        progress.add("soak", bench.system("worker", "soak", build_mix(plan.soak, SOAK_SEED)))


def _latencies(bench: Bench, plan: Plan, peak: float) -> dict[str, Any]:
    async def measure(driver: Driver, process: WorkerProcess | None) -> dict[str, Any]:
        half, _ = await latency.half_peak(driver, peak, plan.latency_seconds)
        quiet, _ = await latency.idle(driver)
        kinds = await command_types.measure(driver, plan.type_commands,
                                            plan.latency_seconds / 2)
        return {"half_peak": half, "idle": quiet, "command_types": kinds}
    return bench.session("latency", measure)


def _flat(bench: Bench, plan: Plan, shapes_from: str, count: int, namespace: str
          ) -> dict[str, Any]:
    """The worker on the mix that touches preloaded documents, after a preload of `count`
    per collection (in `namespace`, which the worker then runs in)."""
    entities = Preloaded(count)
    mix = build_mix(plan.commands, plan.seed, shares=SHARES_PRELOADED, preloaded=entities)
    settings = bench.settings(namespace)
    with bench.phase(f"preload_{namespace}"):
        shapes = asyncio.run(_shapes(bench.stack.mongo_url, shapes_from))
        loaded = asyncio.run(preload.preload(bench.stack.mongo_url, settings.mongo_database,
                                             shapes, entities))
    found = bench.system("worker", namespace, mix)
    return {**found, "preload": loaded, "mix": describe(mix, plan.seed, SHARES_PRELOADED)}


async def _shapes(mongo_url: str, database: str) -> dict[str, Any]:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo_url, timeoutMS=60_000)
    try:
        return await preload.templates(client[database])
    finally:
        await client.close()


def main(argv: list[str] | None = None) -> None:
    report.stop_on_sigterm()
    plan = parse_plan(argv)
    try:
        results = run(plan)
    except KeyboardInterrupt:
        sys.exit("\ninterrupted: the processes and containers it started are stopped")
    figures = summary.summarize(results)
    report.write(figures, report.STATE / "latest.json")
    print("\n" + table.table(figures))
    print(f"\nwrote {report.STATE / 'latest.json'}")
    drawn = picture.draw(figures, report.STATE / "latest.png")
    print(f"wrote {drawn}" if drawn else "no picture: matplotlib is not installed")
    failures = figures["checks"]["failures"]
    if failures:
        sys.exit(f"\nFAILED: {len(failures)} run(s) with answers missing or wrong:\n  "
                 + "\n  ".join(failures[:EXAMPLES * 4]))


if __name__ == "__main__":
    main()
