"""Client for upstream modules: publish commands and await their result events.

    async with BadgesClient(kafka_bootstrap_servers="localhost:9092") as client:
        command_id = await client.claim(org_id=1, actor_id=7, badge_id=..., owner_type="Loyalty",
                                        reference_id="123")
        result = await client.result(command_id, timeout=30, org_id=1)

        ids = await client.send_many([OutgoingCommand(CommandType.CLAIM_BADGE, 1, 7, {...}), ...])
        answers = await client.results_of(ids, timeout=60)      # {commandId: ResultEvent}

Results are read from the moment the client starts (or from the beginning of the topic with
`from_beginning=True`), so start it before sending the commands whose results you await.
Correlation and its memory bounds are in badges_sdk/replies.py (ReplyLimits): fit for a client
that runs for weeks beside other clients on the same results topic.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition

from badges_schemas import CommandType, OwnerType, ResultEvent, Topics, command_key
from badges_sdk import kafka
from badges_sdk.replies import (
    Replies,
    ReplyLimits,
    ResultsUnavailableError,
    ResultTimeoutError,
    canonical,
)
from badges_sdk.retry import backoff
from badges_sdk.settings import KafkaSettings

__all__ = ["BadgesClient", "OutgoingCommand", "ReplyLimits", "ResultTimeoutError",
           "ResultsUnavailableError"]

log = logging.getLogger(__name__)
# send_many checks the delivery reports every so many commands: a burst of a million does
# not hold a million futures, and a failed delivery is reported soon.
DELIVERY_CHUNK = 10_000
READ_BATCH = 1_000  # records per getmany of the results reader


@dataclass(frozen=True)
class OutgoingCommand:
    """One command for send_many; `command_id` defaults to a new UUID."""

    command_type: CommandType
    org_id: int
    actor_id: int
    payload: dict[str, Any]
    command_id: str | None = None
    issued_at: datetime | None = None

    def encoded(self, topics: Topics) -> tuple[str, str, bytes, bytes]:
        """(commandId, topic, value, key) as they go on the wire."""
        command_id = canonical(self.command_id) if self.command_id else str(uuid.uuid4())
        message: dict[str, Any] = {"commandId": command_id, "type": str(self.command_type),
                                   "orgId": self.org_id, "actorId": self.actor_id,
                                   "payload": self.payload}
        if self.issued_at is not None:
            message["issuedAt"] = self.issued_at.isoformat()
        key = command_key(self.command_type, self.org_id, self.payload)
        return (command_id, topics.command(self.command_type), json.dumps(message).encode(),
                key.encode())


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
    def __init__(self, settings: KafkaSettings | None = None, from_beginning: bool = False,
                 limits: ReplyLimits | None = None, **overrides: Any) -> None:
        base = settings or KafkaSettings()
        # Validated: a misspelt or mistyped override is an error, never silently ignored.
        self.settings = type(base).model_validate({**base.model_dump(), **overrides})
        self.topics = Topics(self.settings.topic_prefix)
        self._from_beginning = from_beginning
        self._producer: AIOKafkaProducer | None = None
        self._consumer: AIOKafkaConsumer | None = None
        self._reader: asyncio.Task[None] | None = None
        self.replies = Replies(limits)  # the correlation core (stats() shows its sizes)

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
        """Connect; a bootstrap that fails on a passing fault (a broker starting, a network
        hiccup) is tried again with backoff for up to the network timeout, said once in
        the log. Refused credentials and other lasting faults raise at once."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.settings.network_timeout_seconds
        failures = 0
        while True:
            try:
                return await self._connect(read_results)
            except Exception as exc:
                await self._close_connections()
                delay = backoff(self.settings, failures)
                if not kafka.passing_fault(exc) or loop.time() + delay > deadline:
                    raise
                if failures == 0:
                    log.warning("Kafka at %s: connecting failed (%.300r); trying again for "
                                "up to %gs", self.settings.kafka_bootstrap_servers, exc,
                                self.settings.network_timeout_seconds)
                failures += 1
                await asyncio.sleep(delay)

    async def _connect(self, read_results: bool) -> None:
        timeout = self.settings.network_timeout_seconds
        await kafka.ensure_topics(self.settings, self.topics.all)
        self._producer = kafka.producer(self.settings)
        await asyncio.wait_for(self._producer.start(), timeout)
        if not read_results:
            self.replies.close("the client was started with read_results=False")
            return
        self._consumer = await self._start_reader(self.topics.results)
        self._reader = asyncio.create_task(self._read_results(self._consumer))
        self._reader.add_done_callback(self._reader_ended)

    async def check_kafka(self) -> None:
        """Ask the broker for its metadata through the producer (readiness checks); raises
        if it does not answer. The caller bounds the wait."""
        if self._producer is None:
            raise RuntimeError("not started")
        await self._producer.client.fetch_all_metadata()

    @property
    def reading(self) -> bool:
        """Whether the results reader runs (so waits can be answered): for readiness checks."""
        return self._reader is not None and not self._reader.done() and self.replies.open

    async def _start_reader(self, topic: str) -> AIOKafkaConsumer:
        timeout = self.settings.network_timeout_seconds
        consumer = AIOKafkaConsumer(**kafka.connection_options(self.settings),
                                    enable_auto_commit=False)
        try:
            await asyncio.wait_for(consumer.start(), timeout)
            numbers = await kafka.partitions(self.settings, topic)
            assigned = [TopicPartition(topic, p) for p in numbers]
        except BaseException:
            await _stop(consumer, timeout)
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
        self.replies.close("the client was stopped")
        if self._reader is not None:
            self._reader.cancel()
            # A reader that failed before was logged and failed the waits (_reader_ended).
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._reader
        await self._close_connections()

    async def _close_connections(self) -> None:
        timeout = self.settings.network_timeout_seconds
        consumer, producer, self._consumer, self._producer = (
            self._consumer, self._producer, None, None)
        if consumer is not None:
            await _stop(consumer, timeout)
        if producer is not None:
            await _stop(producer, timeout)

    # -- sending ---------------------------------------------------------------------

    async def send(self, command_type: CommandType, org_id: int, actor_id: int,
                   payload: dict[str, Any], command_id: str | None = None,
                   issued_at: datetime | None = None) -> str:
        """Publish one command with the right topic and key, once the broker has it; return
        its commandId (canonical form). Its results are kept for this client's waits."""
        outgoing = OutgoingCommand(command_type, org_id, actor_id, payload, command_id,
                                   issued_at)
        command_id, topic, value, key = outgoing.encoded(self.topics)
        self.replies.register(command_id)  # before publishing: the answer cannot overtake it
        await self.send_raw(topic, value, key)
        return command_id

    async def send_many(self, commands: Iterable[OutgoingCommand]) -> list[str]:
        """Publish many commands without a round trip each; return their commandIds in order.

        Each is handed to the producer at once (it batches them per partition) and the
        broker's acknowledgements are awaited together; returns when all are acknowledged.
        Order per key is kept: one producer, and aiokafka sends at most one batch per
        partition at a time and retries a failed batch before the next (idempotent too).
        Every wait is bounded by the network timeout: a full send buffer that does not drain
        raises aiokafka's KafkaTimeoutError, an acknowledgement that does not come
        TimeoutError.
        """
        assert self._producer is not None, "call start() first"
        ids: list[str] = []
        deliveries: list[asyncio.Future[Any]] = []
        for outgoing in commands:
            command_id, topic, value, key = outgoing.encoded(self.topics)
            self.replies.register(command_id)
            # Waits only while the send buffer is full, and aiokafka bounds that wait (and
            # the metadata one) by request_timeout_ms, our network timeout: no timer each.
            deliveries.append(await self._producer.send(topic, value, key=key))
            ids.append(command_id)
            if len(deliveries) >= DELIVERY_CHUNK:
                await self._delivered(deliveries)
        await self._delivered(deliveries)
        return ids

    async def _delivered(self, deliveries: list[asyncio.Future[Any]]) -> None:
        """Wait for the acknowledgements so far (bounded), then forget them."""
        pending, deliveries[:] = list(deliveries), []
        # Every report is collected (none left unretrieved), then the first failure raised.
        reports = await asyncio.wait_for(asyncio.gather(*pending, return_exceptions=True),
                                         self.settings.network_timeout_seconds)
        for report in reports:
            if isinstance(report, BaseException):
                raise report

    async def send_raw(self, topic: str, value: bytes, key: bytes | None = None) -> None:
        """Publish bytes as they are (for tests and tools that speak the wire format)."""
        assert self._producer is not None, "call start() first"
        # asyncio.timeout, not wait_for: no task of its own per send (the gateway's hot path)
        async with asyncio.timeout(self.settings.network_timeout_seconds):
            await self._producer.send_and_wait(topic, value, key=key)

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

    async def _read_results(self, consumer: AIOKafkaConsumer) -> None:
        while True:
            batches = await consumer.getmany(timeout_ms=1000, max_records=READ_BATCH)
            for records in batches.values():
                for record in records:
                    self.replies.deliver(record.value, record.partition, record.offset)
            # getmany returns prefetched records without suspending: through a backlog,
            # give the other tasks of the loop (the gateway's requests) a turn per batch.
            await asyncio.sleep(0)

    def _reader_ended(self, reader: asyncio.Task[None]) -> None:
        """Waits fail at once when the reader is gone, rather than time out one by one."""
        if reader.cancelled():
            self.replies.close("the client was stopped")
            return
        error = reader.exception()
        if error is not None:
            log.error("the reader of %s failed; waits for results fail from now on: %r",
                      self.topics.results, error)
            self.replies.fail(error)

    async def results(self, command_id: str, count: int = 1, timeout: float = 30.0,
                      org_id: int | None = None) -> list[ResultEvent]:
        """Wait until `count` result events for the command have arrived; return them all.

        With `org_id`, only results of that org count (commandIds are unique per org only).
        Results that arrived before the wait count if this client sent the command (or
        waits for it), or if they are still in the recent-results cache (ReplyLimits).
        Raises ResultTimeoutError after `timeout`, ResultsUnavailableError at once if the
        reader is not running.
        """
        return await self.replies.wait(command_id, count, timeout, org_id)

    async def result(self, command_id: str, timeout: float = 30.0,
                     org_id: int | None = None) -> ResultEvent:
        return (await self.results(command_id, 1, timeout, org_id))[0]

    async def results_of(self, command_ids: Iterable[str], timeout: float = 30.0,
                         org_id: int | None = None) -> dict[str, ResultEvent]:
        """The first result of each command, awaited together within one `timeout`.

        Keys are the commandIds as given. Raises ResultTimeoutError naming how many (and
        some) had no result in time.
        """
        ids = list(dict.fromkeys(command_ids))
        waits = {asyncio.ensure_future(self.replies.wait(i, 1, None, org_id)): i for i in ids}
        if not waits:
            return {}
        done, pending = await asyncio.wait(waits, timeout=timeout)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        errors = [e for t in done if (e := t.exception()) is not None]
        if errors:  # the waits failed (the reader stopped): raise the first one's error
            raise errors[0]
        if pending:
            missing = [waits[t] for t in pending]
            raise ResultTimeoutError(f"{len(missing)} of {len(ids)} commands had no result "
                                     f"within {timeout}s, e.g. {missing[:3]}")
        return {waits[t]: t.result()[0] for t in done}

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
