"""Start one Kafka broker and one MongoDB-protocol server with testcontainers.

Images come from BADGES_KAFKA_IMAGE / BADGES_MONGO_IMAGE (set by deploy/stack.sh: local
builds under podman, the official images under Docker). The reaper container cannot be
pulled here, so every container is stopped by the context manager that started it.
"""

from __future__ import annotations

import os
import re
import socket
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

from pymongo import MongoClient
from pymongo.errors import PyMongoError
from testcontainers.core.container import DockerContainer
from testcontainers.core.wait_strategies import LogMessageWaitStrategy

from service.secrets import mask_url

LABELS = {"io.badges.project": "badges-service"}
READY_TIMEOUT = 180


class StackError(RuntimeError):
    """The test stack could not start; the message says what to check."""


@dataclass(frozen=True)
class Servers:
    kafka_bootstrap: str
    mongo_url: str
    kafka_version: str
    mongo_version: str
    # The containers, for outage tests; None when testing against external servers.
    kafka_container: DockerContainer | None = None
    mongo_container: DockerContainer | None = None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def publish_on_loopback(container: DockerContainer, inside: int, outside: int) -> None:
    # with_bind_ports takes no address, and 0.0.0.0 would expose the servers beyond this host.
    container.ports[f"{inside}/tcp"] = ("127.0.0.1", outside)


def _kafka_env(port: int) -> dict[str, str]:
    # The broker listens on the same port inside and outside, so the advertised address
    # works from the host through the published port; replication 1 for one broker.
    return {
        "KAFKA_NODE_ID": "1",
        "KAFKA_PROCESS_ROLES": "broker,controller",
        "KAFKA_LISTENERS": f"PLAINTEXT://0.0.0.0:{port},CONTROLLER://0.0.0.0:9093",
        "KAFKA_ADVERTISED_LISTENERS": f"PLAINTEXT://localhost:{port}",
        "KAFKA_LISTENER_SECURITY_PROTOCOL_MAP": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "KAFKA_CONTROLLER_LISTENER_NAMES": "CONTROLLER",
        "KAFKA_CONTROLLER_QUORUM_VOTERS": "1@localhost:9093",
        "KAFKA_INTER_BROKER_LISTENER_NAME": "PLAINTEXT",
        "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR": "1",
        "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR": "1",
        "KAFKA_TRANSACTION_STATE_LOG_MIN_ISR": "1",
        "KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS": "0",
        # Delete segments past their topic's retention within a second, not 5 minutes: the
        # command log's expiry test waits for a segment to go. Topics of the default
        # retention (7 days) are not touched by it.
        "KAFKA_LOG_RETENTION_CHECK_INTERVAL_MS": "1000",
        "KAFKA_SHARE_COORDINATOR_STATE_TOPIC_REPLICATION_FACTOR": "1",
        "KAFKA_SHARE_COORDINATOR_STATE_TOPIC_MIN_ISR": "1",
    }


def image_from_env(variable: str) -> str:
    image = os.environ.get(variable)
    if not image:
        raise StackError(
            f"{variable} is not set: run the tests through `make test`, which builds or "
            "selects the images (deploy/stack.sh), or set it to an image you have"
        )
    return image


@contextmanager
def kafka_container(port: int | None = None, env: Mapping[str, str] | None = None,
                    mounts: Mapping[str, str] | None = None,
                    ) -> Iterator[tuple[str, str, DockerContainer]]:
    """Yield (bootstrap servers, broker version, the container).

    The broker listens on `port` (default: a free one); `env` is applied over the plain
    single-node settings, `mounts` maps host paths to read-only paths in the container.
    """
    port = port or free_port()
    container = DockerContainer(image_from_env("BADGES_KAFKA_IMAGE"), labels=LABELS)
    publish_on_loopback(container, port, port)
    for key, value in {**_kafka_env(port), **(env or {})}.items():
        container.with_env(key, value)
    for host_path, inside in (mounts or {}).items():
        container.with_volume_mapping(host_path, inside, "ro")
    container.waiting_for(
        LogMessageWaitStrategy("Kafka Server started").with_startup_timeout(READY_TIMEOUT)
    )
    with started(container, "Kafka"):
        stdout, _ = container.get_logs()
        found = re.search(rb"Kafka version: (\S+)", stdout)
        version = found.group(1).decode() if found else "unknown"
        yield f"localhost:{port}", version, container


@contextmanager
def mongo_container() -> Iterator[tuple[str, str, DockerContainer]]:
    """Yield (mongodb URL, server version as buildInfo reports it, the container)."""
    container = DockerContainer(image_from_env("BADGES_MONGO_IMAGE"), labels=LABELS)
    publish_on_loopback(container, 27017, free_port())
    with started(container, "MongoDB"):
        url = f"mongodb://127.0.0.1:{container.get_exposed_port(27017)}"
        yield url, wait_for_mongo(url), container


@contextmanager
def started(container: DockerContainer, what: str) -> Iterator[None]:
    try:
        container.start()
    except Exception as exc:
        container.stop()
        raise StackError(
            f"could not start the {what} container ({exc!r}); is the engine up? "
            f"DOCKER_HOST={os.environ.get('DOCKER_HOST')}"
        ) from exc
    try:
        yield
    finally:
        container.stop()


def wait_for_mongo(url: str) -> str:
    """Bounded wait until the server answers; works for mongod and FerretDB alike."""
    deadline = time.monotonic() + READY_TIMEOUT
    client: MongoClient[dict[str, object]] = MongoClient(url, serverSelectionTimeoutMS=1000)
    try:
        while True:
            try:
                info = client.admin.command("buildInfo")
                # FerretDB reports the MongoDB version it imitates, and its own beside it.
                if "ferretdbVersion" in info:
                    return f"FerretDB {info['ferretdbVersion']} (as MongoDB {info['version']})"
                return f"MongoDB {info['version']}"
            except PyMongoError as exc:
                if time.monotonic() > deadline:
                    raise StackError(f"MongoDB at {mask_url(url)} did not answer: {exc}") from exc
    finally:
        client.close()


@contextmanager
def servers() -> Iterator[Servers]:
    """The servers to test against: external ones if configured, else fresh containers."""
    external_kafka = os.environ.get("BADGES_TEST_KAFKA_BOOTSTRAP")
    external_mongo = os.environ.get("BADGES_TEST_MONGO_URL")
    if external_kafka and external_mongo:
        yield Servers(external_kafka, external_mongo, "external", "external")
        return
    with kafka_container() as kafka_started, mongo_container() as mongo_started:
        bootstrap, kafka_version, kafka = kafka_started
        url, mongo_version, mongo = mongo_started
        yield Servers(bootstrap, url, kafka_version, mongo_version, kafka, mongo)
