"""The gateway's result reader dies: writes are refused before publishing, readiness says
why, and a new reader is started after a backoff. The runtime runs in this process (real
Kafka, FerretDB and worker) so that the reader can be broken as a bug would break it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest

from badges_schemas.commands import CommandType
from service.gateway.auth import Identity
from service.gateway.commands import Answer, execute
from service.gateway.runtime import GatewayRuntime
from service.settings import Settings
from tests.infra.records import end_offsets
from tests.infra.worker import WorkerProcess

pytestmark = pytest.mark.integration

ALICE = Identity("alice", 50156, 123)
RESTART_AFTER = 8.0  # the first backoff: the window in which the reader is down


async def until(condition: Callable[[], bool], what: str, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)  # the runtime's own state: no event to wait on


async def create(runtime: GatewayRuntime, name: str) -> Answer:
    body = f'{{"name": "{name}", "rank": 1}}'.encode()
    return await execute(runtime, CommandType.CREATE_BADGE_GROUP, ALICE, body, {}, None)


async def test_writes_wait_for_a_new_reader_and_publish_nothing_meanwhile(
        settings: Settings, worker: WorkerProcess, monkeypatch: pytest.MonkeyPatch) -> None:
    runtime = GatewayRuntime(settings.model_copy(
        update={"retry_initial_backoff_seconds": RESTART_AFTER}))
    runtime.start()
    try:
        await asyncio.wait_for(runtime.ready.wait(), 60)
        assert (await create(runtime, "before")).status == 200
        first = runtime.client
        assert first is not None

        def broken(*_: object) -> None:
            raise RuntimeError("the reader's bug")

        monkeypatch.setattr(first.replies, "deliver", broken)
        # Its own result kills the reader: the answer cannot be awaited (503, commandId).
        killed = await create(runtime, "kills the reader")
        assert killed.status == 503 and killed.body["commandId"]
        await asyncio.wait_for(first.reader_stopped(), 30)
        assert "result_reader" in await runtime.missing()

        published = await end_offsets(settings)
        refused = await create(runtime, "while down")
        assert refused.status == 503 and "nothing was published" in str(refused.body)
        assert "commandId" not in refused.body
        assert await end_offsets(settings) == published

        await until(lambda: runtime.client is not first, "a new reader", 60)  # the backoff
        assert runtime.client is not None and runtime.client.reading
        assert await runtime.missing() == {}
        after = await create(runtime, "after")
        assert after.status == 200 and after.body["data"]["name"] == "after"
    finally:
        await runtime.stop()

