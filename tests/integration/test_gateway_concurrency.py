"""Two gateways and one worker: 500 concurrent requests, every caller gets its own answer.

Claims, unclaims (of claims made beforehand with the SDK) and group creates, each on a key
of its own, from two users of two orgs, sent all at once and split over both gateways. Each
answer must be 200 with the data of the request that was sent (badge, owner, reference,
group name and rank, the caller's org and user): a reply handed to the wrong caller, lost
between the two gateways' readers, or a 5xx fails the test.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from bson import ObjectId

from badges_schemas import OwnerType
from badges_sdk.client import BadgesClient
from service.settings import Settings
from tests.infra.gateway import PREFIX, GatewayProcess, GatewayUsers
from tests.infra.gateways import running_gateways
from tests.infra.worker import WorkerProcess

pytestmark = pytest.mark.integration

REQUESTS = 500

@dataclass(frozen=True)
class Caller:
    name: str
    org_id: int
    user_id: int


USERS = [Caller("loyalty", 50156, 123), Caller("milestones", 777, 9)]
OWNERS = [str(owner) for owner in OwnerType]
ANSWER_TIMEOUT = 60  # all 500 together; the gateway's own bound is 10 s per request


@dataclass(frozen=True)
class Request:
    path: str
    body: dict[str, Any]
    user: Caller
    expected: dict[str, Any]  # the members of `data` the answer must carry


def claim(n: int, user: Caller) -> Request:
    badge, owner, reference = str(ObjectId()), OWNERS[n % len(OWNERS)], f"ref-{n}"
    return Request(f"/badgeMeta/{badge}/claim", {"ownerType": owner, "referenceId": reference},
                   user, {"badgeMetaId": badge, "ownerType": owner, "referenceId": reference})


def unclaim(n: int, user: Caller, badge: str) -> Request:
    owner, reference = OWNERS[n % len(OWNERS)], f"ref-{n}"
    return Request(f"/badgeMeta/{badge}/unclaim", {"ownerType": owner, "referenceId": reference},
                   user, {"ownerType": owner, "referenceId": reference, "isActive": False})


def create(n: int, user: Caller) -> Request:
    name = f"GROUP_{uuid.uuid4().hex[:8]}_{n}"
    return Request("/group", {"name": name, "rank": n}, user,
                   {"name": name, "rank": n, "orgId": user.org_id, "createdBy": user.user_id,
                    "isActive": True})


async def claimed_beforehand(settings: Settings, numbers: list[int]) -> dict[int, str]:
    """Claims made straight through Kafka with the SDK, for the burst's unclaims."""
    badges = {n: str(ObjectId()) for n in numbers}
    async with BadgesClient(settings) as client:
        ids = [await client.claim(USERS[n % 2].org_id, USERS[n % 2].user_id, badges[n],
                                  OWNERS[n % len(OWNERS)], f"ref-{n}") for n in numbers]
        for command_id in ids:
            assert (await client.result(command_id, timeout=ANSWER_TIMEOUT)).errors == []
    return badges


async def requests_of_the_burst(settings: Settings) -> list[Request]:
    kinds = [n % 3 for n in range(REQUESTS)]
    badges = await claimed_beforehand(settings, [n for n in range(REQUESTS) if kinds[n] == 1])
    made = {0: lambda n: claim(n, USERS[n % 2]),
            1: lambda n: unclaim(n, USERS[n % 2], badges[n]),
            2: lambda n: create(n, USERS[n % 2])}
    return [made[kinds[n]](n) for n in range(REQUESTS)]


async def send(session: aiohttp.ClientSession, base: str, users: GatewayUsers,
               request: Request) -> tuple[int, dict[str, Any]]:
    async with session.post(f"{base}{PREFIX}{request.path}", json=request.body,
                            headers={"Authorization": users.basic(request.user.name)}) as answer:
        return answer.status, await answer.json(content_type=None)


@pytest.fixture
def users(tmp_path: Path) -> GatewayUsers:
    users = GatewayUsers(tmp_path / "gateway-users.json")
    for caller in USERS:
        users.add(caller.name, caller.org_id, caller.user_id)
    return users


@pytest.fixture
def gateways(settings: Settings, worker: WorkerProcess, users: GatewayUsers, tmp_path: Path
             ) -> Iterator[list[GatewayProcess]]:
    with running_gateways(settings, users, tmp_path, count=2) as started:
        yield started


async def test_500_concurrent_requests_over_two_gateways_each_get_their_own_answer(
        settings: Settings, users: GatewayUsers, gateways: list[GatewayProcess]) -> None:
    burst = await requests_of_the_burst(settings)
    connector = aiohttp.TCPConnector(limit=0)  # all 500 in flight at once
    timeout = aiohttp.ClientTimeout(total=ANSWER_TIMEOUT)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        answers = await asyncio.gather(*(
            send(session, gateways[n % 2].url, users, request)
            for n, request in enumerate(burst)))
    wrong = []
    for request, (status, envelope) in zip(burst, answers, strict=True):
        data = envelope.get("data") or {}
        mine = {key: data.get(key) for key in request.expected}
        if status != 200 or mine != request.expected or envelope.get("errors"):
            wrong.append(f"{request.path} {request.body}: {status} {envelope}")
    assert not wrong, f"{len(wrong)} of {REQUESTS} answers wrong, e.g.:\n" + "\n".join(wrong[:5])
