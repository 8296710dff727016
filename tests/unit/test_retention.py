"""The retention's bucket arithmetic and its comparison with the broker's settings."""

from __future__ import annotations

from service.store.expiry_policy import (
    BUCKET_SECONDS,
    BrokerRetention,
    bucket_in,
    bucket_of,
    chunk_id,
    deliverable,
    hours_of,
    last_expired_bucket,
    too_short,
)


def test_a_bucket_expires_once_all_of_it_is_older_than_the_retention() -> None:
    start = 1000 * BUCKET_SECONDS
    assert bucket_of(start) == bucket_of(start + BUCKET_SECONDS - 0.001) == 1000
    assert last_expired_bucket(start + BUCKET_SECONDS - 1 + 3600, 3600) == 999
    assert last_expired_bucket(start + BUCKET_SECONDS + 3600, 3600) == 1000


def test_chunk_ids_name_their_bucket() -> None:
    assert chunk_id(1000, 7) == "1000:7"
    assert bucket_in("1000:7") == 1000


def test_kafka_settings_in_hours() -> None:
    assert hours_of("offsets.retention.minutes", "10080") == 168
    assert hours_of("retention.ms", "604800000") == 168
    assert hours_of("retention.ms", "-1") is None


def test_retentions_the_log_does_not_exceed() -> None:
    broker = BrokerRetention(offsets_hours=168, topics_hours={"b": None, "a": 192})
    assert too_short(192, broker) == ["retention.ms of a = 192 h", "retention.ms of b = forever"]
    assert too_short(100, broker)[0] == "offsets.retention.minutes = 168 h"
    assert too_short(193, BrokerRetention(168, {"a": 168})) == []


def test_an_entry_is_deliverable_until_its_offset_is_below_its_partitions_earliest() -> None:
    earliest = {("claims", 0): 10, ("claims", 1): 0}
    assert not deliverable({"topic": "claims", "partition": 0, "offset": 9}, earliest)
    assert deliverable({"topic": "claims", "partition": 0, "offset": 10}, earliest)
    assert deliverable({"topic": "claims", "partition": 1, "offset": 0}, earliest)
    # A partition whose earliest offset was not read: kept, Kafka may still hold it.
    assert deliverable({"topic": "claims", "partition": 2, "offset": 0}, earliest)
    assert deliverable({"topic": "groups", "partition": 0, "offset": 0}, earliest)
    # Logged without an origin (or entry gone): its age alone decides, as before.
    assert not deliverable(None, earliest)
    assert not deliverable({}, earliest)
