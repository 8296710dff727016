"""Run the fuzz messages through a live worker and check everything it answered and stored.

`run(settings, messages, healthy)` publishes the messages as raw bytes (the create-topic
part first, then, once all of that part is answered, the rest: see `fuzz.messages`), reads
the results and dead-letter topics, and returns a `FuzzReport` of what the reference model
expected and what arrived. `healthy()` is called while waiting; it raises to stop early
(the worker died, or is retrying a batch that can never succeed).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from pymongo import AsyncMongoClient

from badges_sdk.kafka import connection_options
from tests.chaos.fuzz import UPDATES, FuzzMessage
from tests.chaos.model import Model, answers_match, stored_form

NETWORK_TIMEOUT = 30.0
Doc = dict[str, Any]


@dataclass
class FuzzReport:
    messages: int = 0
    kinds: dict[str, int] = field(default_factory=dict)  # valid / invalid / unreadable
    results: int = 0
    dead_letters: int = 0
    missing_answers: list[Doc] = field(default_factory=list)  # expected, never published
    wrong_answers: list[tuple[Doc, list[Doc]]] = field(default_factory=list)
    unexpected_results: list[Doc] = field(default_factory=list)
    missing_dead_letters: int = 0
    unexpected_dead_letters: int = 0
    state_mismatches: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not (self.missing_answers or self.wrong_answers or self.unexpected_results
                    or self.missing_dead_letters or self.unexpected_dead_letters
                    or self.state_mismatches)

    def summary(self) -> Doc:
        return {
            "messages": self.messages, **self.kinds, "results": self.results,
            "dead_letters": self.dead_letters, "missing_answers": len(self.missing_answers),
            "wrong_answers": len(self.wrong_answers),
            "unexpected_results": len(self.unexpected_results),
            "missing_dead_letters": self.missing_dead_letters,
            "unexpected_dead_letters": self.unexpected_dead_letters,
            "state_mismatches": len(self.state_mismatches), "seconds": round(self.seconds, 1),
        }


def topic_name(prefix: str, suffix: str) -> str:
    return f"{prefix}.{suffix}.v1"


async def _publish(options: Doc, prefix: str, messages: Sequence[FuzzMessage]) -> None:
    producer = AIOKafkaProducer(**options, acks="all", max_request_size=2 * 1024 * 1024)
    await asyncio.wait_for(producer.start(), NETWORK_TIMEOUT)
    try:
        futures = [await producer.send(topic_name(prefix, m.topic), m.value, key=m.key,
                                       timestamp_ms=m.timestamp_ms) for m in messages]
        await asyncio.wait_for(asyncio.gather(*futures), NETWORK_TIMEOUT)
    finally:
        await asyncio.wait_for(producer.stop(), NETWORK_TIMEOUT)


class _Reader:
    """Everything on the results and dead-letter topics, from the beginning."""

    def __init__(self, options: Doc, prefix: str) -> None:
        self.consumer = AIOKafkaConsumer(
            f"{prefix}.results.v1", f"{prefix}.dead-letter.v1", **options,
            group_id=None, auto_offset_reset="earliest",
        )
        self.results: list[Doc] = []
        self.letters: list[Doc] = []

    async def until(self, results: int, letters: int, timeout: float,
                    healthy: Callable[[], None]) -> None:
        deadline = time.monotonic() + timeout
        while len(self.results) < results or len(self.letters) < letters:
            healthy()
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(self.results)}/{results} results and "
                                   f"{len(self.letters)}/{letters} dead letters in {timeout}s")
            batches = await self.consumer.getmany(timeout_ms=500)
            for partition, records in batches.items():
                target = self.letters if "dead-letter" in partition.topic else self.results
                target += [json.loads(r.value) for r in records]


def _expected_counts(messages: Sequence[FuzzMessage]) -> tuple[int, int]:
    letters = sum(m.kind == "unreadable" for m in messages)
    return len(messages) - letters, letters


async def run(settings: Any, messages: Sequence[FuzzMessage], healthy: Callable[[], None],
              timeout: float = 120.0) -> FuzzReport:
    """Publish, wait for every answer, then compare answers and stored state with the model."""
    options, prefix = connection_options(settings), settings.topic_prefix
    split = next((i for i, m in enumerate(messages) if m.topic == UPDATES), len(messages))
    started = time.monotonic()
    reader = _Reader(options, prefix)
    await asyncio.wait_for(reader.consumer.start(), NETWORK_TIMEOUT)
    try:
        # The updates name groups the creates make: they go once the creates are answered.
        for start, end in ((0, split), (split, len(messages))):
            await _publish(options, prefix, messages[start:end])
            await reader.until(*_expected_counts(messages[:end]), timeout, healthy)
    finally:
        await reader.consumer.stop()
    model = Model()
    report = check(messages, reader.results, reader.letters, prefix, model)
    report.state_mismatches = await compare_state(settings, model)
    report.seconds = time.monotonic() - started
    return report


def check(messages: Sequence[FuzzMessage], results: list[Doc], letters: list[Doc],
          prefix: str, model: Model) -> FuzzReport:
    """Each message's answer (or dead letter) against the model's, as multisets; `model`
    (fresh) is left holding the state the messages must leave."""
    report = FuzzReport(messages=len(messages), results=len(results),
                        dead_letters=len(letters),
                        kinds=dict(Counter(m.kind for m in messages)))
    published: dict[str, list[Doc]] = defaultdict(list)
    for result in results:
        published[result["commandId"]].append(result)
    expected_letters: Counter[tuple[str, str]] = Counter()
    for m in messages:
        expected = model.apply_raw(m.value, m.timestamp_ms / 1000, m.topic)
        if expected is None:
            digest = hashlib.sha256(m.value or b"").hexdigest()
            expected_letters[(topic_name(prefix, m.topic), digest)] += 1
            continue
        candidates = published.get(expected["commandId"], [])
        match = next((r for r in candidates if answers_match(expected, r)), None)
        if match is not None:
            candidates.remove(match)
        elif candidates:
            report.wrong_answers.append((expected, list(candidates)))
        else:
            report.missing_answers.append(expected)
    report.unexpected_results = [r for left in published.values() for r in left]
    arrived = Counter((d["topic"], d["valueSha256"]) for d in letters)
    report.missing_dead_letters = sum((expected_letters - arrived).values())
    report.unexpected_dead_letters = sum((arrived - expected_letters).values())
    return report


async def compare_state(settings: Any, model: Model) -> list[str]:
    """Claims, groups and name reservations in MongoDB against the model's."""
    client: AsyncMongoClient[Doc] = AsyncMongoClient(settings.mongo_url, timeoutMS=30_000)
    try:
        db = client[settings.mongo_database]
        claims = {d["_id"]: stored_form(d) for d in await db["badge_claims"].find().to_list()}
        groups = {str(d["_id"]): stored_form(d) for d in await db["badge_groups"].find().to_list()}
        names = {(d["orgId"], d["name"]): str(d["groupId"])
                 for d in await db["group_names"].find().to_list()}
    finally:
        await client.close()
    mismatches = []
    for what, stored, expected in (("claim", claims, model.claims),
                                   ("group", groups, model.groups),
                                   ("name", names, model.names)):
        for key in sorted(set(stored) | set(expected), key=repr):
            if stored.get(key) != expected.get(key):
                mismatches.append(f"{what} {key!r}: stored {stored.get(key)!r}, "
                                  f"model {expected.get(key)!r}")
    return mismatches
