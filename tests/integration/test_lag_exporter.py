"""The lag exporter (`python -m service lag-exporter`): the workers' lag read from the broker,
scraped by a real Prometheus, still reported, and rising, once every worker is gone."""

from __future__ import annotations

from pathlib import Path

import pytest
from bson import ObjectId

from badges_schemas import CommandType
from badges_sdk.client import BadgesClient
from service.settings import Settings
from tests.infra.prometheus import prometheus
from tests.infra.worker import ExporterProcess, WorkerProcess
from tests.integration.test_operations import exactly, until_status

pytestmark = pytest.mark.integration

ORG, ACTOR = 50156, 123
WAITING = 20  # claims published while no worker runs


async def claim(client: BadgesClient) -> str:
    return await client.claim(ORG, ACTOR, str(ObjectId()), "Loyalty", "r")


async def test_lag_rises_in_prometheus_while_every_worker_is_stopped(
        settings: Settings, worker: WorkerProcess, client: BadgesClient,
        exporter: ExporterProcess, tmp_path: Path) -> None:
    url = exporter.http_url()
    topic = client.topics.command(CommandType.CLAIM_BADGE)
    lag = f'sum(kafka_consumergroup_lag{{consumergroup="{settings.app_id}",topic="{topic}"}})'
    with prometheus(tmp_path, [url.removeprefix("http://")]) as server:
        for command_id in [await claim(client) for _ in range(5)]:
            assert (await client.result(command_id)).ok
        server.value_when(lag, exactly(0))  # answered and committed

        worker.stop()  # the only worker: nothing reads the topic now
        for _ in range(WAITING):
            await claim(client)
        server.value_when(lag, exactly(WAITING))
        server.value_when("badges_lag_exporter_up", exactly(1))
        # Each partition's lag is its end offset minus the group's committed offset; where
        # the group never committed (-1: none of the first claims landed there), minus the
        # first offset the partition holds, 0 on this new topic.
        per_partition = (f'kafka_topic_partition_current_offset{{topic="{topic}"}} - on '
                         f'(topic, partition) clamp_min(kafka_consumergroup_current_offset'
                         f'{{topic="{topic}"}}, 0) - on (topic, partition) '
                         f'kafka_consumergroup_lag{{topic="{topic}"}}')
        server.result_when(per_partition, lambda r: r and all(
            float(s["value"][1]) == 0 for s in r))
        assert await until_status(f"{url}/readyz", 200) == {"status": "ready"}

        worker.start()  # back: it works the backlog off, and the lag falls to 0
        server.value_when(lag, exactly(0), timeout=120)
