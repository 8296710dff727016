"""Outages of MongoDB or Kafka block the stream and retry; nothing is skipped or lost."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from contextlib import ExitStack
from pathlib import Path

import faust
import pytest
from bson import ObjectId
from docker.models.containers import Container
from pymongo.asynchronous.database import AsyncDatabase
from testcontainers.core.container import DockerContainer

from badges_sdk.client import BadgesClient
from service.settings import Settings
from service.worker.stop_bound import EXIT_STOP_TIMEOUT
from tests.infra.containers import Servers, free_port, wait_for_mongo
from tests.infra.forward import Refuse, forwarding
from tests.infra.worker import WorkerProcess

pytestmark = pytest.mark.integration

RECOVERY_TIMEOUT = 120  # seconds for the worker to catch up once the server is back


def take_down(container: DockerContainer | None, restarts: ExitStack) -> Container:
    """Stop the server now; `restarts` starts it again on exit, whatever happens."""
    if container is None:
        pytest.fail("outage tests need the containers (BADGES_TEST_* servers are set)")
    wrapped = container.get_wrapped_container()
    wrapped.stop(timeout=10)
    restarts.callback(wrapped.start)  # starting a running container again is a no-op
    return wrapped


async def wait_until(condition: Callable[[], Awaitable[bool]], what: str,
                     timeout: float = RECOVERY_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not await condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.2)  # polling the database; the deadline bounds the wait


async def test_commands_sent_during_a_mongo_outage_are_applied_after_it(
    stack: Servers, worker: WorkerProcess, client: BadgesClient
) -> None:
    badge = str(ObjectId())
    assert (await client.result(await client.claim(1, 1, badge, "Loyalty", "before"))).ok
    with ExitStack() as restarts:
        take_down(stack.mongo_container, restarts)
        during = [await client.claim(1, 1, badge, "Loyalty", f"during-{i}") for i in range(5)]
        worker.wait_for("retrying in")
    wait_for_mongo(stack.mongo_url)
    for command_id in during:
        result = await client.result(command_id, timeout=RECOVERY_TIMEOUT)
        assert result.ok and result.warnings == []
    again = await client.result(await client.claim(1, 1, badge, "Loyalty", "during-0"))
    assert [w.code for w in again.warnings] == [9100]  # applied once, and kept


async def test_a_batch_in_flight_when_kafka_stops_is_published_once_kafka_is_back(
    stack: Servers, worker: WorkerProcess, client: BadgesClient, db: AsyncDatabase[dict]
) -> None:
    badge = str(ObjectId())
    assert (await client.result(await client.claim(1, 1, badge, "Loyalty", "before"))).ok

    async def stored() -> int:
        query = {"badgeMetaId": ObjectId(badge), "isActive": True}
        return int(await db.badge_claims.count_documents(query))

    async def held_batch_stored() -> bool:
        return await stored() > 1

    with ExitStack() as restarts:
        # MongoDB down first, so the worker holds the batch it consumed, unacknowledged.
        mongo = take_down(stack.mongo_container, restarts)
        in_flight = [await client.claim(1, 1, badge, "Loyalty", f"in-flight-{i}")
                     for i in range(30)]
        worker.wait_for("retrying in")
        take_down(stack.kafka_container, restarts)
        worker.wait_for("Unable connect to node")  # aiokafka lost the broker
        mongo.start()
        wait_for_mongo(stack.mongo_url)
        # The held batch's effects are stored; sending its results times out and is retried.
        await wait_until(held_batch_stored, "the batch held during the outage to be stored")
        worker.wait_for("failed (TimeoutError()); retrying in")
    for command_id in in_flight:
        all_results = await client.results(command_id, timeout=RECOVERY_TIMEOUT)
        assert all_results[0].ok and all_results[0].warnings == [], all_results
        assert all(r == all_results[0] for r in all_results)  # a re-send is the same event
    assert worker.process is not None and worker.process.poll() is None, worker.tail()
    # The consumer may still be rejoining its group after the broker came back.
    again = await client.result(await client.claim(1, 1, badge, "Loyalty", "in-flight-0"),
                                timeout=RECOVERY_TIMEOUT)
    assert [w.code for w in again.warnings] == [9100]  # applied once, and kept
    assert await stored() == 1 + len(in_flight)


async def test_a_worker_blocked_by_an_outage_still_stops_and_loses_nothing(
    stack: Servers, worker: WorkerProcess, client: BadgesClient, db: AsyncDatabase[dict]
) -> None:
    badges = [str(ObjectId()) for _ in range(10)]
    assert (await client.result(await client.claim(1, 1, badges[0], "Loyalty", "before"))).ok
    with ExitStack() as restarts:
        take_down(stack.mongo_container, restarts)
        sent = [await client.claim(1, 1, badge, "Loyalty", "held") for badge in badges]
        worker.wait_for("retrying in")  # connected before: this is the held batch
        # SIGTERM: faust would wait for the held batch until MongoDB is back; the bound ends it.
        assert worker.stop() == EXIT_STOP_TIMEOUT, worker.tail()
    wait_for_mongo(stack.mongo_url)
    worker.start()
    for command_id in sent:
        result = await client.result(command_id, timeout=RECOVERY_TIMEOUT)
        assert result.ok and result.warnings == [], result
    query = {"badgeMetaId": {"$in": [ObjectId(b) for b in badges]}, "referenceId": "held"}
    assert await db.badge_claims.count_documents({**query, "isActive": True}) == len(badges)


async def test_a_worker_started_before_kafka_waits_for_it(
    stack: Servers, settings: Settings, tmp_path: Path
) -> None:
    # The worker's bootstrap address leads nowhere until the forwarder opens it to the broker.
    port = free_port()
    early = settings.model_copy(update={"kafka_bootstrap_servers": f"127.0.0.1:{port}"})
    worker = WorkerProcess(early, tmp_path / "early.log").start(wait=False)
    try:
        worker.wait_for("creating topics failed")
        async with forwarding(port, stack.kafka_bootstrap):
            await asyncio.to_thread(worker.wait_ready)  # the loop keeps forwarding meanwhile
            async with BadgesClient(settings) as client:
                sent = await client.claim(1, 1, str(ObjectId()), "Loyalty", "late")
                assert (await client.result(sent, timeout=60)).ok
    finally:
        worker.stop()


async def test_a_worker_whose_faust_start_fails_starts_faust_again(
    stack: Servers, settings: Settings, tmp_path: Path
) -> None:
    # Our own topic step gets through the forwarder; Faust's clients (their own client id)
    # find no broker there, so Faust's start fails as in a passing network fault.
    port = free_port()
    faust_clients = Refuse(lambda client: client == f"faust-{faust.__version__}")
    routed = settings.model_copy(update={"kafka_bootstrap_servers": f"127.0.0.1:{port}"})
    worker = WorkerProcess(routed, tmp_path / "restarting.log")
    async with forwarding(port, stack.kafka_bootstrap, refuse=faust_clients):
        try:
            worker.start(wait=False)
            # The loop keeps forwarding while a thread waits (it fails if the worker exits).
            await asyncio.to_thread(worker.wait_for, "Faust's start failed")
            assert faust_clients.refused > 0 and "created topics" in worker.log()
            assert worker.process is not None and worker.process.poll() is None
            faust_clients.open()
            # Not bare "Ready" (wait_ready): a failed start may log a NodeNotReadyError.
            await asyncio.to_thread(worker.wait_for, "[^Worker]: Ready")
            async with BadgesClient(settings) as client:
                sent = await client.claim(1, 1, str(ObjectId()), "Loyalty", "restarted")
                assert (await client.result(sent, timeout=60)).ok
            assert worker.process.poll() is None, worker.tail()  # the same process all along
        finally:
            await asyncio.to_thread(worker.stop)
