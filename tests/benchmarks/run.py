"""`make bench` / `make bench FULL=1`: the worker against its baselines, in one run.

    python -m tests.benchmarks [--full] [--commands N] [--preload N] ...
    (after `eval "$(deploy/stack.sh env)"`, which `make bench` does)

On one test stack, with one command mix (tests/benchmarks/mix.py), each system in a fresh
namespace (topic prefix + database): the worker as shipped, a naive Faust agent, an aiokafka
batch loop around the worker's handler, and the raw database ceiling; then the worker again
with every collection it reads preloaded; latency at half the worker's peak and idle; the
worker's memory; the store's time per phase. Prints a table, writes .state/bench/latest.json.
"""

from __future__ import annotations

import asyncio
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from pymongo import AsyncMongoClient

from service.settings import Settings
from tests.benchmarks import latency, preload, raw_ceiling, report, store_phases
from tests.benchmarks.driver import Driver, Outcome
from tests.benchmarks.mix import BenchCommand, build_mix, describe
from tests.benchmarks.processes import ModuleProcess, memory_mib, running
from tests.infra.containers import Servers, servers
from tests.infra.worker import WorkerProcess

# Something to measure on a worker after its flood, given the flood's outcome.
Extra = Callable[[Driver, Outcome], Awaitable[dict[str, Any]]]
RSS_START_AFTER = 10_000  # commands answered before the "start" memory figure is taken
SOAK_SEED = 4
WARM_UP_SEED = 5
WARM_UP_COMMANDS = 5_000


@dataclass(frozen=True)
class Plan:
    full: bool
    commands: int
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
    # Quick mode must end within 10 minutes on 2 cores; the preload (5 x 1,000,000 documents)
    # and the naive agent (one message at a time) take most of it, so N is 5000 there.
    parser.add_argument("--commands", type=int, help="commands per system (5000; full 50000)")
    parser.add_argument("--preload", type=int, default=1_000_000,
                        help="documents per collection before the flat-with-data run")
    parser.add_argument("--latency-seconds", type=float, help="half-peak run (12; full 60)")
    parser.add_argument("--phase-batches", type=int,
                        help="store-phase batches of 100 (default: the whole mix)")
    parser.add_argument("--soak", type=int, help="soak commands (0; full 1000000)")
    parser.add_argument("--partitions", type=int, default=3, help="partitions per topic")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)

    def pick(value: Any, quick: Any, full: Any) -> Any:
        return value if value is not None else (full if args.full else quick)

    commands = pick(args.commands, 5_000, 50_000)
    return Plan(args.full, commands, args.preload, pick(args.latency_seconds, 12.0, 60.0),
                args.phase_batches or max(1, commands // 100), pick(args.soak, 0, 1_000_000),
                args.partitions, args.seed)


class Bench:
    def __init__(self, stack: Servers, plan: Plan, logs: Path) -> None:
        self.stack, self.plan, self.logs = stack, plan, logs
        self.token = uuid.uuid4().hex[:6]
        self.databases: list[str] = []
        self.seconds: dict[str, float] = {}  # wall time of each phase

    def settings(self, system: str) -> Settings:
        """A fresh namespace: topic prefix and database of its own."""
        namespace = f"bench{self.token}{system}"
        if namespace not in self.databases:
            self.databases.append(namespace)
        return Settings(kafka_bootstrap_servers=self.stack.kafka_bootstrap,
                        mongo_url=self.stack.mongo_url, mongo_database=namespace,
                        topic_prefix=namespace, topic_partitions=self.plan.partitions)

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = round(time.perf_counter() - started, 1)

    # -- the systems -------------------------------------------------------------------

    def worker(self, system: str, mix: list[BenchCommand], extra: Extra | None = None
               ) -> dict[str, Any]:
        """The worker as shipped on the mix; `extra` runs after the flood, on the same worker."""
        settings = self.settings(system)
        process = WorkerProcess(settings, self.logs / f"{system}.log")
        with self.phase(system), running(process):
            return asyncio.run(self._worker_run(system, settings, process, mix, extra))

    async def _worker_run(self, system: str, settings: Settings, process: WorkerProcess,
                          mix: list[BenchCommand], extra: Extra | None) -> dict[str, Any]:
        memory: dict[str, Any] = {}

        def on_progress(answered: int) -> None:
            if "start" not in memory and answered >= min(RSS_START_AFTER, len(mix)):
                memory["start"] = memory_mib(process)["VmRSS"]
                memory["start_after"] = answered

        async with Driver(settings) as driver:
            await driver.warm_up()
            outcome = await driver.flood(mix, system, on_progress=on_progress)
            more = await extra(driver, outcome) if extra is not None else {}
            duplicates = driver.duplicates
        at_end = memory_mib(process)
        memory.update(end=at_end["VmRSS"], hwm=at_end["VmHWM"])
        return {**_summary(outcome, duplicates), "memory": memory, **more,
                "database": settings.mongo_database}

    def baseline(self, system: str, module: str, mix: list[BenchCommand]) -> dict[str, Any]:
        """A baseline process (naive agent, aiokafka loop) on the same mix."""
        settings = self.settings(system)
        process = ModuleProcess(settings, self.logs / f"{system}.log", module)

        async def measure() -> dict[str, Any]:
            async with Driver(settings) as driver:  # creates the topics before the process
                with running(process):
                    await driver.warm_up()
                    outcome = await driver.flood(mix, system)
                    return _summary(outcome, driver.duplicates)

        with self.phase(system):
            return asyncio.run(measure())

    def ceiling(self, mix: list[BenchCommand]) -> float:
        settings = self.settings("ceiling")
        with self.phase("raw_ceiling"):
            return asyncio.run(raw_ceiling.measure(self.stack.mongo_url,
                                                   settings.mongo_database, mix))

    def phases(self, mix: list[BenchCommand]) -> dict[str, Any]:
        commands = mix[:self.plan.phase_batches * 100]
        with self.phase("store_phases"):
            return asyncio.run(store_phases.measure(self.stack.mongo_url, commands, 100))

    def flat(self, shapes_from: str, mix: list[BenchCommand]) -> dict[str, Any]:
        """The worker on the mix after every collection it reads holds `preload` documents
        (in the "flat" namespace, which the worker then runs in)."""
        settings = self.settings("flat")
        with self.phase("preload"):
            shapes = asyncio.run(self._shapes(shapes_from))
            loaded = asyncio.run(preload.preload(self.stack.mongo_url, settings.mongo_database,
                                                 shapes, self.plan.preload))
        return {**self.worker("flat", mix), "preload": loaded}

    async def _shapes(self, database: str) -> dict[str, Any]:
        client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(self.stack.mongo_url)
        try:
            return await preload.templates(client[database])
        finally:
            await client.close()

    def drop_databases(self) -> None:
        async def drop() -> None:
            client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(self.stack.mongo_url)
            try:
                for name in self.databases:
                    await client.drop_database(name)
            finally:
                await client.close()
        asyncio.run(drop())


def _summary(outcome: Outcome, duplicates: int) -> dict[str, Any]:
    return {"cmd_s": round(outcome.rate, 1), "seconds": round(outcome.seconds, 2),
            "checks": {**outcome.checks(), "duplicates": duplicates}}


def run(plan: Plan) -> dict[str, Any]:
    started = time.perf_counter()
    mix = build_mix(plan.commands, plan.seed)
    logs = report.logs_folder()
    print(report.heading(plan, describe(plan.commands, plan.seed, mix)), flush=True)
    with servers() as stack:
        bench = Bench(stack, plan, logs)
        try:
            results = _measure_all(bench, mix)
        finally:
            if stack.kafka_container is None:  # external servers: leave nothing behind
                bench.drop_databases()
    results.update(stack={"kafka": stack.kafka_version, "mongo": stack.mongo_version},
                   plan=asdict(plan), mix=describe(plan.commands, plan.seed, mix),
                   phase_seconds=bench.seconds, logs=str(logs),
                   wall_seconds=round(time.perf_counter() - started, 1))
    return results


def _measure_all(bench: Bench, mix: list[BenchCommand]) -> dict[str, Any]:
    plan = bench.plan

    async def latencies(driver: Driver, flood: Outcome) -> dict[str, Any]:
        half, half_outcome = await latency.half_peak(driver, flood.rate, plan.latency_seconds)
        quiet, quiet_outcome = await latency.idle(driver)
        return {"half_peak": {**half, "checks": half_outcome.checks()},
                "idle": {**quiet, "checks": quiet_outcome.checks()}}

    # A fresh stack is cold (the broker's JIT, the server's caches): whichever system ran
    # first paid for it (the worker measured 549/s first and 751/s later in one run). So an
    # unrecorded worker run on a mix of its own goes first.
    bench.worker("warmup", build_mix(min(plan.commands, WARM_UP_COMMANDS), WARM_UP_SEED))
    worker = bench.worker("worker", mix, extra=latencies)
    results: dict[str, Any] = {"worker": worker}
    results["naive"] = bench.baseline("naive", "tests.benchmarks.naive_agent", mix)
    results["aiokafka_loop"] = bench.baseline("loop", "tests.benchmarks.aiokafka_loop", mix)
    results["raw_ceiling_cmd_s"] = round(bench.ceiling(mix), 1)
    results["store_phases"] = bench.phases(mix)
    results["flat"] = bench.flat(worker["database"], mix)
    if plan.soak:
        results["soak"] = bench.worker("soak", build_mix(plan.soak, SOAK_SEED))
    return results


def main(argv: list[str] | None = None) -> None:
    report.stop_on_sigterm()
    plan = parse_plan(argv)
    try:
        results = run(plan)
    except KeyboardInterrupt:
        sys.exit("\ninterrupted: the processes and containers it started are stopped")
    summary = report.summarize(results)
    report.write(summary, report.STATE / "latest.json")
    print("\n" + report.table(summary))
    print(f"\nwrote {report.STATE / 'latest.json'}")


if __name__ == "__main__":
    main()
