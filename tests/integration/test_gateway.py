"""The REST gateway end to end: real Kafka, FerretDB, worker and gateway processes.

One worker and one gateway serve the whole module (each test uses badges and names of its
own), so the module costs one start-up; the timeout and start-up tests run their own.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from bson import ObjectId
from pymongo import MongoClient

from service.gateway import tokens
from service.gateway.idempotency import command_id_for
from service.gateway.users import Access, ResourceGroup, load
from service.settings import Settings
from tests.infra.containers import Servers, free_port
from tests.infra.forward import forwarding
from tests.infra.gateway import PREFIX, GatewayProcess, GatewayUsers, Reply, call
from tests.infra.records import end_offsets, write_results
from tests.infra.worker import WorkerProcess, settings_environment

pytestmark = pytest.mark.integration

SEED_BADGE = "69381220cebb9648d8974518"
# The update page's example response: exactly these members in `data`.
UPDATE_EXAMPLE_FIELDS = {"id", "orgId", "name", "rank", "createdBy", "createdOn",
                         "lastUpdatedBy", "lastUpdatedOn", "isActive"}
ALICE_ORG, ALICE_USER = 50156, 123  # the API pages' org and user
BOB_ORG, BOB_USER = 777, 9
CAROL_ORG = 31337  # an org of its own: its listing holds only what its test made


def badge() -> str:
    return uuid.uuid4().hex[:24]


def name() -> str:
    return f"G_{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="module")
def gw_settings(stack: Servers) -> Settings:
    unique = uuid.uuid4().hex[:12]
    return Settings(kafka_bootstrap_servers=stack.kafka_bootstrap, mongo_url=stack.mongo_url,
                    mongo_database=f"test_{unique}", topic_prefix=f"t{unique}",
                    topic_partitions=3, kafka_session_timeout_seconds=6,
                    retry_max_backoff_seconds=2, stop_timeout_seconds=5)


@pytest.fixture(scope="module")
def users(tmp_path_factory: pytest.TempPathFactory) -> GatewayUsers:
    path = tmp_path_factory.mktemp("gateway") / "users.json"
    return (GatewayUsers(path).add("alice", ALICE_ORG, ALICE_USER)
            .add("bob", BOB_ORG, BOB_USER).add("alice2", ALICE_ORG, 124)
            .add("carol", CAROL_ORG, 1)
            .add("viewer", ALICE_ORG, 125, access={ResourceGroup.TARGET_GROUPS: Access.VIEW})
            .add("outsider", ALICE_ORG, 126, access={ResourceGroup.TRANSACTION: Access.MODIFY})
            .add_client("loyalty-app", ALICE_ORG, 127,
                        {ResourceGroup.TARGET_GROUPS: Access.MODIFY})
            .add_client("bob-client", BOB_ORG, 128, {ResourceGroup.TARGET_GROUPS: Access.MODIFY}))


@pytest.fixture(scope="module")
def gateway(gw_settings: Settings, users: GatewayUsers,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    logs = tmp_path_factory.mktemp("gateway-logs")
    insert_legacy_group(gw_settings)
    worker = WorkerProcess(gw_settings, logs / "worker.log").start()
    gateway = GatewayProcess(gw_settings, users.path, logs / "gateway.log")
    try:
        yield gateway.start()
    finally:
        gateway.stop()
        worker.stop()


# A group of carol's org written by a release before group_index: the worker indexes it as
# it starts, so the gateway lists it. Its id's second (2024) sorts before any made here.
LEGACY_GROUP = ObjectId("65a0000000000000000000aa")


def insert_legacy_group(settings: Settings) -> None:
    client: MongoClient[dict[str, Any]]
    with MongoClient(settings.mongo_url, timeoutMS=30_000) as client:
        client[settings.mongo_database]["badge_groups"].insert_one({
            "_id": LEGACY_GROUP, "orgId": CAROL_ORG, "name": "Legacy", "rank": 1,
            "createdBy": 1, "createdOn": 1.5, "lastUpdatedBy": 1, "lastUpdatedOn": 1.5,
            "isActive": True})


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


class Api:
    """Requests to one gateway as one user."""

    def __init__(self, http: aiohttp.ClientSession, gateway: GatewayProcess,
                 users: GatewayUsers, user: str) -> None:
        self.http, self.base, self.auth = http, gateway.url + PREFIX, users.basic(user)

    async def post(self, path: str, body: Any = None, raw: bytes | None = None,
                   key: str | None = None) -> Reply:
        headers = {"Idempotency-Key": key} if key is not None else None
        return await call(self.http, "POST", self.base + path, self.auth, body, raw, headers)

    async def get(self, path: str) -> Reply:
        return await call(self.http, "GET", self.base + path, self.auth)

    async def send(self, method: str, path: str, body: Any = None) -> Reply:
        return await call(self.http, method, self.base + path, self.auth, body)

    async def create(self, group_name: str, rank: int = 1) -> str:
        reply = await self.post("/group", {"name": group_name, "rank": rank})
        assert reply.status == 200, reply.text
        return str(reply.body["data"]["id"])


@pytest.fixture
def alice(http: aiohttp.ClientSession, gateway: GatewayProcess, users: GatewayUsers) -> Api:
    return Api(http, gateway, users, "alice")


@pytest.fixture
def bob(http: aiohttp.ClientSession, gateway: GatewayProcess, users: GatewayUsers) -> Api:
    return Api(http, gateway, users, "bob")


def curl(url: str, authorization: str, body: str) -> dict[str, Any]:
    """The seed's request, verbatim but for the host and the credentials."""
    done = subprocess.run(
        ["curl", "--silent", "--show-error", "--max-time", "30", "--location", url,
         "--header", "Accept: application/json", "--header", "Content-Type: application/json",
         "--header", f"Authorization: {authorization}", "--data", body],
        capture_output=True, text=True, check=True, timeout=60)
    return dict(json.loads(done.stdout))


async def test_seed_requests_answer_as_the_api_pages(alice: Api, gateway: GatewayProcess,
                                                     users: GatewayUsers) -> None:
    claimed = await alice.post(f"/badgeMeta/{SEED_BADGE}/claim",
                               {"ownerType": "Loyalty", "referenceId": "123"})
    assert claimed.status == 200 and claimed.body == {
        "data": {"badgeMetaId": SEED_BADGE, "ownerType": "Loyalty", "referenceId": "123"},
        "errors": [], "warnings": []}
    unclaim = await asyncio.to_thread(
        curl, f"{gateway.url}{PREFIX}/badgeMeta/{SEED_BADGE}/unclaim", users.basic("alice"),
        '{"ownerType": "Loyalty", "referenceId": "123"}')
    assert unclaim == {"data": {"ownerType": "Loyalty", "referenceId": "123", "isActive": False},
                       "errors": None, "warnings": []}

    group_id = await alice.create(name(), rank=2)
    update = await asyncio.to_thread(
        curl, f"{gateway.url}{PREFIX}/group/{group_id}", users.basic("alice"),
        '{"name": "GROUP_RANK_58", "rank": 1}')
    assert set(update) == {"data", "errors", "warnings"}
    assert update["errors"] == [] and update["warnings"] == []
    data = update["data"]
    assert set(data) == UPDATE_EXAMPLE_FIELDS
    assert {k: data[k] for k in ("id", "orgId", "name", "rank", "createdBy", "lastUpdatedBy",
                                 "isActive")} == {
        "id": group_id, "orgId": ALICE_ORG, "name": "GROUP_RANK_58", "rank": 1,
        "createdBy": ALICE_USER, "lastUpdatedBy": ALICE_USER, "isActive": True}
    assert isinstance(data["createdOn"], float) and data["lastUpdatedOn"] >= data["createdOn"]
    # GET: the same envelope and data as the update's answer.
    read = await alice.get(f"/group/{group_id}")
    assert read.status == 200 and read.body == update


async def test_every_reachable_code_with_its_status(alice: Api) -> None:
    claim = {"ownerType": "Loyalty", "referenceId": "r1"}
    taken, group_id = name(), ""
    group_id = await alice.create(taken)
    on_badge = badge()
    assert (await alice.post(f"/badgeMeta/{on_badge}/claim", claim)).status == 200
    cases: list[tuple[str, Any, int, str, list[int]]] = [
        (f"/badgeMeta/{badge()}/claim", {**claim, "ownerType": "loyalty"}, 400, "errors", [400]),
        (f"/badgeMeta/{badge()}/claim", {"ownerType": "Loyalty"}, 400, "errors", [717]),
        ("/badgeMeta/not-a-badge/claim", claim, 400, "errors", [9002]),
        (f"/badgeMeta/{badge()}/claim", {**claim, "referenceId": 5}, 400, "errors", [9005]),
        (f"/badgeMeta/{on_badge}/claim", claim, 200, "warnings", [9100]),
        (f"/badgeMeta/{badge()}/unclaim", claim, 400, "errors", [737]),
        (f"/badgeMeta/{badge()}/unclaim", {"referenceId": "r1"}, 400, "errors", [400]),
        ("/group", {"name": name()}, 400, "errors", [732]),
        ("/group", {"name": taken, "rank": 3}, 400, "errors", [733]),
        ("/group", {"name": name(), "rank": "high"}, 400, "errors", [9005]),
        ("/group", {"rank": 1}, 400, "errors", [9006]),
        ("/group/xyz", {"name": name(), "rank": 1}, 400, "errors", [9003]),
        (f"/group/{badge()}", {"name": name(), "rank": 1}, 400, "errors", [9004]),
        (f"/group/{group_id}", {"name": name()}, 400, "errors", [732]),
        (f"/group/{group_id}", {"rank": 2}, 400, "errors", [9006]),
        ("/group", [1, 2], 400, "errors", [9000]),
    ]
    replies = await asyncio.gather(*(alice.post(path, body) for path, body, *_ in cases),
                                   alice.post("/group", raw=b"{not json"))
    for (path, body, status, member, codes), reply in zip(cases, replies, strict=False):
        assert (reply.status, reply.codes(member)) == (status, codes), (path, body, reply.text)
        if status == 400:
            assert reply.body["data"] is None
    assert replies[-1].status == 400 and replies[-1].codes() == [9000]
    assert all(r.headers.get("Badges-Command-Id") for r in replies[:-2])
    other = await alice.create(name())
    assert (await alice.post(f"/group/{other}", {"name": taken, "rank": 1})).codes() == [733]


async def test_reads_of_a_group(alice: Api) -> None:
    missing = await alice.get(f"/group/{badge()}")
    assert missing.status == 404 and missing.codes() == [9004] and missing.body["data"] is None
    bad = await alice.get("/group/nope")
    assert bad.status == 400 and bad.codes() == [9003]


async def listing(api: Api, query: str) -> tuple[list[list[str]], list[dict[str, Any]]]:
    """Every page of GET .../group?<query>, following `next`: the pages' ids, and the groups."""
    pages: list[list[str]] = []
    groups: list[dict[str, Any]] = []
    after = ""
    while True:
        reply = await api.get(f"/group?{query}{after}")
        assert reply.status == 200 and reply.body["errors"] == [], reply.text
        data = reply.body["data"]
        pages.append([g["id"] for g in data["groups"]])
        groups += data["groups"]
        if data["next"] is None:
            return pages, groups
        after = f"&after={data['next']}"


async def test_groups_are_listed_a_page_at_a_time(
        http: aiohttp.ClientSession, gateway: GatewayProcess, users: GatewayUsers,
        gw_settings: Settings, bob: Api) -> None:
    carol = Api(http, gateway, users, "carol")
    made = [str(LEGACY_GROUP), *sorted([await carol.create(name(), rank) for rank in range(4)])]
    # Soft-deleted by some other module: listed only on request.
    inactive = made[2]
    await asyncio.to_thread(set_active, gw_settings, inactive, False)

    pages, groups = await listing(carol, "limit=2")
    assert pages == [made[:2], [made[3], made[4]]]
    for group in groups:  # each as GET of one group shows it
        assert group == (await carol.get(f"/group/{group['id']}")).body["data"]
    assert (await listing(carol, "includeInactive=true&limit=3"))[0] == [made[:3], made[3:]]
    assert (await listing(carol, "includeInactive=false"))[0] == [made[:2] + made[3:]]
    # Another org's listing holds none of them; a View-only user may list.
    assert not set(made) & {g["id"] for g in (await listing(bob, "limit=200"))[1]}
    viewer = Api(http, gateway, users, "viewer")
    assert (await viewer.get("/group")).status == 200

    for query in ("limit=0", "limit=201", "limit=x", "limit=%C2%B2", "includeInactive=yes",
                  "after=nope", f"after={badge()}", "after=" + made[0].upper() + "0",
                  "page=2", "limit=1&limit=2"):
        refused = await carol.get(f"/group?{query}")
        assert (refused.status, refused.codes()) == (400, [9016]), (query, refused.text)
    foreign = await bob.get(f"/group?after={made[0]}")
    assert (foreign.status, foreign.codes()) == (400, [9016])


def set_active(settings: Settings, group_id: str, active: bool) -> None:
    client: MongoClient[dict[str, Any]]
    with MongoClient(settings.mongo_url, timeoutMS=30_000) as client:
        client[settings.mongo_database]["badge_groups"].update_one(
            {"_id": ObjectId(group_id)}, {"$set": {"isActive": active}})


def groups_of(settings: Settings, org_id: int) -> int:
    client: MongoClient[dict[str, Any]]
    with MongoClient(settings.mongo_url, timeoutMS=30_000) as client:
        return client[settings.mongo_database]["badge_groups"].count_documents(
            {"orgId": org_id})


async def test_every_spelling_of_the_update_updates_that_group(
        alice: Api, gw_settings: Settings) -> None:
    group_id = await alice.create(name())
    before = await asyncio.to_thread(groups_of, gw_settings, ALICE_ORG)
    forms = [("POST", f"/group/{group_id}"), ("PUT", f"/group/{group_id}"),
             ("POST", f"/group?groupId={group_id}"), ("PUT", f"/group?groupId={group_id}"),
             ("POST", f"/{group_id}"), ("PUT", f"/{group_id}"),
             ("PUT", f"/?groupId={group_id}"), ("POST", f"?groupId={group_id}"),
             ("POST", f"/group/{group_id}?groupId={group_id}")]
    for rank, (method, path) in enumerate(forms, start=10):
        renamed = name()
        reply = await alice.send(method, path, {"name": renamed, "rank": rank})
        assert reply.status == 200, (method, path, reply.text)
        assert reply.body["errors"] == [] and set(reply.body["data"]) == UPDATE_EXAMPLE_FIELDS
        assert (reply.body["data"]["id"], reply.body["data"]["name"]) == (group_id, renamed)
        read = await alice.get(f"/group/{group_id}")
        assert (read.body["data"]["name"], read.body["data"]["rank"]) == (renamed, rank)
    # Each form answers as the documented one, codes too; and none of them created a group.
    missing = await alice.send("PUT", f"/group?groupId={badge()}", {"name": name(), "rank": 1})
    assert (missing.status, missing.codes()) == (400, [9004])
    assert await asyncio.to_thread(groups_of, gw_settings, ALICE_ORG) == before


async def test_refused_spellings_and_paths_answer_the_envelope_and_publish_nothing(
        alice: Api, gw_settings: Settings) -> None:
    group_id = await alice.create(name())
    before = await end_offsets(gw_settings)
    body = {"name": name(), "rank": 1}
    cases = [
        ("POST", f"/group?groupid={group_id}", 400, [9016]),  # never a create
        ("POST", f"/group?groupId={group_id}&rank=2", 400, [9016]),
        ("POST", f"/group?groupId={group_id}&groupId={group_id}", 400, [9016]),
        ("POST", f"/group/{group_id}?groupId={badge()}", 400, [9003]),
        ("PUT", "/group", 400, [9003]),
        ("PUT", "/", 400, [9003]),
        ("POST", f"/badgeMeta/{badge()}/claim?ownerType=Loyalty", 400, [9016]),
        ("GET", f"/group/{group_id}?includeInactive=true", 400, [9016]),
        ("POST", f"/Group/{group_id}", 404, [9014]),
        ("POST", "/groups", 404, [9014]),
        ("DELETE", f"/group/{group_id}", 405, [9015]),
        ("GET", f"/badgeMeta/{badge()}/claim", 405, [9015]),
    ]
    for method, path, status, codes in cases:
        reply = await alice.send(method, path, body)
        assert (reply.status, reply.codes()) == (status, codes), (method, path, reply.text)
        assert reply.body["data"] is None and reply.body["warnings"] == []
        assert reply.headers["Content-Type"] == "application/json"
        assert "Badges-Command-Id" not in reply.headers
    assert (await alice.send("DELETE", f"/group/{group_id}")).headers["Allow"] == "GET, POST, PUT"
    assert await end_offsets(gw_settings) == before


async def token_of(http: aiohttp.ClientSession, gateway: GatewayProcess, users: GatewayUsers,
                   key: str, secret: str | None = None) -> Reply:
    return await call(http, "POST", f"{gateway.url}/v3/oauth/token/generate", None,
                      {"key": key, "secret": users.passwords[key] if secret is None else secret})


async def test_an_oauth_token_claims_and_unclaims_in_each_header_the_platform_names(
        http: aiohttp.ClientSession, gateway: GatewayProcess, users: GatewayUsers) -> None:
    generated = await token_of(http, gateway, users, "loyalty-app")
    assert generated.status == 200 and generated.body["errors"] is None, generated.text
    assert set(generated.body) == {"data", "errors", "warnings"}
    token, ttl = generated.body["data"]["accessToken"], generated.body["data"]["ttlSeconds"]
    assert ttl == 300
    on_badge = badge()
    claim = {"ownerType": "Loyalty", "referenceId": "oauth"}
    base = gateway.url + PREFIX + f"/badgeMeta/{on_badge}"
    claimed = await call(http, "POST", f"{base}/claim", None, claim,
                         headers={"CAP-API-ACCESS-TOKEN": token})
    assert claimed.status == 200 and claimed.body["errors"] == [], claimed.text
    unclaimed = await call(http, "POST", f"{base}/unclaim", None, claim,
                           headers={"X-CAP-API-OAUTH-TOKEN": token})
    assert unclaimed.status == 200 and unclaimed.body["data"]["isActive"] is False
    again = await call(http, "POST", f"{base}/claim", f"Bearer {token}", claim)
    assert again.status == 200 and again.codes("warnings") == []
    # The client's user id is the one its writes carry.
    created = await call(http, "POST", f"{gateway.url}{PREFIX}/group", f"Bearer {token}",
                         {"name": name(), "rank": 1})
    assert (created.body["data"]["orgId"], created.body["data"]["createdBy"]) == (ALICE_ORG, 127)


async def test_bad_tokens_and_client_secrets_get_401_in_the_envelope(
        http: aiohttp.ClientSession, gateway: GatewayProcess, users: GatewayUsers,
        gw_settings: Settings) -> None:
    for key, secret in (("loyalty-app", "wrong"), ("nobody", "x")):
        refused = await token_of(http, gateway, users, key, secret)
        assert refused.status == 401 and refused.codes() == [9010], refused.text
    malformed = await call(http, "POST", f"{gateway.url}/v3/oauth/token/generate", None,
                           {"key": "loyalty-app"})
    assert malformed.status == 400 and malformed.codes() == [9005]
    signing_key = load(users.path).tokenKey
    assert signing_key is not None
    now = int(time.time())
    bad = {"expired": tokens.issue(signing_key, ALICE_ORG, "loyalty-app", now - 900, 300),
           "forged": tokens.issue(os.urandom(32).hex(), ALICE_ORG, "loyalty-app", now, 300),
           "wrong org": tokens.issue(signing_key, BOB_ORG, "loyalty-app", now, 300),
           "garbage": "abc.def.ghi"}
    before = await end_offsets(gw_settings)
    for what, token in bad.items():
        reply = await call(http, "POST", f"{gateway.url}{PREFIX}/group", None,
                           {"name": name(), "rank": 1}, headers={"CAP-API-ACCESS-TOKEN": token})
        assert reply.status == 401 and reply.codes() == [9010], (what, reply.text)
        assert "Bearer" in reply.headers["WWW-Authenticate"]
    assert await end_offsets(gw_settings) == before


async def test_access_rights_decide_writes_and_reads_with_403_in_the_envelope(
        http: aiohttp.ClientSession, gateway: GatewayProcess, users: GatewayUsers,
        alice: Api, gw_settings: Settings) -> None:
    group_id = await alice.create(name())
    viewer = Api(http, gateway, users, "viewer")
    outsider = Api(http, gateway, users, "outsider")
    before = await end_offsets(gw_settings)
    for api in (viewer, outsider):
        write = await api.post(f"/group/{group_id}", {"name": name(), "rank": 2})
        assert write.status == 403 and write.codes() == [9019], write.text
        assert write.body["data"] is None
        claim = await api.post(f"/badgeMeta/{badge()}/claim",
                               {"ownerType": "Loyalty", "referenceId": "r"})
        assert claim.status == 403 and claim.codes() == [9019]
    assert await end_offsets(gw_settings) == before
    read = await viewer.get(f"/group/{group_id}")
    assert read.status == 200 and read.body["data"]["id"] == group_id
    assert (await outsider.get(f"/group/{group_id}")).codes() == [9019]
    # A client of another org with every right reads nothing of this org's.
    token = (await token_of(http, gateway, users, "bob-client")).body["data"]["accessToken"]
    theirs = await call(http, "GET", f"{gateway.url}{PREFIX}/group/{group_id}",
                        f"Bearer {token}")
    assert theirs.status == 404 and theirs.codes() == [9004]


async def test_bad_credentials_get_401_and_publish_nothing(
        http: aiohttp.ClientSession, gateway: GatewayProcess, users: GatewayUsers,
        gw_settings: Settings) -> None:
    before = await end_offsets(gw_settings)
    wrong = "Basic " + base64.b64encode(b"alice:wrong").decode()
    unknown = "Basic " + base64.b64encode(b"mallory:x").decode()
    url = f"{gateway.url}{PREFIX}/group"
    body = {"name": name(), "rank": 1}
    for authorization in (None, wrong, unknown, "Basic !!!", "Bearer abc",
                          users.basic("alice").replace("Basic", "Digest")):
        reply = await call(http, "POST", url, authorization, body)
        assert reply.status == 401, (authorization, reply.text)
        assert reply.headers["WWW-Authenticate"].startswith("Basic")
        assert reply.body["data"] is None and reply.codes() == [9010]
    reply = await call(http, "GET", f"{url}/{badge()}", wrong)
    assert reply.status == 401
    # A body that is not a JSON object is refused before publishing too.
    assert (await call(http, "POST", url, users.basic("alice"), raw=b"[]")).codes() == [9000]
    assert await end_offsets(gw_settings) == before


async def test_a_caller_hanging_up_mid_body_is_no_server_error(
        http: aiohttp.ClientSession, gateway: GatewayProcess, users: GatewayUsers,
        gw_settings: Settings) -> None:
    before = await end_offsets(gw_settings)
    port = int(gateway.url.rsplit(":", 1)[1])
    _, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 10)
    writer.write(f"POST {PREFIX}/group HTTP/1.1\r\nHost: x\r\n"
                 f"Authorization: {users.basic('alice')}\r\nContent-Type: application/json"
                 f"\r\nContent-Length: 100\r\n\r\n{{\"name\":".encode())
    await writer.drain()
    writer.close()  # 90 bytes short
    await writer.wait_closed()
    counted = f'route="{PREFIX}/group",status="499"}} 1.0'

    async def counted_in_metrics() -> None:
        while True:
            async with http.get(f"{gateway.url}/metrics") as response:
                if counted in await response.text():
                    return
            await asyncio.sleep(0.2)  # polling the endpoint; wait_for bounds the wait

    await asyncio.wait_for(counted_in_metrics(), 15)
    assert "Traceback" not in gateway.log() and "Exception in ASGI" not in gateway.log()
    assert await end_offsets(gw_settings) == before


async def test_a_user_added_while_running_can_call(
        http: aiohttp.ClientSession, gateway: GatewayProcess, users: GatewayUsers) -> None:
    url = f"{gateway.url}{PREFIX}/group/{badge()}"
    header = "Basic " + base64.b64encode(b"carol:carols-password").decode()
    assert (await call(http, "GET", url, header)).status == 401
    users.add("carol", BOB_ORG, 10, password="carols-password")  # the file is read again
    assert (await call(http, "GET", url, header)).status == 404


async def test_idempotency_key(alice: Api, users: GatewayUsers, http: aiohttp.ClientSession,
                               gateway: GatewayProcess, gw_settings: Settings) -> None:
    key, body = f"retry-{uuid.uuid4()}", {"name": name(), "rank": 4}
    first = await alice.post("/group", body, key=key)
    again = await alice.post("/group", body, key=key)
    assert first.status == again.status == 200
    assert first.text == again.text  # the same group, answered identically
    assert first.headers["Badges-Command-Id"] == again.headers["Badges-Command-Id"]
    before = await end_offsets(gw_settings)
    changed = await alice.post("/group", {**body, "rank": 5}, key=key)
    assert changed.status == 422 and changed.codes() == [9011]
    elsewhere = await alice.post(f"/badgeMeta/{badge()}/claim",
                                 {"ownerType": "Loyalty", "referenceId": "1"}, key=key)
    assert elsewhere.status == 422
    assert await end_offsets(gw_settings) == before
    # The key is the caller's: another user of the org with the same key is a new command.
    alice2 = Api(http, gateway, users, "alice2")
    assert (await alice2.post("/group", body, key=key)).codes() == [733]


async def test_orgs_cannot_reach_each_other(alice: Api, bob: Api) -> None:
    group_id = await alice.create(name())
    on_badge = badge()
    claim = {"ownerType": "Milestones", "referenceId": "m1"}
    assert (await alice.post(f"/badgeMeta/{on_badge}/claim", claim)).status == 200

    read = await bob.get(f"/group/{group_id}")
    assert read.status == 404 and read.codes() == [9004]
    update = await bob.post(f"/group/{group_id}", {"name": name(), "rank": 9})
    assert update.status == 400 and update.codes() == [9004]
    assert (await bob.post(f"/badgeMeta/{on_badge}/unclaim", claim)).codes() == [737]
    # A body's orgId is not the caller's: it is ignored.
    forged = await bob.post(f"/group/{group_id}", {"name": name(), "rank": 9,
                                                   "orgId": ALICE_ORG})
    assert forged.codes() == [9004]

    mine = await alice.get(f"/group/{group_id}")
    assert mine.status == 200 and mine.body["data"]["rank"] == 1
    still = await alice.post(f"/badgeMeta/{on_badge}/claim", claim)
    assert still.codes("warnings") == [9100]  # alice's claim is still active


async def test_health_and_metrics(http: aiohttp.ClientSession, gateway: GatewayProcess,
                                  alice: Api) -> None:
    assert (await alice.get(f"/group/{badge()}")).status == 404
    assert (await call(http, "GET", f"{gateway.url}/healthz")).body == {"status": "ok"}
    assert (await call(http, "GET", f"{gateway.url}/readyz")).body == {"status": "ready"}
    async with http.get(f"{gateway.url}/metrics") as response:
        text = await response.text()
    assert ('badges_gateway_requests_total{method="GET",'
            f'route="{PREFIX}/group/{{groupId}}",status="404"}}') in text
    assert "badges_gateway_request_duration_seconds_bucket" in text
    # GET, POST and PUT of /group/{groupId} are three routes; a 405 names them all.
    other = await call(http, "DELETE", f"{gateway.url}{PREFIX}/group/{badge()}")
    assert other.status == 405 and other.headers["Allow"] == "GET, POST, PUT"


async def test_timeout_gives_504_and_the_answer_comes_later(
        stack: Servers, settings: Settings, users: GatewayUsers, tmp_path: Path,
        http: aiohttp.ClientSession) -> None:
    gateway = GatewayProcess(settings, users.path, tmp_path / "gateway.log",
                             timeout_seconds=1).start()  # no worker reads this namespace yet
    try:
        api = Api(http, gateway, users, "alice")
        reply = await api.post("/group", {"name": "LATE", "rank": 1})
    finally:
        stopped = gateway.stop()
    assert stopped == 0  # SIGTERM: a graceful stop, exit 0
    assert reply.status == 504 and reply.codes() == [9012] and reply.body["data"] is None
    command_id = reply.body["commandId"]
    assert command_id in reply.body["errors"][0]["message"]
    assert "badges results" in reply.body["errors"][0]["message"]

    worker = WorkerProcess(settings, tmp_path / "worker.log").start()
    try:
        env = {**settings_environment(settings)}
        found = None
        for _ in range(60):  # bounded: the worker answers within seconds of starting
            done = await asyncio.to_thread(
                subprocess.run, [sys.executable, "-m", "service.cli.commands", "results"],
                env={**os.environ, **env}, capture_output=True, text=True,
                timeout=60)
            lines = [json.loads(line) for line in done.stdout.splitlines()]
            found = next((e for e in lines if e["commandId"] == command_id), None)
            if found is not None:
                break
            await asyncio.sleep(0.5)
    finally:
        worker.stop()
    assert found is not None and found["errors"] == [] and found["data"]["name"] == "LATE"


async def test_a_malformed_result_is_502_with_the_command_id_not_a_timeout(
        settings: Settings, users: GatewayUsers, tmp_path: Path,
        http: aiohttp.ClientSession) -> None:
    gateway = GatewayProcess(settings, users.path, tmp_path / "gateway.log",
                             timeout_seconds=60).start()  # no worker: only ours answers
    key = "malformed"
    command_id = command_id_for(ALICE_ORG, ALICE_USER, key)
    bogus = {"commandId": command_id, "orgId": ALICE_ORG, "type": "CreateBadgeGroup",
             "errors": "not a list"}
    try:
        request = asyncio.create_task(
            Api(http, gateway, users, "alice").post("/group", {"name": "M", "rank": 1}, key=key))
        await write_results(settings, [json.dumps(bogus).encode()])
        reply = await asyncio.wait_for(request, 30)  # well before the gateway's 60 s timeout
    finally:
        gateway.stop()
    assert reply.status == 502 and reply.codes() == [9018], reply.text
    assert reply.body["commandId"] == command_id == reply.headers["Badges-Command-Id"]
    assert command_id in reply.body["errors"][0]["message"]


async def test_gateway_waits_for_kafka(stack: Servers, settings: Settings, users: GatewayUsers,
                                       tmp_path: Path, http: aiohttp.ClientSession) -> None:
    port = free_port()  # Kafka appears there only once the forwarder runs
    late = settings.model_copy(update={"kafka_bootstrap_servers": f"127.0.0.1:{port}"})
    gateway = GatewayProcess(late, users.path, tmp_path / "gateway.log").start(wait_ready=False)
    try:
        status, body = await asyncio.to_thread(gateway.readiness)
        assert status == 503 and "kafka" in body["missing"]
        assert (await call(http, "GET", f"{gateway.url}/healthz")).status == 200
        reply = await Api(http, gateway, users, "alice").post("/group", {"name": "x", "rank": 1})
        assert reply.status == 503 and reply.codes() == [9013]
        async with forwarding(port, stack.kafka_bootstrap):
            for _ in range(150):  # retry backoff is at most 2 s here
                ready = await call(http, "GET", f"{gateway.url}/readyz")
                if ready.status == 200:
                    break
                await asyncio.sleep(0.2)
            assert ready.status == 200, (ready.text, gateway.tail())
    finally:
        gateway.stop()
    # Waited, and said so: the SDK's start tries again for up to the network timeout,
    # the gateway's own retry after that.
    log = gateway.log()
    assert "gateway connecting to Kafka failed" in log or "connecting failed" in log, log


WORKER_SERIES = ("badges_build_info", "badges_commands_total", "badges_batch_size",
                 "badges_batch_duration_seconds", "badges_command_latency_seconds",
                 "badges_fenced_writes_total", "badges_rereads_total", "badges_consumer_lag")


async def test_a_gateway_and_a_worker_each_export_their_own_metrics(
        gw_settings: Settings, users: GatewayUsers, tmp_path: Path,
        http: aiohttp.ClientSession) -> None:
    """Scraped one by one: the worker's series only on the worker, the gateway's only on
    the gateway (an alert on absent(badges_build_info) must see a dead worker)."""
    settings = gw_settings.model_copy(update={"http_port": 0})
    worker = WorkerProcess(settings, tmp_path / "worker.log").start()
    try:
        with GatewayProcess(settings, users.path, tmp_path / "gateway.log") as gateway:
            async with http.get(f"{worker.http_url()}/metrics") as response:
                of_worker = await response.text()
            async with http.get(f"{gateway.url}/metrics") as response:
                of_gateway = await response.text()
    finally:
        worker.stop()
    exported = {name for name in WORKER_SERIES if f"\n# TYPE {name} " in of_worker}
    assert exported >= set(WORKER_SERIES) - {"badges_consumer_lag"}, of_worker
    assert [name for name in WORKER_SERIES if name in of_gateway] == [], of_gateway
    assert "badges_gateway_requests_total" in of_gateway
    assert "badges_gateway_requests_total" not in of_worker
    assert "badges_retries_total" in of_gateway and "process_cpu_seconds_total" in of_gateway


async def test_metrics_on_a_port_of_their_own_are_not_on_the_public_one(
        gw_settings: Settings, users: GatewayUsers, tmp_path: Path,
        http: aiohttp.ClientSession) -> None:
    settings = gw_settings.model_copy(update={"gateway_metrics_port": 0})
    with GatewayProcess(settings, users.path, tmp_path / "gateway.log") as gateway:
        public = await call(http, "GET", f"{gateway.url}/metrics")
        assert (public.status, public.codes()) == (404, [9014]), public.text
        assert (await call(http, "GET", f"{gateway.url}/readyz")).status == 200
        async with http.get(gateway.metrics_url()) as response:
            scraped = await response.text()
    assert response.status == 200 and "badges_gateway_requests_total" in scraped, scraped
