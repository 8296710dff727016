"""Client for upstream modules: publish commands and await their result events.

    async with BadgesClient(bootstrap_servers="localhost:9092") as client:
        command_id = await client.claim(org_id=1, actor_id=7, badge_id=..., owner_type="Loyalty",
                                        reference_id="123")
        result = await client.result(command_id, timeout=30)

Results are read from the moment the client starts (or from the beginning of the topic with
`from_beginning=True`), so start it before sending the commands whose results you await.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator
from datetime import datetime
from types import TracebackType
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition

from schemas import CommandType, OwnerType, ResultEvent, Topics, command_key
from service import kafka
from service.settings import Settings


class ResultTimeoutError(TimeoutError):
    """No result event for the command arrived in time."""


async def _stop(kafka_client: AIOKafkaConsumer | AIOKafkaProducer, timeout: float) -> None:
    """Stop an aiokafka client, bounded: its stop() can hang while Kafka is down.

    With the broker gone, a consumer's stop() also raises the CancelledError of its own fetch
    task; swallow that one, but let a cancellation of the calling task through.
    """
    try:
        await asyncio.wait_for(kafka_client.stop(), timeout)
    except asyncio.CancelledError:
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            raise


class BadgesClient:
    def __init__(self, settings: Settings | None = None, from_beginning: bool = False,
                 **overrides: Any) -> None:
        self.settings = (settings or Settings()).model_copy(update=overrides)
        self.topics = Topics(self.settings.topic_prefix)
        self._from_beginning = from_beginning
        self._producer: AIOKafkaProducer | None = None
        self._consumer: AIOKafkaConsumer | None = None
        self._reader: asyncio.Task[None] | None = None
        self._results: dict[str, list[ResultEvent]] = defaultdict(list)
        self._arrived = asyncio.Condition()

    async def __aenter__(self) -> BadgesClient:
        try:
            await self.start()
        except BaseException:
            await self.stop()
            raise
        return self

    async def __aexit__(self, *exc: type[BaseException] | BaseException | TracebackType | None
                        ) -> None:
        await self.stop()

    async def start(self, read_results: bool = True) -> None:
        timeout = self.settings.network_timeout_seconds
        await kafka.ensure_topics(self.settings, self.topics.all)
        self._producer = kafka.producer(self.settings)
        await asyncio.wait_for(self._producer.start(), timeout)
        if read_results:
            self._consumer = await self._start_reader(self.topics.results)
            self._reader = asyncio.create_task(self._read_results())

    async def _start_reader(self, topic: str) -> AIOKafkaConsumer:
        timeout = self.settings.network_timeout_seconds
        consumer = AIOKafkaConsumer(**kafka.connection_options(self.settings),
                                    enable_auto_commit=False)
        await asyncio.wait_for(consumer.start(), timeout)
        try:
            numbers = await kafka.partitions(self.settings, topic)
            assigned = [TopicPartition(topic, p) for p in numbers]
        except BaseException:
            await consumer.stop()
            raise
        consumer.assign(assigned)
        if self._from_beginning:
            await consumer.seek_to_beginning(*assigned)
        else:
            await consumer.seek_to_end(*assigned)
            for tp in assigned:  # fix the start now, not lazily at the first fetch
                await asyncio.wait_for(consumer.position(tp), timeout)
        return consumer

    async def stop(self) -> None:
        timeout = self.settings.network_timeout_seconds
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        if self._consumer is not None:
            await _stop(self._consumer, timeout)
        if self._producer is not None:
            await _stop(self._producer, timeout)

    # -- sending ---------------------------------------------------------------------

    async def send(self, command_type: CommandType, org_id: int, actor_id: int,
                   payload: dict[str, Any], command_id: str | None = None,
                   issued_at: datetime | None = None) -> str:
        """Publish one command with the right topic and key; return its commandId."""
        command_id = command_id or str(uuid.uuid4())
        message: dict[str, Any] = {"commandId": command_id, "type": str(command_type),
                                   "orgId": org_id, "actorId": actor_id, "payload": payload}
        if issued_at is not None:
            message["issuedAt"] = issued_at.isoformat()
        key = command_key(command_type, org_id, payload)
        await self.send_raw(self.topics.command(command_type), json.dumps(message).encode(),
                            key.encode())
        return command_id

    async def send_raw(self, topic: str, value: bytes, key: bytes | None = None) -> None:
        """Publish bytes as they are (for tests and tools that speak the wire format)."""
        assert self._producer is not None, "call start() first"
        await asyncio.wait_for(self._producer.send_and_wait(topic, value, key=key),
                               self.settings.network_timeout_seconds)

    async def claim(self, org_id: int, actor_id: int, badge_id: str, owner_type: OwnerType | str,
                    reference_id: str, **options: Any) -> str:
        payload = {"badgeId": badge_id, "ownerType": str(owner_type), "referenceId": reference_id}
        return await self.send(CommandType.CLAIM_BADGE, org_id, actor_id, payload, **options)

    async def unclaim(self, org_id: int, actor_id: int, badge_id: str,
                      owner_type: OwnerType | str, reference_id: str, **options: Any) -> str:
        payload = {"badgeId": badge_id, "ownerType": str(owner_type), "referenceId": reference_id}
        return await self.send(CommandType.UNCLAIM_BADGE, org_id, actor_id, payload, **options)

    async def create_group(self, org_id: int, actor_id: int, name: str, rank: int | None,
                           **options: Any) -> str:
        payload: dict[str, Any] = {"name": name, "rank": rank}
        return await self.send(CommandType.CREATE_BADGE_GROUP, org_id, actor_id, payload,
                               **options)

    async def update_group(self, org_id: int, actor_id: int, group_id: str, name: str,
                           rank: int | None, **options: Any) -> str:
        payload: dict[str, Any] = {"groupId": group_id, "name": name, "rank": rank}
        return await self.send(CommandType.UPDATE_BADGE_GROUP, org_id, actor_id, payload,
                               **options)

    # -- results ---------------------------------------------------------------------

    async def _read_results(self) -> None:
        assert self._consumer is not None
        async for record in self._consumer:
            event = ResultEvent.model_validate_json(record.value)
            async with self._arrived:
                self._results[event.commandId].append(event)
                self._arrived.notify_all()

    async def results(self, command_id: str, count: int = 1,
                      timeout: float = 30.0) -> list[ResultEvent]:
        """Wait until `count` result events for the command have arrived; return them all."""
        async def arrived() -> list[ResultEvent]:
            async with self._arrived:
                await self._arrived.wait_for(lambda: len(self._results[command_id]) >= count)
                return list(self._results[command_id])

        try:
            return await asyncio.wait_for(arrived(), timeout)
        except TimeoutError:
            message = f"no result for command {command_id} within {timeout}s"
            raise ResultTimeoutError(message) from None

    async def result(self, command_id: str, timeout: float = 30.0) -> ResultEvent:
        return (await self.results(command_id, 1, timeout))[0]

    # -- reading any topic -----------------------------------------------------------

    async def records(self, topic: str, follow: bool = False) -> AsyncIterator[ConsumerRecord]:
        """Yield the topic's records from where this client reads (see `from_beginning`).

        Without `follow`, stop at the end offsets the topic had when reading began. Needs no
        start(): it uses a consumer of its own, closed when the iteration ends.
        """
        timeout = self.settings.network_timeout_seconds
        await kafka.ensure_topics(self.settings, [topic])
        consumer = await self._start_reader(topic)
        try:
            assigned = list(consumer.assignment())
            ends = None if follow else await asyncio.wait_for(consumer.end_offsets(assigned),
                                                              timeout)
            while ends is None or not await self._reached(consumer, ends):
                for batch in (await consumer.getmany(timeout_ms=200)).values():
                    for record in batch:
                        yield record
        finally:
            await _stop(consumer, timeout)

    async def _reached(self, consumer: AIOKafkaConsumer, ends: dict[TopicPartition, int]
                       ) -> bool:
        timeout = self.settings.network_timeout_seconds
        for tp, end in ends.items():
            if await asyncio.wait_for(consumer.position(tp), timeout) < end:
                return False
        return True
