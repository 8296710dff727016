"""Fixtures shared by all tests: the servers (session), and a fresh namespace per test."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from tests.infra.containers import Servers, servers


@pytest.fixture(scope="session")
def stack(request: pytest.FixtureRequest) -> Iterator[Servers]:
    with servers() as found:
        line = f"test stack: Kafka {found.kafka_version} at {found.kafka_bootstrap}, " \
               f"{found.mongo_version} at {found.mongo_url}"
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
