"""The worker's questions to the broker: earliest and end offsets, a topic's layout for
its fence epochs, and the retention settings the command log's expiry depends on."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from badges_sdk.kafka import admin_client, connection_options
from service.settings import Settings
from service.store.epochs import Layout
from service.store.expiry_policy import (
    KAFKA_OFFSETS_RETENTION,
    KAFKA_TOPIC_RETENTION,
    BrokerRetention,
    Earliest,
    hours_of,
    too_short,
)
from service.worker.kafka_metadata import topic_ids

log = logging.getLogger(__name__)


async def earliest_offsets(settings: Settings, topics: Sequence[str]) -> Earliest:
    """Each partition's earliest offset (the broker's log start offset): a command below it
    can never be delivered again, to any consumer group. Topics the broker does not know
    are left out."""
    async with admin_client(settings) as admin:
        described = await asyncio.wait_for(admin.describe_topics(list(topics)),
                                           settings.network_timeout_seconds)
    partitions = [TopicPartition(t["topic"], p["partition"]) for t in described
                  if t["error_code"] == 0 for p in t["partitions"]]
    return await _list_offsets(settings, partitions, earliest=True)


async def _list_offsets(settings: Settings, partitions: list[TopicPartition], earliest: bool
                        ) -> dict[tuple[str, int], int]:
    """The partitions' earliest or end offsets. The admin client has no ListOffsets; a
    consumer without a group has."""
    if not partitions:
        return {}
    timeout = settings.network_timeout_seconds
    consumer = AIOKafkaConsumer(**connection_options(settings), enable_auto_commit=False)
    try:
        await asyncio.wait_for(consumer.start(), timeout)
        read = consumer.beginning_offsets if earliest else consumer.end_offsets
        found = await asyncio.wait_for(read(partitions), timeout)
    finally:
        await asyncio.wait_for(consumer.stop(), timeout)
    return {(tp.topic, tp.partition): offset for tp, offset in found.items()}


async def layout(settings: Settings, topic: str) -> Layout:
    """The topic as the broker describes it now: its id, partition count and end offsets
    (for its fence epochs, service/store/epochs.py)."""
    async with admin_client(settings) as admin:
        ids = await asyncio.wait_for(topic_ids(admin, [topic]),
                                     settings.network_timeout_seconds)
    if topic not in ids:
        raise RuntimeError(f"the broker does not describe topic {topic}")
    topic_id, count = ids[topic]
    ends = await _list_offsets(settings, [TopicPartition(topic, p) for p in range(count)],
                               earliest=False)
    return Layout(topic_id, count, {p: offset for (_, p), offset in ends.items()})


async def broker_retention(settings: Settings, topics: list[str]) -> BrokerRetention:
    """How long the broker keeps consumer-group offsets, and the topics' messages."""
    async with admin_client(settings) as admin:
        cluster = await admin.describe_cluster()
        broker = str(cluster["brokers"][0]["node_id"])
        resources = [ConfigResource(ConfigResourceType.BROKER, broker,
                                    {KAFKA_OFFSETS_RETENTION: None})]
        resources += [ConfigResource(ConfigResourceType.TOPIC, t, {KAFKA_TOPIC_RETENTION: None})
                      for t in topics]
        found: dict[tuple[int, str], float | None] = {}
        for response in await admin.describe_configs(resources):
            for error, message, kind, name, entries, *_ in response.resources:
                if error:
                    raise RuntimeError(f"describe_configs of {name}: {message} ({error})")
                for config, value, *_ in entries:
                    found[(kind, name if kind == ConfigResourceType.TOPIC else "")] = \
                        hours_of(config, value)
    return BrokerRetention(
        offsets_hours=found[(ConfigResourceType.BROKER, "")],
        topics_hours={t: found[(ConfigResourceType.TOPIC, t)] for t in topics})


async def warn_if_retention_short(settings: Settings, topics: list[str]) -> None:
    """Warn (one line) if the broker may redeliver commands the log has forgotten.

    A consumer group whose offsets expire starts again from the earliest message the topics
    still hold. The log keeps the entry of every command still there (the expiry asks Kafka),
    but an entry follows the copy of its command it was logged from: a copy published again
    later (a resend) and delivered after the log's retention would be applied a second
    time. Not being able to tell is a warning too; it never stops the worker.
    """
    hours = settings.command_log_retention_hours
    try:
        found = await asyncio.wait_for(broker_retention(settings, topics),
                                       2 * settings.network_timeout_seconds)
    except Exception as exc:
        log.warning("could not read the broker's retention settings (%.300r): check that "
                    "BADGES_COMMAND_LOG_RETENTION_HOURS (%g) exceeds %s and the command "
                    "topics' %s", exc, hours, KAFKA_OFFSETS_RETENTION, KAFKA_TOPIC_RETENTION)
        return
    short = too_short(hours, found)
    if short:
        log.warning("BADGES_COMMAND_LOG_RETENTION_HOURS (%g h) does not exceed the broker's "
                    "%s: entries are kept past %g h only while Kafka holds the copy of the "
                    "command they were logged from; a copy published again later and "
                    "delivered after %g h would be applied again", hours, ", ".join(short),
                    hours, hours)
