"""The start-up check of the broker's retention settings, against the real broker."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from bson import ObjectId
from pymongo.asynchronous.database import AsyncDatabase

from badges_sdk.client import BadgesClient
from service.settings import Settings
from service.worker.kafka import warn_if_retention_short
from tests.infra.containers import free_port
from tests.infra.worker import WorkerProcess

pytestmark = pytest.mark.integration
TIMEOUT = 30


async def _create_topics(settings: Settings, topics: list[NewTopic]) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers)
    await asyncio.wait_for(admin.start(), TIMEOUT)
    try:
        await asyncio.wait_for(admin.create_topics(topics), TIMEOUT)
    finally:
        await admin.close()


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]


async def test_a_topic_keeping_messages_longer_than_the_log_is_reported(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    short, default = f"{settings.topic_prefix}.short", f"{settings.topic_prefix}.default"
    await _create_topics(settings, [
        NewTopic(short, 1, 1, topic_configs={"retention.ms": str(400 * 3_600_000)}),
        NewTopic(default, 1, 1)])
    caplog.set_level(logging.WARNING, logger="service.worker.kafka")

    # 192 h: longer than the broker's defaults (168 h), shorter than the topic's 400 h.
    await warn_if_retention_short(settings, [short, default])
    assert _warnings(caplog) == [
        "BADGES_COMMAND_LOG_RETENTION_HOURS (192 h) does not exceed the broker's "
        f"retention.ms of {short} = 400 h: entries are kept past 192 h only while Kafka "
        "holds the copy of the command they were logged from; a copy published again later "
        "and delivered after 192 h would be applied again"]

    caplog.clear()
    await warn_if_retention_short(settings.model_copy(
        update={"command_log_retention_hours": 100}), [default])
    [line] = _warnings(caplog)
    assert f"offsets.retention.minutes = 168 h, retention.ms of {default} = 168 h" in line

    caplog.clear()
    await warn_if_retention_short(settings.model_copy(
        update={"command_log_retention_hours": 500}), [short, default])
    assert _warnings(caplog) == []


async def test_an_unreachable_broker_is_a_warning_within_the_timeout(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="service.worker.kafka")
    nowhere = settings.model_copy(update={
        "kafka_bootstrap_servers": f"127.0.0.1:{free_port()}", "network_timeout_seconds": 1})
    started = time.monotonic()
    await warn_if_retention_short(nowhere, ["any"])
    assert time.monotonic() - started < 5
    [line] = _warnings(caplog)
    assert line.startswith("could not read the broker's retention settings")


async def test_the_worker_warns_once_at_start_and_records_what_it_marks_done(
    settings: Settings, mongo_db: AsyncDatabase[dict], tmp_path: Path
) -> None:
    short = settings.model_copy(update={"command_log_retention_hours": 100})
    worker = WorkerProcess(short, tmp_path / "worker.log").start()
    try:
        async with BadgesClient(short) as client:
            command_id = await client.claim(7, 1, str(ObjectId()), "Loyalty", "r")
            assert (await client.result(command_id)).errors == []
        warned = [line for line in worker.log().splitlines()
                  if "BADGES_COMMAND_LOG_RETENTION_HOURS (100 h) does not exceed" in line]
        assert len(warned) == 1 and "offsets.retention.minutes = 168 h" in warned[0]
        # Its key is recorded for expiry with its done-marker (written beside the result).
        deadline = time.monotonic() + TIMEOUT
        while not await mongo_db["commands_expiry"].find_one({"keys": f"7:{command_id}"}):
            assert time.monotonic() < deadline, worker.tail()
            await asyncio.sleep(0.1)  # bounded by the deadline
        assert "command log expiry failed" not in worker.log()
    finally:
        worker.stop()
