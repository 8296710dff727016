"""`badges dlq replay`: send dead-lettered commands again, after a fix or an upgrade.

A dead letter holds where its message was (topic, partition, offset), its key, and the
SHA-256 of its bytes, not the bytes themselves (those may be as large as Kafka allows).
Replay reads the original record back from its topic, checks it against that digest, and
publishes the same bytes with the same key to the same topic, with a header
`badges-replay-of: <topic>/<partition>/<offset>`. The worker then treats it as any
delivery: a command it already answered is answered again from its command log, never
applied twice, so running replay twice is safe. A message the topic no longer holds
(retention) or whose bytes changed is reported, not sent.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime

from aiokafka import AIOKafkaConsumer, TopicPartition
from pydantic import ValidationError

from badges_schemas import Topics
from badges_schemas.results import DeadLetter
from badges_sdk import kafka
from badges_sdk.client import BadgesClient
from service.settings import Settings

REPLAY_HEADER = "badges-replay-of"


@dataclass(frozen=True)
class Filters:
    """Which dead letters to replay; None: any."""

    reason: re.Pattern[str] | None = None
    topic: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    command_id: str | None = None

    def take(self, letter: DeadLetter) -> bool:
        """Whether the letter's own fields pass (the commandId needs the original: names)."""
        when = letter.timestamp
        if self.reason is not None and not self.reason.search(letter.reason):
            return False
        if self.topic is not None and letter.topic != self.topic:
            return False
        if self.since is not None and (when is None or when < self.since.timestamp()):
            return False
        return self.until is None or (when is not None and when < self.until.timestamp())

    def names(self, original: bytes | None) -> bool:
        """Whether the original names the commandId asked for (its bytes may be no JSON)."""
        return self.command_id is None or (
            original is not None and self.command_id.encode() in original)


@dataclass(frozen=True)
class Replayed:
    letter: DeadLetter
    outcome: str  # "sent", "would send", or why not

    def json(self) -> str:
        return json.dumps({"topic": self.letter.topic, "partition": self.letter.partition,
                           "offset": self.letter.offset, "reason": self.letter.reason,
                           "outcome": self.outcome})


async def replay(settings: Settings, filters: Filters, dry_run: bool
                 ) -> AsyncIterator[Replayed]:
    """Each dead letter the filters take, and what became of it."""
    topics = Topics(settings.topic_prefix)
    reader = BadgesClient(settings, from_beginning=True)
    async with _Originals(settings) as originals, BadgesClient(settings) as sender:
        async for record in reader.records(topics.dead_letters):
            try:
                letter = DeadLetter.model_validate_json(record.value or b"")
            except ValidationError:
                continue  # not a dead letter of ours: `badges dlq` shows it
            if not filters.take(letter):
                continue
            original, key = await originals.fetch(letter)
            if not filters.names(original):
                continue
            if original is None or hashlib.sha256(original).hexdigest() != letter.valueSha256:
                yield Replayed(letter, "not sent: the topic no longer holds these bytes")
                continue
            if not dry_run:
                await sender.send_raw(letter.topic, original, key, headers=[
                    (REPLAY_HEADER, f"{letter.topic}/{letter.partition}/"
                                    f"{letter.offset}".encode())])
            yield Replayed(letter, "would send" if dry_run else "sent")


class _Originals:
    """Reads single records back by position, with one consumer."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._consumer = AIOKafkaConsumer(**kafka.connection_options(settings),
                                          enable_auto_commit=False)

    async def __aenter__(self) -> _Originals:
        await asyncio.wait_for(self._consumer.start(), self._settings.network_timeout_seconds)
        return self

    async def __aexit__(self, *_: object) -> None:
        await asyncio.wait_for(self._consumer.stop(), self._settings.network_timeout_seconds)

    async def fetch(self, letter: DeadLetter) -> tuple[bytes | None, bytes | None]:
        """(value, key) of the record at the letter's position; (None, None) if gone."""
        where = TopicPartition(letter.topic, letter.partition)
        timeout = self._settings.network_timeout_seconds
        self._consumer.assign([where])
        start = await asyncio.wait_for(self._consumer.beginning_offsets([where]), timeout)
        if letter.offset < start[where]:
            return None, None
        self._consumer.seek(where, letter.offset)
        batches = await asyncio.wait_for(
            self._consumer.getmany(where, timeout_ms=int(timeout * 1000), max_records=1),
            timeout + 5)
        records = batches.get(where, [])
        if not records or records[0].offset != letter.offset:
            return None, None
        return records[0].value, records[0].key
