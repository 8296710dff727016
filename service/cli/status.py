"""An operator's view of the workers from outside (the CLI's `badges status`): their consumer
group (state, members and what each holds), each command topic's per-partition committed
offset, end offset and lag, and whether a worker's /readyz says ready.

Read-only: the admin client and a consumer without a group, so that looking never joins the
group (which would start a rebalance). Every network wait is bounded by
BADGES_NETWORK_TIMEOUT_SECONDS.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import asdict, dataclass
from typing import Any

import aiohttp
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.coordinator.protocol import ConsumerProtocolMemberAssignment
from aiokafka.errors import for_code

from badges_schemas import Topics
from badges_sdk.kafka import admin_client, connection_options
from service.settings import Settings

READY, NOT_READY, UNREACHABLE = "ready", "not ready", "unreachable"


@dataclass(frozen=True)
class Member:
    member_id: str
    client_id: str
    host: str
    partitions: dict[str, list[int]]  # topic: the partitions it holds


@dataclass(frozen=True)
class PartitionLag:
    topic: str
    partition: int
    committed: int | None  # None: the group never committed there
    end: int
    # End offset minus the committed one; with none committed, minus the first offset the
    # topic still holds (where the worker starts: it reads from the earliest).
    lag: int


@dataclass(frozen=True)
class Readiness:
    url: str
    status: str  # READY, NOT_READY or UNREACHABLE
    detail: Any = None  # /readyz's body when not ready, the error when unreachable


@dataclass(frozen=True)
class Status:
    group: str
    state: str  # Kafka's: Stable, PreparingRebalance, CompletingRebalance, Empty, Dead
    members: list[Member]
    partitions: list[PartitionLag]
    missing_topics: list[str]  # command topics Kafka does not have (no worker ever started)
    worker: Readiness | None = None

    @property
    def total_lag(self) -> int:
        return sum(p.lag for p in self.partitions)

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "total_lag": self.total_lag}


async def status(settings: Settings, worker_url: str | None) -> Status:
    """The group's status, and the worker's readiness when `worker_url` is given.

    Kafka errors and timeouts propagate (the CLI turns them into its exit code 4)."""
    ready = readiness(worker_url, settings.network_timeout_seconds) if worker_url else None
    group, worker = await asyncio.gather(_group(settings), _optional(ready))
    return Status(**group, worker=worker)


async def _optional(check: Any) -> Readiness | None:
    return None if check is None else await check


async def _group(settings: Settings) -> dict[str, Any]:
    timeout, group_id = settings.network_timeout_seconds, settings.app_id
    wanted = sorted(set(Topics(settings.topic_prefix).commands.values()))
    async with admin_client(settings) as admin:
        state, members = await asyncio.wait_for(_describe(admin, group_id), timeout)
        committed = await asyncio.wait_for(admin.list_consumer_group_offsets(group_id), timeout)
        # All topics' metadata: naming topics would let a broker auto-create missing ones.
        known = await asyncio.wait_for(admin.describe_topics(), timeout)
    numbers = {t["topic"]: sorted(p["partition"] for p in t["partitions"])
               for t in known if t["topic"] in wanted and t["error_code"] == 0}
    tps = [TopicPartition(topic, n) for topic in wanted for n in numbers.get(topic, [])]
    first, end = await _offsets(settings, tps)
    partitions = []
    for tp in tps:
        done = committed.get(tp)
        done_offset = done.offset if done is not None and done.offset >= 0 else None
        lag = end[tp] - (first[tp] if done_offset is None else done_offset)
        partitions.append(PartitionLag(tp.topic, tp.partition, done_offset, end[tp], max(0, lag)))
    return {"group": group_id, "state": state, "members": members, "partitions": partitions,
            "missing_topics": [t for t in wanted if t not in numbers]}


async def _describe(admin: AIOKafkaAdminClient, group_id: str) -> tuple[str, list[Member]]:
    (response,) = await admin.describe_consumer_groups([group_id])
    # DescribeGroupsResponse v0-v3: (error_code, group, state, protocol_type, protocol,
    # members[, authorized_operations]); a group Kafka does not know is "Dead", no error.
    error_code, _, state, protocol_type, _, members = response.groups[0][:6]
    if error_code:
        raise for_code(error_code)(f"describing consumer group {group_id}")
    return state, [_member(m, protocol_type) for m in members]


def _member(described: tuple[Any, ...], protocol_type: str) -> Member:
    member_id, client_id, host, _, assignment = described[:5]
    held: dict[str, list[int]] = {}
    # Faust's assignor sends the standard consumer assignment (its own data in user_data).
    if protocol_type == "consumer" and assignment:
        for topic, numbers in ConsumerProtocolMemberAssignment.decode(assignment).assignment:
            held[topic] = sorted(numbers)
    return Member(member_id, client_id, host, dict(sorted(held.items())))


async def _offsets(settings: Settings, tps: list[TopicPartition]
                   ) -> tuple[dict[TopicPartition, int], dict[TopicPartition, int]]:
    """The first and end offsets of partitions that exist (aiokafka would wait forever on
    one that does not)."""
    if not tps:
        return {}, {}
    timeout = settings.network_timeout_seconds
    consumer = AIOKafkaConsumer(**connection_options(settings), enable_auto_commit=False)
    try:
        await asyncio.wait_for(consumer.start(), timeout)
        first = await asyncio.wait_for(consumer.beginning_offsets(tps), timeout)
        end = await asyncio.wait_for(consumer.end_offsets(tps), timeout)
    finally:
        await asyncio.wait_for(consumer.stop(), timeout)
    return first, end


async def readiness(url: str, timeout: float) -> Readiness:
    """What the worker's /readyz says; unreachable (with why) rather than an error."""
    probe = f"{url.rstrip('/')}/readyz"
    try:
        bounded = aiohttp.ClientTimeout(total=timeout)
        async with aiohttp.ClientSession(timeout=bounded) as session, session.get(probe) as r:
            body = await r.text()
            if r.status == 200:
                return Readiness(url, READY)
            return Readiness(url, NOT_READY, _json_or_text(body, r.status))
    except (aiohttp.ClientError, TimeoutError, OSError) as exc:
        return Readiness(url, UNREACHABLE, " ".join((str(exc) or type(exc).__name__).split()))


def _json_or_text(body: str, code: int) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return {"http_status": code, "body": body[:500]}
