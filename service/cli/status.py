"""An operator's view of the workers from outside (the CLI's `badges status`): their consumer
group (state, members and what each holds), each command topic's per-partition committed
offset, end offset and lag as the broker has them (service/broker_lag.py), and whether a
worker's /readyz says ready.

Read-only, as broker_lag.py: looking never joins the group. Every network wait is bounded
by BADGES_NETWORK_TIMEOUT_SECONDS.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import asdict, dataclass
from typing import Any

import aiohttp
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.coordinator.protocol import ConsumerProtocolMemberAssignment
from aiokafka.errors import for_code

from service.broker_lag import LagReader, PartitionLag
from service.settings import Settings

READY, NOT_READY, UNREACHABLE = "ready", "not ready", "unreachable"


@dataclass(frozen=True)
class Member:
    member_id: str
    client_id: str
    host: str
    partitions: dict[str, list[int]]  # topic: the partitions it holds


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
    async with LagReader(settings) as reader:
        assert reader.admin is not None
        state, members = await asyncio.wait_for(_describe(reader.admin, group_id), timeout)
        lag = await reader.read()
    return {"group": group_id, "state": state, "members": members,
            "partitions": lag.partitions, "missing_topics": lag.missing_topics}


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
