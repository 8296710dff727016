"""A chaos run: two workers, a producer process, faults while commands flow, then the check.

`run(plan, settings, servers, workdir)` publishes `plan.count` commands (workload.py) at
`plan.rate` per second from a separate process while two workers share the partitions, and
meanwhile, one after the other at the plan's times: SIGKILLs a worker (restarting it after
1 to 5 s), restarts the Kafka broker (its data kept), stops MongoDB for a while, and
freezes a worker past the session timeout (a zombie) with a write to the claims in flight:
each worker reaches MongoDB through a forwarder, which holds that write; while the worker
is frozen, a newer command for one of the held claims is published and answered by the
partition's new owner; then the worker resumes and its write goes on. What it would have
written is read from the held bytes, and the stored claims show whether it was fenced
(`fenced_writes`: held claims the database shows newer than the zombie's write). Once
every message is answered it reads back the command topics, the results and dead letters,
and the database, runs the checker (check.py) and returns the report. Meanwhile an observer
outside the workers reads the results as they come and notes when each answer was first
received: the real-time order the checker holds the service to.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import pickle
import random
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.errors import KafkaError
from pymongo import AsyncMongoClient

from service.settings import Settings
from tests.chaos.check import Answer, Record, Stored, check
from tests.chaos.fuzz import CLAIMS, TOPICS, entity_key
from tests.chaos.held import claim_updates
from tests.chaos.model import stored_form, verdict
from tests.chaos.workload import Message, commands
from tests.infra.containers import Servers, free_port, wait_for_mongo
from tests.infra.forward import Hold, forwarding
from tests.infra.worker import WorkerProcess

Doc = dict[str, Any]
ANSWER_TIMEOUT = 300.0  # for the last answers once the faults are over
ZOMBIE_NUDGES = 3  # times the zombie phase makes a claims update happen, if none comes
NETWORK_TIMEOUT = 30.0


@dataclass(frozen=True)
class Plan:
    count: int
    rate: float  # commands per second
    kills: tuple[float, ...]  # seconds after the first command, one SIGKILL each
    broker_restarts: tuple[float, ...]
    db_outage: tuple[float, float] | None  # (at, seconds)
    zombie: float | None  # when a worker is frozen, for the session timeout and 4 s more
    seed: int = 20261128
    names: int = 40  # group names per org (see workload.commands)


FULL = Plan(10_000, 50.0, kills=(15, 45, 80, 120, 165), broker_restarts=(60, 140),
            db_outage=(92, 30), zombie=180)
# A worker with a seeded bug (BADGES_SEEDED_BUG), without faults: the bug alone must show.
SEEDED = Plan(1_000, 25.0, kills=(), broker_restarts=(), db_outage=None, zombie=None)
# The report counters each seeded bug must show up in (one of them at least).
SEEDED_BUGS = {"no_dedupe": ("double_effects",),
               "lazy_name_release": ("realtime_violations", "mismatched_answers")}
# The full run's contention (40 names per org) in a fifth of the time.
SMALL = Plan(1_500, 25.0, kills=(6,), broker_restarts=(16,), db_outage=(28, 10), zombie=44)


class _Run:
    def __init__(self, plan: Plan, settings: Settings, servers: Servers, workdir: Path) -> None:
        self.plan, self.settings, self.servers, self.workdir = plan, settings, servers, workdir
        self.ports = [free_port(), free_port()]  # each worker's way to MongoDB
        self.holds = [Hold(_claims_update), Hold(_claims_update)]
        # A held write that times out in the worker still reaches MongoDB once released.
        self.workers = [WorkerProcess(settings.model_copy(update={
            "mongo_url": f"mongodb://127.0.0.1:{port}/?directConnection=true"}),
            workdir / f"worker-{i}.log") for i, port in enumerate(self.ports)]
        self.received: dict[tuple[Any, Any], float] = {}
        self.awaited: dict[tuple[Any, Any], asyncio.Event] = {}  # answers waited for
        self.zombie_writes: dict[str, Doc] = {}  # claim _id -> the fields it would set
        self.messages: list[Message] = []
        self.rnd = random.Random(plan.seed)
        self.counts = {"worker_kills": 0, "broker_restarts": 0, "db_outage_seconds": 0,
                       "zombie_pauses": 0}

    def log(self, text: str) -> None:
        print(f"[chaos {time.strftime('%H:%M:%S')}] {text}", flush=True)

    # -- faults -------------------------------------------------------------------------

    async def kill(self) -> None:
        worker = self.rnd.choice(self.workers)
        worker.kill()
        self.counts["worker_kills"] += 1
        pause = self.rnd.uniform(1, 5)
        self.log(f"SIGKILL {worker.log_path.name}; restarting in {pause:.1f}s")
        await asyncio.sleep(pause)
        worker.start(wait=False)

    async def restart_broker(self) -> None:
        container = self._container(self.servers.kafka_container, "Kafka")
        self.log("restarting the Kafka broker")
        await _stop(container)
        await asyncio.to_thread(container.start)
        self.counts["broker_restarts"] += 1

    async def db_outage(self, seconds: float) -> None:
        container = self._container(self.servers.mongo_container, "MongoDB")
        self.log(f"MongoDB down for {seconds:.0f}s")
        await _stop(container)
        await asyncio.sleep(seconds)
        await asyncio.to_thread(container.start)
        await asyncio.to_thread(wait_for_mongo, self.servers.mongo_url)
        self.counts["db_outage_seconds"] += int(seconds)

    async def zombie(self) -> None:
        """Freeze a worker with its next update of the claims held in flight: both
        workers' next one is held, the first caught decides which (the other may hold no
        claims partition at the moment), the other goes on."""
        for hold in self.holds:
            hold.arm()
        waits = [asyncio.create_task(hold.caught.wait()) for hold in self.holds]
        for _ in range(ZOMBIE_NUDGES):
            done, _ = await asyncio.wait(waits, timeout=NETWORK_TIMEOUT / ZOMBIE_NUDGES,
                                         return_when=asyncio.FIRST_COMPLETED)
            if done:
                break
            await self._nudge()  # no claim written meanwhile: make one be
        for wait in waits:
            wait.cancel()
        caught = [n for n, hold in enumerate(self.holds) if hold.caught.is_set()]
        if not caught:
            await self._dump_stacks()
        n = caught[0] if caught else self.rnd.randrange(len(self.workers))
        for other, hold in enumerate(self.holds):
            if other != n:
                hold.release()
        worker, hold = self.workers[n], self.holds[n]
        assert worker.process is not None
        seconds = self.settings.kafka_session_timeout_seconds + 4
        self.log(f"SIGSTOP {worker.log_path.name} for {seconds:.0f}s or more"
                 + (", a write to the claims held" if caught else
                    f": no claims write in {NETWORK_TIMEOUT:.0f}s"))
        worker.process.send_signal(signal.SIGSTOP)
        try:
            self.zombie_writes = claim_updates(hold.held)
            started = time.monotonic()
            if self.zombie_writes:
                await self._newer_command(*next(iter(self.zombie_writes.items())))
            await asyncio.sleep(max(0.0, started + seconds - time.monotonic()))
        finally:
            worker.process.send_signal(signal.SIGCONT)
            hold.release()
        self.counts["zombie_pauses"] += 1

    async def _dump_stacks(self) -> None:
        """No claims write at all: the workers may be stuck. mode's worker logs every
        thread's and task's stack on SIGUSR1: the logs show where they wait."""
        for worker in self.workers:
            if worker.process is not None and worker.process.poll() is None:
                worker.process.send_signal(signal.SIGUSR1)
                with contextlib.suppress(Exception):  # a diagnosis only: never fails the run
                    await asyncio.to_thread(worker.wait_for, "LOCAL VARIABLES", 10)

    async def _nudge(self) -> None:
        """An unclaim and a claim of a claim answered already: one of them changes it, so
        the worker that holds its partition writes an update of the claims."""
        org, badge, owner, reference = self.answered_claim()
        await self._publish(*(_claim_command(kind, org, badge, owner, reference)
                              for kind in ("UnclaimBadge", "ClaimBadge")))

    def answered_claim(self) -> tuple[int, str, str, str]:
        for m in self.messages:
            if m.topic == CLAIMS and m.kind == "valid" and m.value is not None:
                command = json.loads(m.value)
                if (command["orgId"], command["commandId"]) in self.received:
                    p = command["payload"]
                    return command["orgId"], p["badgeId"], p["ownerType"], p["referenceId"]
        raise RuntimeError("no claim answered yet")

    async def _publish(self, *commands: Doc) -> None:
        """To the claims topic, in order, each once the broker has the one before it."""
        producer = AIOKafkaProducer(bootstrap_servers=self.settings.kafka_bootstrap_servers,
                                    acks="all")
        await asyncio.wait_for(producer.start(), NETWORK_TIMEOUT)
        try:
            for command in commands:
                await asyncio.wait_for(producer.send_and_wait(
                    f"{self.settings.topic_prefix}.{CLAIMS}.v1", json.dumps(command).encode(),
                    key=entity_key(command)), NETWORK_TIMEOUT)
        finally:
            await asyncio.wait_for(producer.stop(), NETWORK_TIMEOUT)

    async def _newer_command(self, claim: str, held: Doc) -> None:
        """Publish a command for the held claim, and wait until it is answered (by the new
        owner of its partition): the claim is then stored newer than the held write. The
        new owner applies the zombie's logged decisions first, so the claim is as the held
        write leaves it, and the opposite command changes it."""
        org, badge, owner, reference = claim.split(":", 3)
        kind = "UnclaimBadge" if held.get("isActive") else "ClaimBadge"
        command = _claim_command(kind, int(org), badge, owner, reference)
        await self._publish(command)
        answered = (int(org), command["commandId"])
        event = self.awaited.setdefault(answered, asyncio.Event())
        if answered in self.received:
            event.set()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), ANSWER_TIMEOUT)
        self.log(f"newer command for held claim {claim}: "
                 f"{'answered' if answered in self.received else 'NOT answered'}")

    @staticmethod
    def _container(container: Any, what: str) -> Any:
        if container is None:
            raise RuntimeError(f"a chaos run restarts {what}: it needs the test containers")
        return container.get_wrapped_container()

    async def faults(self, started: float) -> None:
        plan = self.plan
        schedule: list[tuple[float, Callable[[], Awaitable[None]]]] = [
            *((t, self.kill) for t in plan.kills),
            *((t, self.restart_broker) for t in plan.broker_restarts),
        ]
        if plan.db_outage is not None:
            at, seconds = plan.db_outage
            schedule.append((at, lambda: self.db_outage(seconds)))
        if plan.zombie is not None:
            schedule.append((plan.zombie, self.zombie))
        for at, fault in sorted(schedule, key=lambda f: f[0]):
            await asyncio.sleep(max(0.0, started + at - time.monotonic()))
            await fault()

    # -- the run ------------------------------------------------------------------------

    async def go(self, messages: list[Message]) -> Doc:
        async with contextlib.AsyncExitStack() as forwarders:
            target = self.servers.mongo_url.removeprefix("mongodb://")
            for port, hold in zip(self.ports, self.holds, strict=True):
                await forwarders.enter_async_context(forwarding(port, target, hold))
            return await self._go(messages)

    async def _go(self, messages: list[Message]) -> Doc:
        self.messages = messages
        started = time.monotonic()
        for worker in self.workers:
            worker.start(wait=False)
        for worker in self.workers:
            await asyncio.to_thread(worker.wait_ready)
        received = self.received
        observer = asyncio.create_task(self._observe(received))
        producer = self._producer(messages)
        self.log(f"publishing {len(messages)} commands at {self.plan.rate}/s")
        flowing = time.monotonic()
        publishing = self.plan.count / self.plan.rate + ANSWER_TIMEOUT
        try:
            await asyncio.gather(self.faults(flowing),
                                 asyncio.to_thread(producer.wait, publishing))
            if producer.returncode != 0:
                raise RuntimeError(f"the producer exited with {producer.returncode}")
            answers, letters = await self._await_answers(messages)
        finally:  # also when a fault failed: no process outlives its run
            observer.cancel()
            if producer.poll() is None:
                producer.kill()
            for worker in self.workers:
                await asyncio.to_thread(worker.stop)
        records, stored = await self._command_records(), await self._stored()
        # Everything the check reads, to check it again offline (pickle.load, then check).
        observed = (records, answers, letters, stored, received)
        (self.workdir / "observed.pickle").write_bytes(pickle.dumps(observed))
        found = check(*observed)
        fenced = await self._fenced()
        report = {**found.counts(), **self.counts, "fenced_writes": fenced,
                  "zombie_unfenced": int(self.counts["zombie_pauses"] > 0 and not fenced),
                  "fenced_logged": self._fenced_logged(),
                  "seconds": round(time.monotonic() - started, 1)}
        return {**report, "examples": found.examples}

    def _producer(self, messages: list[Message]) -> subprocess.Popen[bytes]:
        path = self.workdir / "workload.jsonl"
        with path.open("w") as out:
            for m in messages:
                out.write(json.dumps({"topic": m.topic, "key": _b64(m.key),
                                      "value": _b64(m.value)}) + "\n")
        log = (self.workdir / "producer.log").open("ab")
        return subprocess.Popen(
            [sys.executable, "-m", "tests.chaos.producer", str(path),
             self.settings.kafka_bootstrap_servers, self.settings.topic_prefix,
             str(self.plan.rate)], stdout=log, stderr=subprocess.STDOUT)

    async def _observe(self, received: dict[tuple[Any, Any], float]) -> None:
        """Note when each answer is first received, as any caller would see it (through
        broker restarts: aiokafka reconnects by itself)."""
        consumer = AIOKafkaConsumer(
            f"{self.settings.topic_prefix}.results.v1",
            bootstrap_servers=self.settings.kafka_bootstrap_servers, group_id=None,
            auto_offset_reset="earliest", enable_auto_commit=False)
        await asyncio.wait_for(consumer.start(), NETWORK_TIMEOUT)
        try:
            while True:
                try:
                    batches = await consumer.getmany(timeout_ms=200)
                except KafkaError as exc:  # the broker restarting: read on once it is back
                    self.log(f"observer: {exc!r}; reading on")
                    await asyncio.sleep(0.5)
                    continue
                now = time.time()
                for r in (r for records in batches.values() for r in records):
                    with contextlib.suppress(ValueError, AttributeError):
                        event = json.loads(r.value)
                        key = (event.get("orgId"), event.get("commandId"))
                        received.setdefault(key, now)
                        if key in self.awaited:
                            self.awaited[key].set()
        finally:
            await asyncio.wait_for(consumer.stop(), NETWORK_TIMEOUT)

    async def _read_all(self, topics: list[str]) -> list[tuple[str, Any]]:
        """Every record of the topics (those that exist), from the beginning to their end."""
        consumer = AIOKafkaConsumer(
            *topics, bootstrap_servers=self.settings.kafka_bootstrap_servers, group_id=None,
            auto_offset_reset="earliest", enable_auto_commit=False,
            request_timeout_ms=int(NETWORK_TIMEOUT * 1000))
        await asyncio.wait_for(consumer.start(), NETWORK_TIMEOUT)
        try:
            out: list[tuple[str, Any]] = []
            deadline = time.monotonic() + NETWORK_TIMEOUT
            while not consumer.assignment() and time.monotonic() < deadline:
                await consumer.getmany(timeout_ms=200)  # until the metadata assigns them
            partitions = list(consumer.assignment())
            ends = await asyncio.wait_for(consumer.end_offsets(partitions), NETWORK_TIMEOUT)
            while [p for p in partitions if await consumer.position(p) < ends[p]]:
                batches = await asyncio.wait_for(consumer.getmany(timeout_ms=1000),
                                                 NETWORK_TIMEOUT)
                out += [(tp.topic, r) for tp, records in batches.items() for r in records]
            return out
        finally:
            await consumer.stop()

    async def _await_answers(self, messages: list[Message]) -> tuple[list[Answer], list[Doc]]:
        """Read results and dead letters until every message has its answer (bounded)."""
        expected_letters = sum(1 for m in messages if m.kind == "unreadable")
        readable = {m.value for m in messages if m.kind != "unreadable"}
        deadline = time.monotonic() + ANSWER_TIMEOUT
        prefix = self.settings.topic_prefix
        while True:
            read = await self._read_all([f"{prefix}.results.v1", f"{prefix}.dead-letter.v1"])
            answers = [Answer(r.partition, r.offset, json.loads(r.value), r.timestamp)
                       for topic, r in read if topic.endswith(".results.v1")]
            letters = [json.loads(r.value) for topic, r in read if "dead-letter" in topic]
            ids = {(a.event.get("orgId"), a.event.get("commandId")) for a in answers}
            missing = len(readable) - min(len(readable), len(ids))
            self.log(f"{len(ids)} commands answered ({missing} to go), "
                     f"{len(letters)}/{expected_letters} dead letters")
            if missing == 0 and len(letters) >= expected_letters:
                return answers, letters
            if time.monotonic() > deadline:
                self.log("gave up waiting for the last answers: the check counts them lost")
                return answers, letters
            await asyncio.sleep(3)  # the workers catch up; the deadline bounds the wait

    async def _command_records(self) -> list[Record]:
        prefix = self.settings.topic_prefix
        read = await self._read_all([f"{prefix}.{t}.v1" for t in TOPICS])
        return [Record(topic.split(".")[1], r.partition, r.offset, r.key, r.value,
                       r.timestamp) for topic, r in read]

    async def _stored(self) -> Stored:
        client: AsyncMongoClient[Doc] = AsyncMongoClient(self.settings.mongo_url,
                                                         timeoutMS=60_000)
        try:
            db = client[self.settings.mongo_database]
            claims = {d["_id"]: stored_form(d) async for d in db["badge_claims"].find()}
            groups = {str(d["_id"]): stored_form(d) async for d in db["badge_groups"].find()}
            names = {(d["orgId"], d["name"]): str(d["groupId"])
                     async for d in db["group_names"].find()}
            log = [d async for d in db["commands"].find({}, {"_id": 1, "loggedAt": 1})]
        finally:
            await client.close()
        return Stored(claims, groups, names, [d["_id"] for d in log],
                      {d["_id"]: d["loggedAt"] for d in log if "loggedAt" in d})

    async def _fenced(self) -> int:
        """Held claims the database shows other than the zombie would have written them."""
        if not self.zombie_writes:
            return 0
        client: AsyncMongoClient[Doc] = AsyncMongoClient(self.settings.mongo_url,
                                                         timeoutMS=60_000)
        try:
            stored = {d["_id"]: d.get("fence") async for d in
                      client[self.settings.mongo_database]["badge_claims"].find(
                          {"_id": {"$in": list(self.zombie_writes)}}, {"fence": 1})}
        finally:
            await client.close()
        return sum(1 for claim, held in self.zombie_writes.items()
                   if stored.get(claim) != held.get("fence"))

    def _fenced_logged(self) -> int:
        """What the workers logged as fenced (they also count refused same-position
        writes, which leave the database as the zombie would have)."""
        text = "".join(w.log_path.read_text(errors="replace") for w in self.workers
                       if w.log_path.exists())
        return sum(int(n) for n in re.findall(r"fenced (\d+) stale writes", text))


def _claim_command(kind: str, org: int, badge: str, owner: str, reference: str) -> Doc:
    return {"commandId": str(uuid.uuid4()), "type": kind, "orgId": org, "actorId": 1,
            "issuedAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "payload": {"badgeId": badge, "ownerType": owner, "referenceId": reference}}


async def _stop(container: Any) -> None:
    """Stop a container; if podman cannot within its timeout (seen on a machine at load 80:
    "given PIDs did not die within timeout"), kill it, as a crash would."""
    try:
        await asyncio.to_thread(container.stop, timeout=10)
    except Exception as exc:
        print(f"[chaos] stopping {container.name} failed ({exc}); killing it", flush=True)
        with contextlib.suppress(Exception):  # already stopped after all: start() will tell
            await asyncio.to_thread(container.kill)
    # podman may still be stopping it (a full run's start() met "must be in Created or
    # Stopped state"): wait until it is down, bounded.
    deadline = time.monotonic() + NETWORK_TIMEOUT
    while time.monotonic() < deadline:
        await asyncio.to_thread(container.reload)
        if container.status in ("exited", "stopped", "created"):
            return
        await asyncio.sleep(0.5)  # polling podman; the deadline bounds it


def _claims_update(data: bytes) -> bool:
    """An OP_MSG whose command is an update of badge_claims."""
    return b"\x02update\x00" in data and b"badge_claims\x00" in data


def _b64(data: bytes | None) -> str | None:
    return None if data is None else base64.b64encode(data).decode()


async def run(plan: Plan, settings: Settings, servers: Servers, workdir: Path) -> Doc:
    await asyncio.to_thread(workdir.mkdir, parents=True, exist_ok=True)
    messages = commands(plan.count, plan.seed, start_ms=int(time.time() * 1000),
                        names=plan.names)
    kinds = {k: sum(1 for m in messages if m.kind == k) for k in ("valid", "invalid",
                                                                  "unreadable")}
    chaos = _Run(plan, settings, servers, workdir)
    chaos.log(f"{plan.count} messages: {kinds}; workers log to {workdir}")
    assert all(verdict(m.value, m.topic) == m.kind for m in messages[:50])
    return await chaos.go(messages)
