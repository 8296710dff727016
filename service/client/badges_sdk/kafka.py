"""aiokafka clients built from settings: connection options, the login check, topic
creation, a producer. Shared by the SDK, the worker, the CLI and the gateway."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import AsyncIterator
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka import errors as kafka_errors
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.conn import collect_hosts, create_conn
from aiokafka.errors import TopicAlreadyExistsError

from badges_sdk.retry import PermanentError
from badges_sdk.settings import KafkaSettings

log = logging.getLogger(__name__)


def connection_options(settings: KafkaSettings) -> dict[str, Any]:
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


async def check_login(settings: KafkaSettings) -> None:
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
async def admin_client(settings: KafkaSettings) -> AsyncIterator[AIOKafkaAdminClient]:
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


async def ensure_topics(settings: KafkaSettings, names: list[str]) -> None:
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


async def partitions(settings: KafkaSettings, topic: str) -> list[int]:
    """The topic's partition numbers, waiting (bounded) until the broker knows the topic."""
    async with admin_client(settings) as admin:
        return await asyncio.wait_for(_described(admin, topic), settings.network_timeout_seconds)


def producer(settings: KafkaSettings) -> AIOKafkaProducer:
    # Idempotent, acks from all replicas: a result that was sent is not lost or doubled
    # by the producer's own retries.
    return AIOKafkaProducer(
        **connection_options(settings), acks="all", enable_idempotence=True,
        max_request_size=2 * 1024 * 1024,
    )
