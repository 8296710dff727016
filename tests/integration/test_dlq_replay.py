"""`badges dlq replay` after a bug is fixed: commands a worker dead-lettered (a test switch
makes it treat claims as unreadable) are sent again by the CLI and applied once, and a
second replay answers them again from the command log without applying them twice."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import pytest
from bson import ObjectId
from pymongo.asynchronous.database import AsyncDatabase

from badges_schemas import CommandType, Topics
from badges_schemas.results import DeadLetter
from badges_sdk.client import BadgesClient
from service.cli.replay import REPLAY_HEADER
from service.settings import Settings
from tests.infra.worker import WorkerProcess
from tests.integration.test_cli import badges

pytestmark = pytest.mark.integration

ORG, ACTOR = 50156, 123
WAIT = 60


async def dead_letters(settings: Settings, count: int) -> list[DeadLetter]:
    """The dead-letter topic's records, once it holds `count` (bounded wait)."""
    deadline = time.monotonic() + WAIT
    while True:
        reader = BadgesClient(settings, from_beginning=True)
        found = [DeadLetter.model_validate_json(r.value or b"")
                 async for r in reader.records(Topics(settings.topic_prefix).dead_letters)]
        if len(found) >= count:
            return found
        assert time.monotonic() < deadline, f"{len(found)} of {count} dead letters"
        await asyncio.sleep(0.5)  # the worker has not dead-lettered them all yet


async def replay(worker: WorkerProcess, *args: str) -> list[dict[str, Any]]:
    run = await badges(worker.environment(), "dlq", "replay", *args)
    assert run.code == 0, run.err
    return [json.loads(line) for line in run.out.splitlines()]


async def test_dead_letters_replayed_twice_are_applied_once(
        settings: Settings, tmp_path: Path, mongo_db: AsyncDatabase[dict]) -> None:
    badge_ids = [str(ObjectId()) for _ in range(3)]
    buggy = settings.model_copy(update={"dead_letter_types": "ClaimBadge"})
    worker = WorkerProcess(buggy, tmp_path / "buggy.log").start()
    async with BadgesClient(settings) as client:
        try:
            claims = [await client.claim(ORG, ACTOR, b, "Loyalty", "r") for b in badge_ids]
            group = await client.create_group(ORG, ACTOR, "unaffected", 1)
            assert (await client.result(group, WAIT)).ok  # other types pass
            letters = await dead_letters(settings, 3)
        finally:
            worker.stop()
        assert {letter.reason for letter in letters} == {
            "dead-lettered by the test switch BADGES_DEAD_LETTER_TYPES"}
        assert await mongo_db["badge_claims"].count_documents({}) == 0

        fixed = WorkerProcess(settings, tmp_path / "fixed.log").start()
        try:
            listed = await replay(fixed, "--dry-run", "--reason", "test switch")
            assert [line["outcome"] for line in listed] == ["would send"] * 3
            one = await replay(fixed, "--command-id", claims[0])
            assert [line["outcome"] for line in one] == ["sent"]
            assert (await client.result(claims[0], WAIT)).ok
            everything = await replay(fixed)
            assert [line["outcome"] for line in everything] == ["sent"] * 3
            answers = [await client.results(c, count=2 if c == claims[0] else 1,
                                            timeout=WAIT) for c in claims]
            assert await mongo_db["badge_claims"].count_documents({"isActive": True}) == 3
            again = await replay(fixed)
            assert len(again) == 3
            answers = [await client.results(c, count=len(a) + 1, timeout=WAIT)
                       for c, a in zip(claims, answers, strict=True)]
        finally:
            fixed.stop()
    # Each answered the same each time (the repeats from the command log), applied once.
    for results in answers:
        assert all(r.ok and r.warnings == [] and r.data == results[0].data for r in results)
    assert await mongo_db["badge_claims"].count_documents({"isActive": True}) == 3
    # The replays say what they are.
    reader = BadgesClient(settings, from_beginning=True)
    topic = reader.topics.command(CommandType.CLAIM_BADGE)
    headers = [dict(r.headers or ()) async for r in reader.records(topic)]
    marked = [h for h in headers if REPLAY_HEADER in h]
    assert len(marked) == 1 + 3 + 3  # the dry run sent nothing
