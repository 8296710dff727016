"""A worker started while Kafka is away: its endpoints answer from the first second (live,
not ready, saying why), so no startup or liveness probe kills it; it is ready soon after
Kafka appears, on the same port, and answers commands."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import aiohttp
import pytest

from badges_sdk.client import BadgesClient
from service.settings import Settings
from tests.infra.containers import Servers, free_port
from tests.infra.forward import forwarding
from tests.infra.worker import WorkerProcess

pytestmark = pytest.mark.integration

# Kafka away for over 3 minutes: past the 120 s after which the old startup probe killed a
# worker that waited for Kafka, probed every second.
AWAY_SECONDS = 185
READY_WITHIN = 30  # after Kafka appears
PROBE_TIMEOUT = aiohttp.ClientTimeout(total=3)  # as the manifests' probes


async def probe(session: aiohttp.ClientSession, url: str) -> tuple[int, dict[str, object]]:
    async with session.get(url) as response:
        return response.status, await response.json()


async def test_a_worker_waiting_for_kafka_is_live_not_ready_then_ready(
        stack: Servers, settings: Settings, tmp_path: Path) -> None:
    port = free_port()  # Kafka appears there only once the forwarder runs
    late = settings.model_copy(update={"kafka_bootstrap_servers": f"127.0.0.1:{port}"})
    worker = WorkerProcess(late, tmp_path / "worker.log").start(wait=False)
    try:
        url = worker.http_url(timeout=30)  # from the first seconds, Kafka or not
        async with aiohttp.ClientSession(timeout=PROBE_TIMEOUT) as session:
            away_until = time.monotonic() + AWAY_SECONDS
            while time.monotonic() < away_until:
                assert await probe(session, f"{url}/healthz") == (200, {"status": "ok"})
                status, body = await probe(session, f"{url}/readyz")
                assert status == 503, body
                assert body["missing"] == {  # type: ignore[comparison-overlap]
                    "kafka": "waiting for Kafka: creating the topics",
                    "consumer_group": "not started yet"}
                assert worker.process is not None and worker.process.poll() is None
                await asyncio.sleep(1)  # a probe period, shortened
            async with forwarding(port, stack.kafka_bootstrap):
                ready_by = time.monotonic() + READY_WITHIN
                while (status := (await probe(session, f"{url}/readyz"))[0]) != 200:
                    assert time.monotonic() < ready_by, worker.tail()
                    await asyncio.sleep(0.5)  # polling the probe; the deadline bounds it
                async with BadgesClient(late) as client:
                    command = await client.create_group(1, 1, "after the wait", 1)
                    assert (await client.result(command, timeout=60)).ok
    finally:
        worker.stop()
    # One listener from start to stop: the port never closed between the wait and Faust.
    assert worker.log().count("HTTP endpoints on") == 1
