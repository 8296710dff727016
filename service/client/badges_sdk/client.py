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
    MalformedResultError,
    Replies,
    ReplyLimits,
    ResultsUnavailableError,
    ResultTimeoutError,
    canonical,
)
from badges_sdk.retry import backoff
from badges_sdk.settings import KafkaSettings

__all__ = ["BadgesClient", "MalformedResultError", "OutgoingCommand", "ReplyLimits",
           "ResultTimeoutError", "ResultsUnavailableError", "SendManyError"]

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


class SendManyError(Exception):
    """send_many did not publish every command: `published` were acknowledged (in order),
    `unpublished` were handed to the producer but not acknowledged (they may or may not
    be on the topic: send them again with the same commandIds), and `handed` commands
    were taken from the iterable (those after them were not tried). The first failure is
    the cause."""

    def __init__(self, published: list[str], unpublished: list[str], handed: int,
                 cause: BaseException) -> None:
        super().__init__(f"send_many failed after handing {handed} commands to the producer "
                         f"({len(published)} acknowledged, {len(unpublished)} not): {cause!r}")
        self.published, self.unpublished, self.handed = published, unpublished, handed
        self.__cause__ = cause


class _Sending:
    """What send_many has handed over, and what the broker said of each."""

    def __init__(self) -> None:
        self.ids: list[str] = []
        self.in_flight: list[tuple[str, asyncio.Future[Any]]] = []
        self.failed: set[str] = set()
        self.error: BaseException | None = None

    def handed(self, command_id: str, delivery: asyncio.Future[Any]) -> None:
        self.ids.append(command_id)
        self.in_flight.append((command_id, delivery))

    def stopped(self, error: BaseException) -> None:
        self.error = self.error or error

    def reported(self, command_id: str, report: Any) -> None:
        if isinstance(report, BaseException):
            self.failed.add(command_id)
            self.stopped(report)

    def result(self) -> list[str]:
        if self.error is None:
            return self.ids
        published = [i for i in self.ids if i not in self.failed]
        unpublished = [i for i in self.ids if i in self.failed]
        raise SendManyError(published, unpublished, len(self.ids), self.error)


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

    async def reader_stopped(self) -> None:
        """Return once the results reader has stopped, for whatever reason (supervisors);
        at once if it never ran."""
        if self._reader is not None:
            await asyncio.wait([self._reader])

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
        # Before publishing: the answer cannot overtake it.
        self.replies.register(org_id, command_id)
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
        TimeoutError. Choose each command's `command_id` to make a retry idempotent: on any
        failure, SendManyError says which commands were acknowledged and which were not.
        """
        assert self._producer is not None, "call start() first"
        outcome = _Sending()
        try:
            for outgoing in commands:
                command_id, topic, value, key = outgoing.encoded(self.topics)
                self.replies.register(outgoing.org_id, command_id)
                # Waits only while the send buffer is full, and aiokafka bounds that wait
                # (and the metadata one) by request_timeout_ms, our network timeout.
                outcome.handed(command_id, await self._producer.send(topic, value, key=key))
                if len(outcome.in_flight) >= DELIVERY_CHUNK:
                    await self._delivered(outcome)
        except Exception as exc:
            outcome.stopped(exc)
        await self._delivered(outcome)
        return outcome.result()

    async def _delivered(self, outcome: _Sending) -> None:
        """Wait for the acknowledgements so far (bounded), then sort them."""
        pending, outcome.in_flight = outcome.in_flight, []
        futures = [future for _, future in pending]
        try:
            reports = await asyncio.wait_for(asyncio.gather(*futures, return_exceptions=True),
                                             self.settings.network_timeout_seconds)
        except TimeoutError as exc:
            reports = [exc] * len(pending)  # gather cancelled every one
        for (command_id, _), report in zip(pending, reports, strict=True):
            outcome.reported(command_id, report)

    async def send_raw(self, topic: str, value: bytes, key: bytes | None = None,
                       headers: list[tuple[str, bytes]] | None = None) -> None:
        """Publish bytes as they are (for tests and tools that speak the wire format)."""
        assert self._producer is not None, "call start() first"
        # asyncio.timeout, not wait_for: no task of its own per send (the gateway's hot path)
        async with asyncio.timeout(self.settings.network_timeout_seconds):
            await self._producer.send_and_wait(topic, value, key=key, headers=headers)

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
                      org_id: int | None = None, any_org: bool = False) -> list[ResultEvent]:
        """Wait until `count` result events for the command have arrived; return them all.

        Only results of `org_id` count (commandIds are unique per org only); without it,
        of the org this client sent the command for; `any_org=True` takes any org's (for
        tools reading others' results). Results that arrived before the wait count if this
        client sent the command (or waits for it), or if they are still in the
        recent-results cache (ReplyLimits). Raises ResultTimeoutError after `timeout`,
        ResultsUnavailableError at once if the reader is not running, MalformedResultError
        if a record with the command's id and org is not a result event, and ValueError
        for a command this client did not send when no org is named.
        """
        return await self.replies.wait(command_id, count, timeout, org_id, any_org)

    async def result(self, command_id: str, timeout: float = 30.0,
                     org_id: int | None = None, any_org: bool = False) -> ResultEvent:
        return (await self.results(command_id, 1, timeout, org_id, any_org))[0]

    async def results_of(self, command_ids: Iterable[str], timeout: float = 30.0,
                         org_id: int | None = None, any_org: bool = False
                         ) -> dict[str, ResultEvent]:
        """The first result of each command, awaited together within one `timeout`.

        Keys are the commandIds as given. Raises ResultTimeoutError naming how many (and
        some) had no result in time.
        """
        ids = list(dict.fromkeys(command_ids))
        waits = {asyncio.ensure_future(self.replies.wait(i, 1, None, org_id, any_org)): i
                 for i in ids}
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
                                     f"within {timeout}s, e.g. {missing[:3]}"
                                     f"{self.replies.drop_note()}")
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
