"""aiokafka clients built from settings: connection options, topic creation, a producer."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import AsyncIterator
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from service.settings import Settings

log = logging.getLogger(__name__)


def connection_options(settings: Settings) -> dict[str, Any]:
    """Options every aiokafka client of the service shares (bootstrap, TLS, SASL)."""
    options: dict[str, Any] = {
        "bootstrap_servers": settings.kafka_bootstrap_servers,
        "security_protocol": settings.kafka_security_protocol,
        "request_timeout_ms": int(settings.network_timeout_seconds * 1000),
    }
    if settings.kafka_security_protocol in ("SSL", "SASL_SSL"):
        options["ssl_context"] = ssl.create_default_context(cafile=settings.kafka_ssl_cafile)
    if settings.kafka_security_protocol.startswith("SASL"):
        options["sasl_mechanism"] = settings.kafka_sasl_mechanism
        options["sasl_plain_username"] = settings.kafka_sasl_username
        options["sasl_plain_password"] = settings.kafka_sasl_password
    return options


@contextlib.asynccontextmanager
async def _admin(settings: Settings) -> AsyncIterator[AIOKafkaAdminClient]:
    """A started admin client, closed on exit even when starting it failed or timed out."""
    admin = AIOKafkaAdminClient(**connection_options(settings))
    try:
        await asyncio.wait_for(admin.start(), settings.network_timeout_seconds)
        yield admin
    finally:
        await admin.close()


async def ensure_topics(settings: Settings, names: list[str]) -> None:
    """Create the topics that do not exist yet, with the configured partitions."""
    async with _admin(settings) as admin:
        existing = set(await admin.list_topics())
        missing = [n for n in names if n not in existing]
        topics = [
            NewTopic(n, settings.topic_partitions, settings.topic_replication_factor)
            for n in missing
        ]
        if topics:
            with contextlib.suppress(TopicAlreadyExistsError):  # another worker was first
                await admin.create_topics(topics)
            log.info("created topics %s", missing)
        for name in missing:
            await asyncio.wait_for(_described(admin, name), settings.network_timeout_seconds)


async def _described(admin: AIOKafkaAdminClient, topic: str) -> list[int]:
    """The topic's partition numbers, once the broker's metadata has the topic."""
    while True:
        for found in await admin.describe_topics([topic]):
            if found["error_code"] == 0 and found["partitions"]:
                return sorted(p["partition"] for p in found["partitions"])
        await asyncio.sleep(0.1)  # just created: not in the metadata yet


async def partitions(settings: Settings, topic: str) -> list[int]:
    """The topic's partition numbers, waiting (bounded) until the broker knows the topic."""
    async with _admin(settings) as admin:
        return await asyncio.wait_for(_described(admin, topic), settings.network_timeout_seconds)


def producer(settings: Settings) -> AIOKafkaProducer:
    # Idempotent, acks from all replicas: a result that was sent is not lost or doubled
    # by the producer's own retries.
    return AIOKafkaProducer(
        **connection_options(settings), acks="all", enable_idempotence=True,
        max_request_size=2 * 1024 * 1024,
    )
