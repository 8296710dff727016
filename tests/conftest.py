"""Fixtures shared by all tests: the servers (session), and a fresh namespace per test."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import TypeVar

import pytest
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from badges_sdk.client import BadgesClient
from service.secrets import mask_url
from service.settings import Settings
from tests.infra.containers import Servers, servers
from tests.infra.worker import ExporterProcess, WorkerProcess


@pytest.fixture(scope="session")
def stack(request: pytest.FixtureRequest) -> Iterator[Servers]:
    with servers() as found:
        line = f"test stack: Kafka {found.kafka_version} at {found.kafka_bootstrap}, " \
               f"{found.mongo_version} at {mask_url(found.mongo_url)}"
        capture = request.config.pluginmanager.getplugin("capturemanager")
        with capture.global_and_fixture_disabled():
            print(f"\n{line}")
        yield found


@pytest.fixture
def topic_prefix() -> str:
    """A topic prefix no other test uses."""
    return f"t{uuid.uuid4().hex[:12]}"


@pytest.fixture
def database_name() -> str:
    return f"test_{uuid.uuid4().hex[:12]}"


@pytest.fixture
async def mongo_db(stack: Servers, database_name: str) -> AsyncIterator[AsyncDatabase[dict]]:
    """A database of its own; the client lives in this test's event loop only."""
    client: AsyncMongoClient[dict] = AsyncMongoClient(stack.mongo_url, timeoutMS=10_000)
    try:
        yield client[database_name]
        await client.drop_database(database_name)
    finally:
        await client.close()


@pytest.fixture
def settings(stack: Servers, topic_prefix: str, database_name: str) -> Settings:
    """Service settings pointing at the test stack, in this test's own namespace."""
    return Settings(
        kafka_bootstrap_servers=stack.kafka_bootstrap, mongo_url=stack.mongo_url,
        mongo_database=database_name, topic_prefix=topic_prefix, topic_partitions=3,
        kafka_session_timeout_seconds=6,
        retry_max_backoff_seconds=2, stop_timeout_seconds=5,
    )


@pytest.fixture
def worker(settings: Settings, tmp_path: Path, request: pytest.FixtureRequest
           ) -> Iterator[WorkerProcess]:
    """A running worker; its log is shown when the test fails."""
    yield from _running(WorkerProcess(settings, tmp_path / "worker.log").start(), request)


@pytest.fixture
def exporter(settings: Settings, tmp_path: Path, request: pytest.FixtureRequest
             ) -> Iterator[ExporterProcess]:
    """A running lag exporter reading the test's group every second."""
    fast = settings.model_copy(update={"lag_exporter_interval_seconds": 1.0})
    yield from _running(ExporterProcess(fast, tmp_path / "exporter.log").start(), request)


P = TypeVar("P", bound=WorkerProcess)


def _running(process: P, request: pytest.FixtureRequest) -> Iterator[P]:
    """Yield the process, stop it after the test, and show its log if the test failed."""
    try:
        yield process
    finally:
        process.stop()
        report = getattr(request.node, "rep_call", None)
        if report is not None and report.failed:
            print(f"--- {process.command} log ---\n{process.tail(200)}")


@pytest.fixture
async def client(settings: Settings, worker: WorkerProcess) -> AsyncIterator[BadgesClient]:
    async with BadgesClient(settings) as badges:
        yield badges


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]
                              ) -> Iterator[pytest.TestReport]:
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


@pytest.fixture
async def db(settings: Settings, worker: WorkerProcess) -> AsyncIterator[AsyncDatabase[dict]]:
    """The worker's database, to check what it stored."""
    mongo: AsyncMongoClient[dict] = AsyncMongoClient(settings.mongo_url, timeoutMS=10_000)
    try:
        yield mongo[settings.mongo_database]
    finally:
        await mongo.close()
