"""`badges status`: the consumer group, each command partition's offsets and lag, and the
worker's readiness, read from a real worker's group on the real broker."""

from __future__ import annotations

import asyncio
import os
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from bson import ObjectId

from badges_schemas import CommandType, Topics
from badges_sdk.client import BadgesClient
from service.settings import Settings
from tests.infra.worker import WorkerProcess
from tests.integration.test_cli import ACTOR, ORG, Run, badges

pytestmark = pytest.mark.integration

CATCH_UP_TIMEOUT = 60  # seconds for the worker to commit what it answered


def command_topics(settings: Settings) -> list[str]:
    return sorted(set(Topics(settings.topic_prefix).commands.values()))


async def status_json(env: dict[str, str], *args: str) -> dict[str, Any]:
    done = await badges(env, "status", "--json", *args)
    assert done.code == 0 and done.err == "", done.err
    shown: dict[str, Any] = done.json()
    return shown


async def status_when(env: dict[str, str], url: str, condition: Any) -> dict[str, Any]:
    """The status once `condition(status)` holds (bounded wait)."""
    deadline, shown = time.monotonic() + CATCH_UP_TIMEOUT, None
    while time.monotonic() < deadline:
        shown = await status_json(env, "--worker-url", url)
        if condition(shown):
            return shown
        await asyncio.sleep(0.5)  # polling the group's offsets; the deadline bounds the wait
    raise AssertionError(f"status never met the condition; last: {shown}")


async def published(settings: Settings, topic: str) -> Counter[int]:
    """How many messages each partition of `topic` holds (all since the topic is new)."""
    reader = BadgesClient(settings, from_beginning=True)
    return Counter([record.partition async for record in reader.records(topic)])


def by_partition(shown: dict[str, Any]) -> dict[tuple[str, int], dict[str, Any]]:
    return {(p["topic"], p["partition"]): p for p in shown["partitions"]}


async def test_status_shows_members_offsets_lag_and_readiness(
    settings: Settings, worker: WorkerProcess, client: BadgesClient
) -> None:
    env, url, topics = worker.environment(), worker.http_url(), command_topics(settings)
    sent = [await client.claim(ORG, ACTOR, str(ObjectId()), "Loyalty", str(i)) for i in range(4)]
    sent += [await client.create_group(ORG, ACTOR, "Gold", 1),
             await client.update_group(ORG, ACTOR, str(ObjectId()), "None such", 1)]
    for command_id in sent:
        await client.result(command_id)

    shown = await status_when(env, url, lambda s: s["total_lag"] == 0
                              and all(p["committed"] is not None for p in s["partitions"]
                                      if p["end"] > 0))
    assert (shown["group"], shown["state"]) == (settings.app_id, "Stable")
    assert shown["worker"] == {"url": url, "status": "ready", "detail": None}
    assert len(shown["members"]) >= 1 and shown["missing_topics"] == []
    member = shown["members"][0]
    assert member["client_id"] and member["host"] and member["member_id"]
    every = {(t, n) for t in topics for n in range(settings.topic_partitions)}
    assert set(by_partition(shown)) == every
    held = {(t, n) for m in shown["members"] for t, ns in m["partitions"].items() for n in ns}
    assert every <= held  # the group holds every command partition
    counts = {(t, n): c for t in topics for n, c in (await published(settings, t)).items()}
    assert sum(counts.values()) == len(sent)
    for key, partition in by_partition(shown).items():
        assert partition["end"] == counts.get(key, 0), key
        assert partition["committed"] == counts.get(key), key
        assert partition["lag"] == 0, key

    text = await badges(env, "status", "--worker-url", url)
    assert text.code == 0, text.err
    assert member["member_id"] in text.out and all(t in text.out for t in topics), text.out
    assert f"Worker {url}: ready" in text.out

    assert worker.stop() == 0
    waiting = [await client.create_group(ORG, ACTOR, f"Later {i}", 1) for i in range(2)]
    stopped = await status_json(env, "--worker-url", url)
    assert stopped["total_lag"] == len(waiting) and stopped["members"] == []
    assert stopped["worker"]["status"] == "unreachable" and stopped["worker"]["detail"]
    create_topic = client.topics.command(CommandType.CREATE_BADGE_GROUP)
    for key, partition in by_partition(stopped).items():
        before = by_partition(shown)[key]
        assert partition["committed"] == before["committed"], key  # nothing consumed since
        assert partition["lag"] == partition["end"] - before["end"], key
        assert partition["lag"] == 0 or key[0] == create_topic, key


async def test_status_without_topics_or_kafka(settings: Settings, tmp_path: Path) -> None:
    env = WorkerProcess(settings, tmp_path / "unused.log").environment()  # no worker runs
    fresh = await status_json({**env, "BADGES_TOPIC_PREFIX": "never-used"}, "--worker-url", "")
    assert (fresh["state"], fresh["members"], fresh["partitions"]) == ("Dead", [], [])
    assert fresh["missing_topics"] == command_topics(settings.model_copy(
        update={"topic_prefix": "never-used"}))
    assert fresh["worker"] is None
    down = {**os.environ, "BADGES_KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1",
            "BADGES_NETWORK_TIMEOUT_SECONDS": "2"}
    failed: Run = await badges(down, "status")
    assert failed.code == 4 and failed.out == "", failed.err
    assert len(failed.err.splitlines()) == 1 and "127.0.0.1:1" in failed.err
