"""One benchmark run's systems, each in a fresh namespace (topic prefix + database) of the
test stack: started, warmed up, measured (rate, answers checked, CPU, memory), stopped.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pymongo import AsyncMongoClient

from service.settings import Settings
from tests.benchmarks import cpu, raw_ceiling
from tests.benchmarks.driver import Driver, Outcome
from tests.benchmarks.mix import BenchCommand
from tests.benchmarks.processes import ModuleProcess, memory_mib, running
from tests.infra.containers import Servers
from tests.infra.worker import WorkerProcess

RSS_START_AFTER = 10_000  # commands answered before the "start" memory figure is taken
# What to measure once a system is up and warm: (driver, its process) -> figures.
Work = Callable[[Driver, WorkerProcess | None], Awaitable[dict[str, Any]]]
BASELINES = {"naive": "tests.benchmarks.naive_agent",
             "aiokafka_loop": "tests.benchmarks.aiokafka_loop"}


class Bench:
    def __init__(self, stack: Servers, partitions: int, logs: Path) -> None:
        self.stack, self.partitions, self.logs = stack, partitions, logs
        self.token = uuid.uuid4().hex[:6]
        self.databases: list[str] = []
        self.seconds: dict[str, float] = {}  # wall time of each phase
        self.pids = {"broker": cpu.container_pid(stack.kafka_container),
                     "database": cpu.container_pid(stack.mongo_container),
                     "driver": os.getpid()}

    def settings(self, namespace: str) -> Settings:
        """A fresh namespace: topic prefix and database of its own."""
        name = f"bench{self.token}{namespace}"
        if name not in self.databases:
            self.databases.append(name)
        return Settings(kafka_bootstrap_servers=self.stack.kafka_bootstrap,
                        mongo_url=self.stack.mongo_url, mongo_database=name,
                        topic_prefix=name, topic_partitions=self.partitions)

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = round(time.perf_counter() - started, 1)

    # -- the systems -------------------------------------------------------------------

    def system(self, name: str, namespace: str, mix: Sequence[BenchCommand]) -> dict[str, Any]:
        """One measured run of a system on the mix: worker, naive, aiokafka_loop or
        raw_ceiling."""
        if name == "raw_ceiling":
            return self.ceiling(namespace, mix)

        async def flood(driver: Driver, process: WorkerProcess | None) -> dict[str, Any]:
            return await self.flood(driver, process, mix, namespace)
        return self.session(namespace, flood, BASELINES.get(name))

    def session(self, namespace: str, work: Work, module: str | None = None
                ) -> dict[str, Any]:
        """Start the worker (or the baseline `module`) in a fresh namespace, warm it up,
        run `work`, stop it; `work`'s figures, with the driver's own checks and the
        database's name."""
        settings = self.settings(namespace)
        log = self.logs / f"{namespace}.log"
        process = (ModuleProcess(settings, log, module) if module
                   else WorkerProcess(settings, log))

        async def measure() -> dict[str, Any]:
            async with Driver(settings) as driver:  # creates the topics before the process
                with running(process):
                    await driver.warm_up()
                    found = await work(driver, process)
                return {**found, "driver_checks": _driver_checks(driver),
                        "database": settings.mongo_database}

        with self.phase(namespace):
            return asyncio.run(measure())

    async def flood(self, driver: Driver, process: WorkerProcess | None,
                    mix: Sequence[BenchCommand], label: str) -> dict[str, Any]:
        """All of the mix at once: rate, checks, CPU per 1,000 answers, memory."""
        memory: dict[str, Any] = {}

        def on_progress(answered: int) -> None:
            if process is not None and "start" not in memory and \
                    answered >= min(RSS_START_AFTER, len(mix)):
                memory.update(start=memory_mib(process)["VmRSS"], start_after=answered)

        meter = self.meter(process)
        before = meter.read()
        outcome = await driver.flood(mix, label, on_progress=on_progress)
        found = _figures(outcome, before, meter.read())
        if process is not None:
            at_end = memory_mib(process)
            memory.update(end=at_end["VmRSS"], hwm=at_end["VmHWM"])
        return {**found, "memory": memory}

    def ceiling(self, namespace: str, mix: Sequence[BenchCommand]) -> dict[str, Any]:
        settings = self.settings(namespace)
        meter = self.meter(None)

        async def measure() -> dict[str, Any]:
            before = meter.read()
            found = await raw_ceiling.measure(self.stack.mongo_url, settings.mongo_database,
                                              mix)
            used = cpu.per_thousand(before, meter.read(), len(mix))
            return {**found, "commands": len(mix), "cpu_s_per_1k": used,
                    "database": settings.mongo_database}

        with self.phase(namespace):
            return asyncio.run(measure())

    def meter(self, process: WorkerProcess | None) -> cpu.Meter:
        system = process.process.pid if process is not None and process.process else None
        return cpu.Meter({"system": system, **self.pids})

    def drop_databases(self) -> None:
        async def drop() -> None:
            client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
                self.stack.mongo_url, timeoutMS=120_000)
            try:
                for name in self.databases:
                    await client.drop_database(name)
            finally:
                await client.close()
        asyncio.run(drop())


def _figures(outcome: Outcome, before: cpu.Reading, after: cpu.Reading) -> dict[str, Any]:
    answered = outcome.verdict.answered
    return {"cmd_s": round(outcome.rate, 1), "seconds": round(outcome.seconds, 2),
            "commands": answered, "checks": outcome.checks(),
            "cpu_s_per_1k": cpu.per_thousand(before, after, answered)}


def _driver_checks(driver: Driver) -> dict[str, Any]:
    """Over the driver's whole life: answers after the first, answers to unsent commands."""
    ok = not (driver.duplicates or driver.unexpected)
    return {"ok": ok, "duplicates": driver.duplicates, "unexpected": driver.unexpected,
            "text": "ok" if ok else f"{driver.duplicates} answered twice, "
                                    f"{driver.unexpected} answers to unsent commands"}
