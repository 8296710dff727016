"""The command log's retention, on the real MongoDB-protocol server, with a fake clock.

Entries are logged and marked done at fake times through the handler and the store, then
expiry passes run at later fake times: what is gone and what stays is checked exactly.
The ages come from the fake clock; whether Kafka can still deliver a command comes from a
mapping of earliest offsets: made up here, and read from the real broker, on a topic that
deletes a segment during the test, in the last test.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, cast

import pytest
from aiokafka.admin import NewTopic
from bson import ObjectId
from pymongo import AsyncMongoClient, monitoring
from pymongo.asynchronous.database import AsyncDatabase

from badges_schemas import parse
from badges_sdk import kafka
from service.settings import Settings
from service.store.expiry import CommandLogExpiry, Step
from service.store.expiry_policy import BUCKET_SECONDS, HOUR, Earliest, bucket_of
from service.store.mongo import Store
from service.worker.handler import Incoming, Origin, Outgoing, handle_batch, store_batch
from service.worker.kafka import earliest_offsets
from tests.infra.containers import Servers

pytestmark = pytest.mark.integration

ORG = 77
RETENTION = 192 * HOUR
T0 = 1_800_000_000.0  # a fake "now" when the first entries are logged
# Earliest offsets past every command these tests log: Kafka can deliver none of them again.
GONE = {("claims", 0): 1_000_000}


class Clock:
    """The store's clock, moved by the test."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _raw(kind: str, badge: str, command_id: str) -> bytes:
    return json.dumps({"commandId": command_id, "type": kind, "orgId": ORG, "actorId": 1,
                       "payload": {"badgeId": badge, "ownerType": "Loyalty",
                                   "referenceId": "r"}}).encode()


def _command(kind: str, badge: str, command_id: str, offset: int,
             topic: str = "claims") -> Incoming:
    raw = _raw(kind, badge, command_id)
    return Incoming(parse(raw), badge.encode(), raw, Origin(topic, 0, offset, T0))


def _key(command_id: str) -> str:
    return f"{ORG}:{command_id}"


async def _ids(db: AsyncDatabase[dict], collection: str) -> set[str]:
    return {d["_id"] async for d in db[collection].find({}, {"_id": 1})}


async def _expire_all(expiry: CommandLogExpiry, now: float, earliest: Earliest = GONE
                      ) -> list[Step]:
    """Steps until a step says there is nothing more to do now."""
    steps = [await expiry.step(now, RETENTION, earliest)]
    while steps[-1].more:
        steps.append(await expiry.step(now, RETENTION, earliest))
    return steps


async def _claimed(store: Store, clock: Clock, at: float, count: int) -> list[str]:
    """`count` claims of new badges, logged and marked done at `at`; their command ids."""
    clock.now = at
    ids = [str(uuid.uuid4()) for _ in range(count)]
    await handle_batch([_command("ClaimBadge", str(ObjectId()), i, n)
                        for n, i in enumerate(ids)], store)
    return ids


async def test_done_entries_expire_after_the_retention_pending_ones_stay(
    mongo_db: AsyncDatabase[dict]
) -> None:
    clock = Clock(T0)
    store = Store(mongo_db, clock=clock)
    badge = str(ObjectId())
    # Logged and marked done by the previous release: no chunk, no bucket in the marker.
    legacy_id = str(uuid.uuid4())
    legacy = {"_id": _key(legacy_id), "result": json.dumps({"commandId": legacy_id}),
              "effects": [], "origin": {"topic": "claims", "partition": 0, "offset": 0}}
    await mongo_db["commands"].insert_one(legacy)
    await mongo_db["commands_done"].insert_one({"_id": legacy["_id"]})
    # At T0: a claim, and an unclaim of it (the one redelivered after its expiry below).
    claim_id, unclaim_id = str(uuid.uuid4()), str(uuid.uuid4())
    first = await handle_batch([_command("ClaimBadge", badge, claim_id, 0),
                                _command("UnclaimBadge", badge, unclaim_id, 1)], store)
    old = await _claimed(store, clock, T0 + 60, 3)
    # A pending entry whose keys were recorded but whose marker was not stored (the
    # marker insert failed and the worker died before retrying it).
    clock.now = T0 + 120
    pending_id = str(uuid.uuid4())
    stored = await store_batch([_command("ClaimBadge", str(ObjectId()), pending_id, 9)],
                               Store(mongo_db, clock=clock))
    await store.expiry.record(bucket_of(clock.now), stored.done)
    recent = await _claimed(store, clock, T0 + 2 * HOUR, 2)
    all_logged = {_key(i) for i in [legacy_id, claim_id, unclaim_id, *old, pending_id,
                                    *recent]}
    assert await _ids(mongo_db, "commands") == all_logged

    # Just before the retention has passed for the bucket of T0: nothing goes.
    steps = await _expire_all(store.expiry, T0 + RETENTION)
    assert sum(s.expired for s in steps) == 0
    assert await _ids(mongo_db, "commands") == all_logged

    # A retention and a bucket after T0 + 120: the entries of T0's bucket that are done go,
    # log entries and markers; the pending one stays (recorded again for later).
    later = T0 + 120 + RETENTION + BUCKET_SECONDS
    steps = await _expire_all(store.expiry, later)
    assert (sum(s.expired for s in steps), sum(s.carried for s in steps)) == (5, 1)
    kept = {_key(legacy_id), _key(pending_id), *(_key(i) for i in recent)}
    assert await _ids(mongo_db, "commands") == kept
    assert await _ids(mongo_db, "commands_done") == {_key(legacy_id), *map(_key, recent)}
    # A second pass at the same time finds nothing more (idempotent).
    assert sum(s.expired + s.carried for s in await _expire_all(store.expiry, later)) == 0

    # The unclaim arrives again after its expiry: treated as new, so decided again (the
    # claim is inactive now: 737), while a repeat of a kept command is answered from the log.
    clock.now = later
    fresh = Store(mongo_db, clock=clock)
    again = await handle_batch([_command("UnclaimBadge", badge, unclaim_id, 20),
                                _command("ClaimBadge", str(ObjectId()), recent[0], 21)], fresh)
    assert json.loads(first[1].value)["errors"] == []
    assert [e["code"] for e in json.loads(again[0].value)["errors"]] == [737]
    assert json.loads(again[1].value)["commandId"] == recent[0]
    assert await _ids(mongo_db, "commands") == kept | {_key(unclaim_id)}

    # Redelivered, the pending entry is applied and marked done; one retention after that,
    # everything is gone but the cursor and the previous release's entry (never expired).
    await handle_batch([_command("ClaimBadge", str(ObjectId()), pending_id, 22)], fresh)
    end = later + RETENTION + BUCKET_SECONDS
    steps = await _expire_all(store.expiry, end)
    assert (sum(s.expired for s in steps), sum(s.carried for s in steps)) == (4, 0)
    for collection in ("commands", "commands_done"):
        assert await _ids(mongo_db, collection) == {_key(legacy_id)}
    assert await _ids(mongo_db, "commands_expiry") == {"cursor"}
    assert (await fresh.find_logged([_key(legacy_id)]))[_key(legacy_id)].pending is False


async def test_two_workers_recording_and_expiring_at_once_lose_nothing(
    mongo_db: AsyncDatabase[dict]
) -> None:
    clock = Clock(T0)
    workers = [Store(mongo_db, clock=clock), Store(mongo_db, clock=clock)]
    for worker in workers:
        worker.expiry.lane = 0  # both want the same slots: one moves to a free one
    # Both log into the same bucket at once, more chunks than a page holds.
    batches = await asyncio.gather(*(_claimed(w, clock, T0, 2) for w in workers * 12))
    logged = {_key(i) for ids in batches for i in ids}
    assert len(await _ids(mongo_db, "commands_expiry")) == 1 + 24  # cursor + one per batch
    late = T0 + RETENTION + BUCKET_SECONDS
    survivor = await _claimed(workers[0], clock, late, 1)
    steps = await asyncio.gather(*(_expire_all(w.expiry, late) for w in workers))
    # Both passes may delete the same entry; each entry is deleted by at least one.
    assert sum(s.expired for run in steps for s in run) >= len(logged)
    assert await _ids(mongo_db, "commands") == {_key(survivor[0])}
    assert await _ids(mongo_db, "commands_done") == {_key(survivor[0])}


class _Commands(monitoring.CommandListener):
    def __init__(self) -> None:
        self.seen: list[tuple[str, Any]] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        command = event.command
        if event.command_name in ("find", "delete", "update"):
            filters = ([command["filter"]] if event.command_name == "find" else
                       [s["q"] for s in command.get("deletes", command.get("updates", []))])
            self.seen.extend((event.command_name, f) for f in filters)
        elif event.command_name == "insert":
            self.seen.append(("insert", len(command.get("documents", []))))

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


@pytest.fixture
async def watched(stack: Servers, mongo_db: AsyncDatabase[dict]
                  ) -> AsyncIterator[tuple[Store, _Commands]]:
    """A store on `mongo_db` through a client that records every command it sends."""
    listener = _Commands()
    client: AsyncMongoClient[dict] = AsyncMongoClient(stack.mongo_url, timeoutMS=10_000,
                                                      event_listeners=[listener])
    try:
        yield Store(client[mongo_db.name], clock=Clock(T0)), listener
    finally:
        await client.close()


async def test_a_pass_reads_by_id_only_and_as_much_as_it_expires(
    mongo_db: AsyncDatabase[dict], watched: tuple[Store, _Commands]
) -> None:
    store, commands = watched
    clock = Clock(T0)
    writer = Store(mongo_db, clock=clock)
    expiring = await _claimed(writer, clock, T0, 5)
    # Many live entries, done when the pass runs (so not expired by it).
    now = T0 + RETENTION + BUCKET_SECONDS
    live = [f"{ORG}:{uuid.uuid4()}" for _ in range(2000)]
    await mongo_db["commands"].insert_many([{"_id": k, "result": "{}", "effects": "[]"}
                                            for k in live])
    clock.now = now
    for first in range(0, len(live), 100):
        await writer.mark_done(live[first:first + 100])
    commands.seen.clear()

    steps = await _expire_all(store.expiry, now)
    assert sum(s.expired for s in steps) == len(expiring)
    touched: set[str] = set()
    for name, query in commands.seen:
        assert name != "insert", "an expiry pass with nothing pending writes nothing new"
        assert set(query) == {"_id"}, f"{name} {query}: not by _id alone"
        wanted = query["_id"]
        # An empty $in is not pushed down to FerretDB's index either: a scan.
        assert isinstance(wanted, str) or (set(wanted) == {"$in"} and wanted["$in"]), \
            f"{name} {query}"
        touched |= {wanted} if isinstance(wanted, str) else set(wanted["$in"])
    # What it read and deleted: the cursor, chunk ids and the expired keys; no live entry.
    assert {_key(i) for i in expiring} <= touched
    assert not touched & set(live)
    assert await _ids(mongo_db, "commands") == set(live)


class _PassBeforeMarkersAreRead:
    """The done-markers collection, but an expiry pass runs before each read of it."""

    def __init__(self, markers: Any, expire: Callable[[], Awaitable[object]]) -> None:
        self.markers = markers
        self.expire = expire

    def find(self, *args: Any, **kwargs: Any) -> AsyncIterator[dict]:
        async def rows() -> AsyncIterator[dict]:
            await self.expire()
            async for doc in self.markers.find(*args, **kwargs):
                yield doc
        return rows()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.markers, name)


async def test_an_entry_expired_while_it_is_looked_up_is_new_not_pending(
    mongo_db: AsyncDatabase[dict]
) -> None:
    clock = Clock(T0)
    writer = Store(mongo_db, clock=clock)
    badge, claim_id, unclaim_id = str(ObjectId()), str(uuid.uuid4()), str(uuid.uuid4())
    await handle_batch([_command("ClaimBadge", badge, claim_id, 0),
                        _command("UnclaimBadge", badge, unclaim_id, 1)], writer)
    # The redelivered unclaim is looked up in the log just before the pass deletes its
    # entry, and its marker just after: it must not be taken for a pending entry (whose
    # effects would be applied again), but for a new command.
    clock.now = T0 + RETENTION + BUCKET_SECONDS
    reader = Store(mongo_db, clock=clock)
    reader.done = cast(Any, _PassBeforeMarkersAreRead(
        reader.done, lambda: _expire_all(writer.expiry, clock.now)))
    [answer] = await handle_batch([_command("UnclaimBadge", badge, unclaim_id, 2)], reader)
    assert [e["code"] for e in json.loads(answer.value)["errors"]] == [737]


# A topic that deletes a segment during the test. Its first commands are stamped an hour ago:
# the segment holding them is past the topic's retention (10 minutes) at the broker's next
# check (every second on the test broker, tests/infra/containers.py), while the segment
# rolled for the commands stamped now (older first record than segment.ms) is not.
SHORT_LIVED = {"retention.ms": str(600_000), "segment.ms": str(1_000)}
KAFKA_TIMEOUT = 60.0


async def _publish(settings: Settings, topic: str, commands: list[tuple[str, str, str]],
                   stamped_ms: int | None = None) -> list[Incoming]:
    """Publish (kind, badge, command id)s one after the other; the worker's view of each."""
    producer = kafka.producer(settings)
    await asyncio.wait_for(producer.start(), KAFKA_TIMEOUT)
    read = []
    try:
        for kind, badge, command_id in commands:
            sent = await asyncio.wait_for(producer.send_and_wait(
                topic, _raw(kind, badge, command_id), key=badge.encode(),
                timestamp_ms=stamped_ms), KAFKA_TIMEOUT)
            read.append(_command(kind, badge, command_id, sent.offset, topic))
    finally:
        await asyncio.wait_for(producer.stop(), KAFKA_TIMEOUT)
    return read


async def _earliest_past(settings: Settings, topic: str, offset: int) -> Earliest:
    """The broker's earliest offsets, once the topic's first offset is past `offset`."""
    deadline = time.monotonic() + KAFKA_TIMEOUT
    while (found := await earliest_offsets(settings, [topic])).get((topic, 0), 0) <= offset:
        assert time.monotonic() < deadline, f"{topic} kept its first segment: {found}"
        await asyncio.sleep(0.2)  # bounded by the deadline
    return found


def _values(answers: list[Outgoing]) -> list[bytes | None]:
    return [a.value for a in answers]


async def test_an_entry_expires_only_once_kafka_cannot_deliver_its_command_again(
    settings: Settings, mongo_db: AsyncDatabase[dict]
) -> None:
    topic = f"{settings.topic_prefix}.claims"
    async with kafka.admin_client(settings) as admin:
        await asyncio.wait_for(admin.create_topics(
            [NewTopic(topic, 1, 1, topic_configs=SHORT_LIVED)]), KAFKA_TIMEOUT)
    badge = str(ObjectId())
    hour_ago = int((time.time() - HOUR) * 1000)
    dropped = await _publish(settings, topic, [("ClaimBadge", badge, str(uuid.uuid4())),
                                               ("UnclaimBadge", badge, str(uuid.uuid4()))],
                             hour_ago)
    # Still in the topic: a claim and its unclaim.
    other, kept_ids = str(ObjectId()), [str(uuid.uuid4()) for _ in range(2)]
    held = await _publish(settings, topic, [("ClaimBadge", other, kept_ids[0]),
                                            ("UnclaimBadge", other, kept_ids[1])])
    clock = Clock(T0)
    store = Store(mongo_db, clock=clock)
    first = await handle_batch([*dropped, *held], store)
    # An entry logged without its origin (by an older writer): its age alone decides.
    unknown = _key(str(uuid.uuid4()))
    await mongo_db["commands"].insert_one({"_id": unknown, "result": "{}", "effects": "[]"})
    await store.mark_done([unknown])
    earliest = await _earliest_past(settings, topic, dropped[-1].origin.offset)
    assert earliest == {(topic, 0): held[0].origin.offset}, "one segment deleted, not both"

    # Kafka cannot deliver the first two again, but the retention has not passed: all stay.
    steps = await _expire_all(store.expiry, T0 + RETENTION, earliest)
    assert sum(s.expired + s.carried for s in steps) == 0
    # Past the retention: what Kafka cannot deliver again goes; the commands it still holds
    # keep their entries, recorded again to be looked at one retention later.
    later = T0 + RETENTION + BUCKET_SECONDS
    steps = await _expire_all(store.expiry, later, earliest)
    assert (sum(s.expired for s in steps), sum(s.carried for s in steps)) == (3, 2)
    assert await _ids(mongo_db, "commands") == {_key(i) for i in kept_ids}
    assert await _ids(mongo_db, "commands_done") == {_key(i) for i in kept_ids}
    end = later + RETENTION + BUCKET_SECONDS
    steps = await _expire_all(store.expiry, end, await earliest_offsets(settings, [topic]))
    assert (sum(s.expired for s in steps), sum(s.carried for s in steps)) == (0, 2)

    # Delivered again (a group that lost its offsets starts from the earliest offset), the
    # claim still in the topic is answered from the log, byte for byte, and not applied
    # again: its badge stays unclaimed (decided anew, it would be claimed again).
    clock.now = end
    again = await handle_batch(held[:1], Store(mongo_db, clock=clock))
    assert _values(again) == _values(first[len(dropped):][:1])
    assert [d["isActive"] async for d in mongo_db["badge_claims"].find(
        {"badgeMetaId": ObjectId(other)})] == [False]
