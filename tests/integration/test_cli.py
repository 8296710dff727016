"""The `badges` command-line tool, run as a subprocess against a real worker."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import signal
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from bson import ObjectId

from badges_schemas import CommandType, OwnerType
from badges_sdk.client import BadgesClient
from service.settings import Settings
from tests.infra.worker import WorkerProcess

pytestmark = pytest.mark.integration

BADGES = Path(sys.executable).with_name("badges")  # the console script of this virtualenv
CLI_TIMEOUT = 60
ORG = 50156
ACTOR = 123


@dataclass(frozen=True)
class Run:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)

    def error_codes(self) -> list[int]:
        return [e["code"] for e in self.json()["errors"]]


async def start(env: dict[str, str], *args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        str(BADGES), *args, env=env, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE, preexec_fn=_ctrl_c_stops)


def _ctrl_c_stops() -> None:
    """SIGINT as in a terminal. A test run started in the background by a shell without job
    control inherits it ignored, and Python keeps an ignored SIGINT ignored: `interrupt`
    would then wait for a CLI that never sees it."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


async def finish(process: asyncio.subprocess.Process) -> Run:
    try:
        out, err = await asyncio.wait_for(process.communicate(), CLI_TIMEOUT)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise
    assert process.returncode is not None
    return Run(process.returncode, out.decode(), err.decode())


async def badges(env: dict[str, str], *args: str) -> Run:
    return await finish(await start(env, *args))


async def next_line(process: asyncio.subprocess.Process) -> dict[str, Any]:
    assert process.stdout is not None
    line = await asyncio.wait_for(process.stdout.readline(), CLI_TIMEOUT)
    assert line, "the CLI closed its output"
    parsed: dict[str, Any] = json.loads(line)
    return parsed


async def interrupt(process: asyncio.subprocess.Process) -> Run:
    process.send_signal(signal.SIGINT)
    return await finish(process)


def claim_args(command: str, badge: str, owner: str = "Loyalty", *extra: str) -> list[str]:
    return [command, "--org-id", str(ORG), "--actor-id", str(ACTOR), "--badge-id", badge,
            "--owner-type", owner, "--reference-id", "123", *extra]


async def command_ids(settings: Settings, topic: str) -> list[str]:
    """The commandIds of every message on a command topic so far."""
    reader = BadgesClient(settings, from_beginning=True)
    return [json.loads(r.value)["commandId"] async for r in reader.records(topic)]


async def test_claim(worker: WorkerProcess, settings: Settings, client: BadgesClient) -> None:
    env, badge, good = worker.environment(), str(ObjectId()), str(uuid.uuid4())
    done = await badges(env, *claim_args("claim", badge, "Loyalty", "--command-id", good))
    assert done.code == 0, done.err
    assert done.json()["commandId"] == good and done.json()["errors"] == []
    assert done.json()["data"] == {"badgeMetaId": badge, "ownerType": "Loyalty",
                                   "referenceId": "123"}
    rejected = [str(uuid.uuid4()) for _ in range(3)]
    owner = await badges(env, *claim_args("claim", badge, "loyalty", "--command-id", rejected[0]))
    assert owner.code == 2 and owner.out == ""
    assert all(f"'{value}'" in owner.err for value in OwnerType), owner.err
    bad_id = await badges(env, *claim_args("claim", "xyz", "Loyalty", "--command-id", rejected[1]))
    assert bad_id.code == 2 and "24 hex digits" in bad_id.err
    org = claim_args("claim", badge, "Loyalty", "--command-id", rejected[2])
    org[org.index("--org-id") + 1] = "fifty"
    assert (await badges(env, *org)).code == 2
    published = await command_ids(settings, client.topics.command(CommandType.CLAIM_BADGE))
    assert published == [good]  # the rejected invocations published nothing


async def test_unclaim(worker: WorkerProcess, client: BadgesClient) -> None:
    env, badge = worker.environment(), str(ObjectId())
    assert (await client.result(await client.claim(ORG, ACTOR, badge, "Loyalty", "123"))).ok
    done = await badges(env, *claim_args("unclaim", badge))
    assert done.code == 0, done.err
    assert done.json()["data"] == {"ownerType": "Loyalty", "referenceId": "123",
                                   "isActive": False}
    again = await badges(env, *claim_args("unclaim", badge))
    assert again.code == 1 and again.error_codes() == [737] and again.json()["data"] is None


async def test_group_create_and_update(worker: WorkerProcess, client: BadgesClient) -> None:
    env, actor = worker.environment(), ["--org-id", str(ORG), "--actor-id", str(ACTOR)]
    created = await badges(env, "group", "create", *actor, "--name", "Gold", "--rank", "2")
    assert created.code == 0, created.err
    gold = created.json()["data"]
    assert (gold["name"], gold["rank"], gold["createdBy"]) == ("Gold", 2, ACTOR)
    no_rank = await badges(env, "group", "create", *actor, "--name", "Silver")
    assert no_rank.code == 1 and no_rank.error_codes() == [732]
    silver = await client.result(await client.create_group(ORG, ACTOR, "Silver", 1))
    assert silver.data is not None
    update = ["group", "update", *actor, "--group-id"]
    renamed = await badges(env, *update, gold["id"], "--name", "Platinum", "--rank", "5")
    assert renamed.code == 0, renamed.err
    assert (renamed.json()["data"]["name"], renamed.json()["data"]["rank"]) == ("Platinum", 5)
    taken = await badges(env, *update, silver.data["id"], "--name", "Platinum", "--rank", "1")
    assert taken.code == 1 and taken.error_codes() == [733]
    unknown = await badges(env, *update, str(ObjectId()), "--name", "X", "--rank", "1")
    assert unknown.code == 1 and unknown.error_codes() == [9004]


async def test_no_wait_only_publishes(worker: WorkerProcess, client: BadgesClient) -> None:
    command_id = str(uuid.uuid4())
    sent = await badges(worker.environment(), *claim_args(
        "claim", str(ObjectId()), "Milestones", "--no-wait", "--command-id", command_id))
    assert sent.code == 0, sent.err
    assert sent.json() == {"commandId": command_id,
                           "topic": client.topics.command(CommandType.CLAIM_BADGE)}
    assert (await client.result(command_id, org_id=ORG)).ok  # the CLI sent it, not client


async def test_results_lists_and_follows(worker: WorkerProcess, client: BadgesClient) -> None:
    env = worker.environment()
    first = await client.create_group(ORG, ACTOR, "First", 1)
    await client.result(first)
    listed = await badges(env, "results")
    assert listed.code == 0, listed.err
    assert [json.loads(line)["commandId"] for line in listed.out.splitlines()] == [first]
    assert (await badges(env, "results", "--from-end")).out == ""
    follower = await start(env, "results", "--follow")
    assert (await next_line(follower))["commandId"] == first
    second = await client.create_group(ORG, ACTOR, "Second", 2)
    assert (await next_line(follower))["commandId"] == second
    stopped = await interrupt(follower)
    assert stopped.code == 0 and "Traceback" not in stopped.err, stopped.err


async def test_dlq_shows_dead_letters(worker: WorkerProcess, client: BadgesClient) -> None:
    env, garbage = worker.environment(), b"\xff garbage"
    await client.send_raw(client.topics.command(CommandType.CLAIM_BADGE), garbage, b"k")
    follower = await start(env, "dlq", "--follow")
    dead = await next_line(follower)
    assert "not JSON" in dead["reason"]
    assert dead["valueSha256"] == hashlib.sha256(garbage).hexdigest()
    assert (await interrupt(follower)).code == 0
    listed = await badges(env, "dlq")
    assert listed.code == 0 and [json.loads(line) for line in listed.out.splitlines()] == [dead]


async def test_timeout_and_unreachable_kafka(settings: Settings, tmp_path: Path) -> None:
    env = WorkerProcess(settings, tmp_path / "unused.log").environment()  # no worker runs
    waited = await badges(env, *claim_args("claim", str(ObjectId()), "Loyalty", "--timeout", "1"))
    assert waited.code == 3 and "no result for command" in waited.err
    down = {**os.environ, "BADGES_KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1",
            "BADGES_NETWORK_TIMEOUT_SECONDS": "2"}
    for args in (claim_args("claim", str(ObjectId())), ["results"]):
        failed = await badges(down, *args)
        assert failed.code == 4 and failed.out == "", failed.err
        assert len(failed.err.splitlines()) == 1 and "127.0.0.1:1" in failed.err
