"""The gateway's connections: one long-lived BadgesClient (reading results) and the store.

Started in the background when the server starts: if Kafka or MongoDB is not up yet, the
gateway waits for them as the worker does (service/retry.py: backoff, a warning per try),
serving /healthz meanwhile and answering /readyz 503 and the badge routes 503 (9013).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo import AsyncMongoClient

from badges_sdk.client import BadgesClient
from service.checks import CHECK_TIMEOUT, bounded
from service.retry import RETRIES, backoff, retry
from service.settings import Settings
from service.store.gateway_reads import GatewayStore
from service.store.mongo import connect

log = logging.getLogger(__name__)

SWEEP_SECONDS = 3600.0  # between sweeps of expired idempotency records
# An idempotency record outlives the command log's entry of its command (the retention,
# counted from when the worker stored the effects, plus up to ~10 minutes and a pass) by
# this margin: a worker may answer a command long after the gateway accepted it (a
# backlog, an outage), and a key whose record is gone while the log still holds its
# command would let another body be answered with the first one's result.
KEY_MARGIN = timedelta(days=1)


class GatewayRuntime:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.client: BadgesClient | None = None
        self.store: GatewayStore | None = None
        self._mongo: AsyncMongoClient[dict[str, Any]] | None = None
        self.ready = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def key_lifetime(self) -> timedelta:
        return timedelta(hours=self.settings.command_log_retention_hours) + KEY_MARGIN

    def start(self) -> None:
        self._tasks.append(asyncio.create_task(self._connect()))

    async def _connect(self) -> None:
        self.store = await retry(self.settings, "gateway connecting to MongoDB",
                                 self._open_store, operation="connecting")
        self.client = await retry(self.settings, "gateway connecting to Kafka",
                                  self._open_client, operation="connecting")
        self.ready.set()
        log.info("gateway ready: Kafka and MongoDB answer, reading results")
        self._tasks.append(asyncio.create_task(self._sweep()))
        self._tasks.append(asyncio.create_task(self._supervise_reader()))

    async def _open_store(self) -> GatewayStore:
        if self._mongo is None:
            self._mongo = connect(self.settings)
        store = GatewayStore(self._mongo[self.settings.mongo_database])
        await store.ping()
        await store.ensure_indexes()
        return store

    async def _open_client(self) -> BadgesClient:
        client = BadgesClient(self.settings)
        try:
            await client.start(read_results=True)
        except BaseException:
            await client.stop()
            raise
        return client

    async def _supervise_reader(self) -> None:
        """Replace a client whose result reader stopped (its cause is logged by the client).

        Meanwhile writes are refused before publishing (commands.py) and readiness says
        why. A new client starts after a backoff that grows while readers keep failing
        soon after their start, and resets once one has run for the longest backoff.
        """
        failures = 0
        while True:
            assert self.client is not None
            started = asyncio.get_running_loop().time()
            await self.client.reader_stopped()
            ran = asyncio.get_running_loop().time() - started
            failures = 0 if ran >= self.settings.retry_max_backoff_seconds else failures + 1
            delay = backoff(self.settings, max(failures - 1, 0))
            RETRIES.labels("result_reader").inc()
            log.warning("the gateway's result reader stopped; writes answer 503 until a new "
                        "one runs, in %.1fs", delay)
            await asyncio.sleep(delay)
            old, self.client = self.client, await retry(
                self.settings, "gateway restarting its result reader", self._open_client,
                operation="connecting")
            log.info("the gateway's result reader runs again")
            await old.stop()

    async def _sweep(self) -> None:
        """Delete the expired idempotency records now and then (FerretDB has no TTL index)."""
        while True:
            assert self.store is not None
            try:
                deleted = await self.store.sweep_keys(datetime.now(UTC))
                if deleted:
                    log.info("deleted %d expired idempotency records", deleted)
            except Exception as exc:  # the next sweep tries again
                log.warning("sweeping idempotency records failed (%.300r)", exc)
            await asyncio.sleep(SWEEP_SECONDS)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self.client is not None:
            await self.client.stop()
        if self._mongo is not None:
            await self._mongo.close()

    async def missing(self) -> dict[str, str]:
        """What keeps the gateway from being ready: {dependency: why}; empty when ready."""
        mongo, kafka = await asyncio.gather(self._mongo_problem(), self._kafka_problem())
        problems = {name: why for name, why in (("mongodb", mongo), ("kafka", kafka)) if why}
        if (reader := self._reader_problem()) is not None:
            problems["result_reader"] = reader
        return problems

    async def _mongo_problem(self) -> str | None:
        if self.store is None:
            return "not connected yet"
        return await bounded(self.store.ping(), CHECK_TIMEOUT)

    async def _kafka_problem(self) -> str | None:
        if self.client is None:
            return "not connected yet"
        return await bounded(self.client.check_kafka(), CHECK_TIMEOUT)

    def _reader_problem(self) -> str | None:
        if self.client is None:
            return "not started yet"
        if not self.client.reading:
            return "stopped: results can no longer be awaited"
        return None

