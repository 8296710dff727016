"""Send the mix to one namespace's topics and time each result, all on this process's clock.

A command's time is taken just before its send; its result's time when the benchmark's own
consumer of the result topic receives it. The systems under test are other processes, so
nothing they do touches either clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from tqdm import tqdm

from badges_schemas import Topics
from badges_sdk import kafka
from service.settings import Settings
from tests.benchmarks.mix import BenchCommand, build_mix

FUTURES_CHUNK = 20_000  # delivery reports checked every so many sends, not held for 1M
WARM_UP_ORG = 9999


@dataclass
class Arrival:
    at: float
    errors: tuple[int, ...]
    warnings: tuple[int, ...]


@dataclass
class Outcome:
    """What one send-and-wait produced."""

    sent: int
    arrived: int
    seconds: float  # first send to last result
    latencies_ms: list[float]
    missing: list[str]  # command ids with no result
    mismatches: dict[str, int] = field(default_factory=dict)  # kind -> results not as expected
    examples: list[str] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.arrived / self.seconds if self.seconds > 0 else 0.0

    def checks(self) -> dict[str, Any]:
        return {"sent": self.sent, "arrived": self.arrived, "missing": len(self.missing),
                "missing_examples": self.missing[:5], "mismatches": self.mismatches,
                "mismatch_examples": self.examples[:5]}


class Driver:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.topics = Topics(settings.topic_prefix)
        self.sent: dict[str, float] = {}
        self.arrived: dict[str, Arrival] = {}
        self.duplicates = 0
        self.progress: tqdm[Any] | None = None
        self._awaited: set[str] = set()  # ids of the current run still without a result
        self._waiters: dict[str, asyncio.Event] = {}
        self._futures: list[asyncio.Future[Any]] = []  # delivery reports of sends
        self._deferred: list[asyncio.Task[None]] = []  # renames waiting for their group
        self._producer: AIOKafkaProducer | None = None
        self._consumer: AIOKafkaConsumer | None = None
        self._reader: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Driver:
        try:
            await kafka.ensure_topics(self.settings, self.topics.all)
            # The worker's own producer settings: acks=all, idempotent.
            self._producer = kafka.producer(self.settings)
            await self._producer.start()
            self._consumer = await self._results_consumer()
            self._reader = asyncio.create_task(self._read())
        except BaseException:
            await self.__aexit__(None, None, None)
            raise
        return self

    async def __aexit__(self, *exc: type[BaseException] | BaseException | TracebackType | None
                        ) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        for client in (self._consumer, self._producer):
            if client is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(client.stop(), 10)

    async def _results_consumer(self) -> AIOKafkaConsumer:
        consumer = AIOKafkaConsumer(**kafka.connection_options(self.settings),
                                    enable_auto_commit=False)
        await consumer.start()
        topic = self.topics.results
        assigned = [TopicPartition(topic, p) for p in await kafka.partitions(self.settings, topic)]
        consumer.assign(assigned)
        # A topic created a moment ago may have no leader yet: aiokafka logs that as an error
        # and retries until it has one. Quiet while it does; the call fails if it never does.
        fetcher = logging.getLogger("aiokafka.consumer.fetcher")
        level = fetcher.level
        fetcher.setLevel(logging.CRITICAL)
        try:
            await consumer.seek_to_end(*assigned)
            for tp in assigned:  # fix the start now, before anything is sent
                await asyncio.wait_for(consumer.position(tp), 60)
        finally:
            fetcher.setLevel(level)
        return consumer

    async def _read(self) -> None:
        assert self._consumer is not None
        while True:
            batches = await self._consumer.getmany(timeout_ms=100)
            now = time.perf_counter()
            for records in batches.values():
                for record in records:
                    self._arrive(json.loads(record.value), now)

    def _arrive(self, result: dict[str, Any], now: float) -> None:
        command_id = result["commandId"]
        if command_id in self.arrived:
            self.duplicates += 1
            return
        self.arrived[command_id] = Arrival(
            now, tuple(e["code"] for e in result["errors"]),
            tuple(w["code"] for w in result["warnings"]))
        self._awaited.discard(command_id)
        if self.progress is not None:
            self.progress.update(1)
        waiter = self._waiters.pop(command_id, None)
        if waiter is not None:
            waiter.set()

    def _expect(self, commands: Sequence[BenchCommand]) -> None:
        self._awaited = {c.command_id for c in commands if c.command_id not in self.arrived}

    # -- sending ---------------------------------------------------------------------

    async def send(self, command: BenchCommand) -> None:
        """Send now, or (a rename) as soon as its group's create has been answered."""
        if command.after is not None and command.after not in self.arrived:
            waiter = self._waiters.setdefault(command.after, asyncio.Event())
            self._deferred.append(asyncio.create_task(self._send_after(waiter, command)))
            return
        await self._send_now(command)

    async def _send_after(self, waiter: asyncio.Event, command: BenchCommand) -> None:
        await waiter.wait()
        await self._send_now(command)

    async def _send_now(self, command: BenchCommand) -> None:
        assert self._producer is not None
        self.sent[command.command_id] = time.perf_counter()
        delivery = await self._producer.send(command.topic(self.topics), command.value,
                                             key=command.key)
        self._futures.append(delivery)
        if len(self._futures) >= FUTURES_CHUNK:
            await self._check_deliveries()

    async def _check_deliveries(self) -> None:
        futures, self._futures = self._futures, []
        await asyncio.wait_for(asyncio.gather(*futures), 120)

    # -- the three ways of sending -----------------------------------------------------

    async def flood(self, commands: Sequence[BenchCommand], label: str, stall: float = 120,
                    on_progress: Callable[[int], None] | None = None) -> Outcome:
        """All at once, as fast as the producer takes them."""
        self._expect(commands)
        with self._bar(len(commands), label):
            for command in commands:
                await self.send(command)
            return await self.outcome(commands, stall, on_progress)

    async def paced(self, commands: Sequence[BenchCommand], rate: float, label: str,
                    stall: float = 60) -> Outcome:
        """At a steady rate: each send has an absolute deadline, so sleeps do not drift."""
        self._expect(commands)
        with self._bar(len(commands), label):
            started = time.perf_counter()
            for number, command in enumerate(commands):
                delay = started + number / rate - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                await self.send(command)
            return await self.outcome(commands, stall)

    async def warm_up(self, timeout: float = 180) -> None:
        """A claim, a group create and its rename, in an org of their own, answered before
        anything is timed: the systems connect lazily and join their consumer group after
        "Ready", and that start-up belongs to no measurement.
        """
        mix = build_mix(400, seed=0xA11CE, orgs=(WARM_UP_ORG,))
        rename = next(c for c in mix if c.kind == "group_rename")
        create = next(c for c in mix if c.command_id == rename.after)
        claim = next(c for c in mix if c.kind == "claim_new")
        self._expect([claim, create, rename])
        for command in (claim, create, rename):
            await self.send(command)
        deadline = time.monotonic() + timeout
        while self._awaited:
            if time.monotonic() > deadline:
                raise TimeoutError(f"warm-up: no results within {timeout}s from "
                                   f"{self.settings.topic_prefix}")
            await asyncio.sleep(0.1)

    # -- waiting and checking ----------------------------------------------------------

    async def outcome(self, commands: Sequence[BenchCommand], stall: float,
                      on_progress: Callable[[int], None] | None = None) -> Outcome:
        """Wait for every result, or until none has come for `stall` seconds."""
        await self._wait(len(commands), stall, on_progress)
        for task in self._deferred:  # only if a create was never answered: its rename is missing
            task.cancel()
        self._deferred = []
        await self._check_deliveries()
        return self._outcome(commands)

    async def _wait(self, total: int, stall: float,
                    on_progress: Callable[[int], None] | None) -> None:
        count, last_change = -1, time.monotonic()
        while self._awaited:
            if self._reader is not None and self._reader.done():
                self._reader.result()  # the reader failed: say why, rather than wait for nothing
            arrived = total - len(self._awaited)
            if on_progress is not None:
                on_progress(arrived)
            if arrived != count:
                count, last_change = arrived, time.monotonic()
            elif time.monotonic() - last_change > stall:
                return
            await asyncio.sleep(0.2)
        if on_progress is not None:
            on_progress(total)

    def _outcome(self, commands: Sequence[BenchCommand]) -> Outcome:
        latencies, missing = [], []
        mismatches: dict[str, int] = {}
        examples = []
        for command in commands:
            arrival = self.arrived.get(command.command_id)
            if arrival is None:
                missing.append(command.command_id)
                continue
            latencies.append((arrival.at - self.sent[command.command_id]) * 1000)
            if (arrival.errors, arrival.warnings) != (command.errors, command.warnings):
                mismatches[command.kind] = mismatches.get(command.kind, 0) + 1
                examples.append(f"{command.kind} {command.command_id}: errors "
                                f"{arrival.errors} warnings {arrival.warnings}, expected "
                                f"{command.errors} {command.warnings}")
        first = min(self.sent[c.command_id] for c in commands if c.command_id in self.sent)
        last = max((self.arrived[c.command_id].at for c in commands
                    if c.command_id in self.arrived), default=first)
        return Outcome(len(commands), len(commands) - len(missing), last - first, latencies,
                       missing, mismatches, examples)

    @contextlib.contextmanager
    def _bar(self, total: int, label: str) -> Any:
        with tqdm(total=total, desc=label, unit="cmd", mininterval=0.5, leave=True) as bar:
            self.progress = bar
            try:
                yield bar
            finally:
                self.progress = None

