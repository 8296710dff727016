"""aiokafka clients built from settings: connection options, topic creation, a producer."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import AsyncIterator, Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka import errors as kafka_errors
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.conn import collect_hosts, create_conn
from aiokafka.errors import TopicAlreadyExistsError

from service.epochs import Layout
from service.kafka_metadata import topic_ids
from service.retention import (
    KAFKA_OFFSETS_RETENTION,
    KAFKA_TOPIC_RETENTION,
    BrokerRetention,
    Earliest,
    hours_of,
    too_short,
)
from service.retry import PermanentError
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


# What a broker answers when it refuses the client's login: retrying cannot change that.
REFUSED = (kafka_errors.SaslAuthenticationFailed, kafka_errors.AuthenticationFailedError,
            kafka_errors.AuthenticationMethodNotSupported,
            kafka_errors.UnsupportedSaslMechanismError, kafka_errors.IllegalSaslStateError)
# Faults of the network or of a broker not ready yet: the next attempt may get through...
TRANSIENT = (kafka_errors.KafkaError, OSError, TimeoutError)
# ...except these, which the same settings meet again: a refused login, an operation this
# user may not do, a certificate that is not trusted (ssl errors are OSErrors).
NOT_TRANSIENT = (*REFUSED, kafka_errors.TopicAuthorizationFailedError,
                 kafka_errors.GroupAuthorizationFailedError,
                 kafka_errors.ClusterAuthorizationFailedError,
                 kafka_errors.TransactionalIdAuthorizationFailed, ssl.SSLError, PermanentError)


def passing_fault(failure: BaseException | None) -> bool:
    """Whether a connection that failed with `failure` may succeed if tried again."""
    return isinstance(failure, TRANSIENT) and not isinstance(failure, NOT_TRANSIENT)


# sysexits.h EX_CONFIG: the exit status of the worker and the CLI on a KafkaAuthError; a
# restart with the same settings would fail the same way.
EXIT_AUTH_FAILED = 78


class KafkaAuthError(PermanentError):
    """Authentication failed: the broker refused the credentials, or its certificate is not
    trusted. Both need a change of settings; retrying cannot help."""


async def check_login(settings: Settings) -> None:
    """Log in once to a bootstrap server; KafkaAuthError if authentication fails.

    aiokafka clients swallow a refused login while bootstrapping: they log it and raise the
    same "Unable to bootstrap" error as for a broker that is down, which the service would
    retry forever. One connection of our own tells the two apart. An unreachable server
    is left for the caller's own connection attempt to report (and retry).
    """
    if settings.kafka_security_protocol == "PLAINTEXT":
        return
    options = connection_options(settings)
    del options["bootstrap_servers"]
    for host, port, _ in collect_hosts(settings.kafka_bootstrap_servers, randomize=False):
        try:
            conn = await asyncio.wait_for(create_conn(host, port, **options),
                                          settings.network_timeout_seconds)
        except REFUSED as exc:
            raise KafkaAuthError(
                f"Kafka at {host}:{port} refused the login of user "
                f"{settings.kafka_sasl_username!r} ({settings.kafka_sasl_mechanism} over "
                f"{settings.kafka_security_protocol}): {_detail(exc)}") from None
        except ssl.SSLCertVerificationError as exc:
            raise KafkaAuthError(
                f"Kafka at {host}:{port} presented a certificate that is not trusted "
                f"(BADGES_KAFKA_SSL_CAFILE={settings.kafka_ssl_cafile}): {_detail(exc)}"
            ) from None
        except (OSError, kafka_errors.KafkaError, TimeoutError):
            continue  # this one is unreachable: try the next
        conn.close()
        return


def _detail(exc: BaseException) -> str:
    text, name = " ".join(str(exc).split()), type(exc).__name__
    return text if name in text else f"{name}: {text}"


@contextlib.asynccontextmanager
async def admin_client(settings: Settings) -> AsyncIterator[AIOKafkaAdminClient]:
    """A started admin client, closed on exit even when starting it failed or timed out.

    Every use of Kafka by the worker and the CLI starts with one of these, so the login
    check before it is what turns refused credentials into a KafkaAuthError.
    """
    await check_login(settings)
    admin = AIOKafkaAdminClient(**connection_options(settings))
    try:
        await asyncio.wait_for(admin.start(), settings.network_timeout_seconds)
        yield admin
    finally:
        await admin.close()


async def ensure_topics(settings: Settings, names: list[str]) -> None:
    """Create the topics that do not exist yet, with the configured partitions."""
    async with admin_client(settings) as admin:
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
    async with admin_client(settings) as admin:
        return await asyncio.wait_for(_described(admin, topic), settings.network_timeout_seconds)


def producer(settings: Settings) -> AIOKafkaProducer:
    # Idempotent, acks from all replicas: a result that was sent is not lost or doubled
    # by the producer's own retries.
    return AIOKafkaProducer(
        **connection_options(settings), acks="all", enable_idempotence=True,
        max_request_size=2 * 1024 * 1024,
    )


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
    (for its fence epochs, service/epochs.py)."""
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
