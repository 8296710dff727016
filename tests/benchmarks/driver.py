"""Send a mix to one namespace's topics, time and check each answer, on this process's clock.

Each command has an intended send time: in a paced run its slot in the schedule, in a flood
the moment the flood reaches it, for a rename the later of that and its group's creation's
answer (it cannot be sent before). Latency counts from there to the answer's arrival at the
benchmark's own consumer of the result topic, so a sender that falls behind shows as
latency rather than hiding it (coordinated omission). Each answer is checked as it arrives
against what the mix expects (tests/benchmarks/verify.py). The systems under test are
other processes, so nothing they do touches this clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from tqdm import tqdm

from badges_schemas import Topics
from badges_sdk import kafka
from service.settings import Settings
from tests.benchmarks.mix import BenchCommand, build_mix
from tests.benchmarks.stats import intended_send, latencies_ms
from tests.benchmarks.verify import Verdict, difference, judge

FUTURES_CHUNK = 20_000  # delivery reports checked every so many sends, not held for 1M
WARM_UP_ORG = 9999


@dataclass(frozen=True, slots=True)
class Arrival:
    at: float
    problem: str | None  # how the answer differs from what the mix expects; None: as expected


@dataclass
class Outcome:
    """What one send-and-wait produced."""

    verdict: Verdict
    seconds: float  # first intended send to last answer
    latencies_ms: list[float]
    kinds: list[str]  # the kind of the command of each latency

    @property
    def rate(self) -> float:
        return self.verdict.answered / self.seconds if self.seconds > 0 else 0.0

    def checks(self) -> dict[str, Any]:
        return self.verdict.as_dict()

    def by_kind(self) -> dict[str, list[float]]:
        found: dict[str, list[float]] = {}
        for kind, latency in zip(self.kinds, self.latencies_ms, strict=True):
            found.setdefault(kind, []).append(latency)
        return found


class Driver:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.topics = Topics(settings.topic_prefix)
        self.commands: dict[str, BenchCommand] = {}  # every command sent, by id
        self.intended: dict[str, float] = {}  # when each should have been sent
        self.arrived: dict[str, Arrival] = {}  # each command's first answer
        self.repeats: Counter[str] = Counter()  # answers after the first, by command id
        self.unexpected = 0  # answers to commands this driver never sent
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
            await asyncio.wait_for(self._producer.start(), 60)
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
        await asyncio.wait_for(consumer.start(), 60)
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

    @property
    def duplicates(self) -> int:
        return sum(self.repeats.values())

    def _arrive(self, result: dict[str, Any], now: float) -> None:
        command_id = result["commandId"]
        if command_id in self.arrived:
            self.repeats[command_id] += 1
            return
        command = self.commands.get(command_id)
        if command is None:
            self.unexpected += 1
            return
        self.arrived[command_id] = Arrival(now, difference(command, result))
        self._awaited.discard(command_id)
        if self.progress is not None:
            self.progress.update(1)
        waiter = self._waiters.pop(command_id, None)
        if waiter is not None:
            waiter.set()

    def _expect(self, commands: Sequence[BenchCommand]) -> None:
        self._awaited = {c.command_id for c in commands if c.command_id not in self.arrived}

    # -- sending ---------------------------------------------------------------------

    async def send(self, command: BenchCommand, slot: float | None = None) -> None:
        """Send now, or (a rename) as soon as its group's create has been answered.
        `slot`: when it is scheduled (None: now)."""
        slot = time.perf_counter() if slot is None else slot
        self.commands[command.command_id] = command
        if command.after is not None and command.after not in self.arrived:
            waiter = self._waiters.setdefault(command.after, asyncio.Event())
            self._deferred.append(asyncio.create_task(self._send_after(waiter, command, slot)))
            return
        await self._send_now(command, slot)

    async def _send_after(self, waiter: asyncio.Event, command: BenchCommand,
                          slot: float) -> None:
        await waiter.wait()
        await self._send_now(command, slot)

    async def _send_now(self, command: BenchCommand, slot: float) -> None:
        assert self._producer is not None
        after = self.arrived.get(command.after) if command.after is not None else None
        self.intended[command.command_id] = intended_send(slot, after.at if after else None)
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
        """At a steady rate: command i's slot is start + i / rate, so sleeps do not drift,
        and its latency counts from its slot even if the send was late."""
        self._expect(commands)
        with self._bar(len(commands), label):
            started = time.perf_counter()
            for number, command in enumerate(commands):
                slot = started + number / rate
                delay = slot - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)  # the schedule itself: nothing to wait on
                await self.send(command, slot)
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
        answered = [c for c in commands if c.command_id in self.arrived]
        verdict = judge(commands, {c.command_id: self.arrived[c.command_id].problem
                                   for c in answered}, self.repeats, self.unexpected)
        at = {c.command_id: self.arrived[c.command_id].at for c in answered}
        ids = [c.command_id for c in answered]
        first = min(self.intended[c.command_id] for c in commands
                    if c.command_id in self.intended)
        last = max(at.values(), default=first)
        return Outcome(verdict, last - first, latencies_ms(self.intended, at, ids),
                       [c.kind for c in answered])

    @contextlib.contextmanager
    def _bar(self, total: int, label: str) -> Any:
        with tqdm(total=total, desc=label, unit="cmd", mininterval=0.5, leave=True) as bar:
            self.progress = bar
            try:
                yield bar
            finally:
                self.progress = None

