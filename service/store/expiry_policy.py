"""The command log's retention: time buckets and the broker settings it must outlive. Pure.

Entries are expired by time bucket: when a batch's entries are marked done, their keys are
recorded in a chunk document of the bucket of that moment, `_id` "<bucket>:<slot>", slots
taken in order from 0 (in lanes: service/store/expiry.py), leaving no gap of a page.
A bucket's chunks are thus found by `_id $in` of consecutive slots (the only lookups
FerretDB serves from an index), page by page until a page holds none, without a range or
a scan of the live log.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

BUCKET_SECONDS = 600  # 10 minutes: a bucket expires at most this long after its first entry
SLOTS_PER_PAGE = 16  # chunks read (and expired) per step: at most 16 batches of keys
HOUR = 3600.0

# Each partition's earliest offset, {(topic, partition): offset}: the oldest message Kafka
# can still deliver, as the worker read it from the broker for one expiry pass.
Earliest = Mapping[tuple[str, int], int]

# Kafka's defaults (offsets.retention.minutes = 7 days, log.retention.hours = 168).
KAFKA_OFFSETS_RETENTION = "offsets.retention.minutes"
KAFKA_TOPIC_RETENTION = "retention.ms"


def bucket_of(at: float) -> int:
    """The bucket holding the moment `at` (seconds since the epoch)."""
    return int(at // BUCKET_SECONDS)


def last_expired_bucket(now: float, retention_seconds: float) -> int:
    """The newest bucket whose every moment is older than `now - retention_seconds`."""
    return bucket_of(now - retention_seconds) - 1


def chunk_id(bucket: int, slot: int) -> str:
    return f"{bucket}:{slot}"


def bucket_in(chunk: str) -> int:
    """The bucket of a chunk id."""
    return int(chunk.split(":", 1)[0])


def page_ids(bucket: int, first_slot: int) -> list[str]:
    """The chunk ids of one page of a bucket, from `first_slot`."""
    return [chunk_id(bucket, s) for s in range(first_slot, first_slot + SLOTS_PER_PAGE)]


def deliverable(origin: Mapping[str, Any] | None, earliest: Earliest) -> bool:
    """Whether Kafka may still deliver again the command a log entry was read from.

    Its offset at or past its partition's earliest offset, or a partition whose earliest
    offset was not read (a topic the worker does not consume now): yes, keep the entry.
    No origin (an entry written without one): no, it expires by its age alone, as before.
    """
    if not origin or "offset" not in origin:
        return False
    first = earliest.get((origin["topic"], origin["partition"]))
    return first is None or origin["offset"] >= first


@dataclass(frozen=True)
class BrokerRetention:
    """What the broker keeps, in hours; None when it keeps it forever (-1)."""

    offsets_hours: float | None
    topics_hours: dict[str, float | None]


def hours_of(config: str, value: str) -> float | None:
    """A Kafka retention setting's value in hours; None for "forever" (negative)."""
    number = float(value)
    if number < 0:
        return None
    return number / 60 if config == KAFKA_OFFSETS_RETENTION else number / 3_600_000


def too_short(retention_hours: float, broker: BrokerRetention) -> list[str]:
    """The broker retentions that the command log's retention does not exceed."""
    kept = {KAFKA_OFFSETS_RETENTION: broker.offsets_hours} | {
        f"{KAFKA_TOPIC_RETENTION} of {topic}": hours for topic, hours in
        sorted(broker.topics_hours.items())}
    return [f"{name} = {'forever' if hours is None else f'{hours:g} h'}"
            for name, hours in kept.items() if hours is None or hours >= retention_hours]
