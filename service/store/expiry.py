"""The command log's expiry in MongoDB: chunks of keys per time bucket, and passes over them.

Collection `commands_expiry`:
- "<bucket>:<slot>"  a chunk: the keys of log entries marked done during that bucket (one
                     chunk per `mark_done`), slots taken in order from 0 in each of four
                     lanes (0, 4, 8, ...; 1, 5, 9, ...), one lane per process
- "cursor"           {bucket, slot}: where the next pass starts; every bucket before it is
                     expired, and the pages of its bucket before `slot`
Every read and write goes by `_id` equality or `$in` (FerretDB scans for anything else), so
a pass costs what it expires, whatever the size of the live log.

A pass step reads the cursor, then the next page of chunks of the oldest bucket that has
expired (older than now - retention). Each key found done whose command Kafka can no longer
deliver (its offset below its partition's earliest offset, read from the broker by the
caller; see retention.deliverable) is deleted from the log, then its done-marker (in that
order: an entry without its marker would look pending and be re-applied); a key logged but
still pending, or whose command is still in its topic, is recorded again in the current
bucket (kept, and looked at again one retention later). A bucket's chunks are deleted only
when the pass has found a page of it empty, then the cursor moves on: two workers' passes
that race, or a cursor moved back by the slower one, only redo work, and never skip a chunk.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError, PyMongoError

from service.store.expiry_policy import (
    SLOTS_PER_PAGE,
    Earliest,
    bucket_in,
    bucket_of,
    chunk_id,
    deliverable,
    last_expired_bucket,
    page_ids,
)

Doc = dict[str, Any]
CURSOR = "cursor"
MARKER_BUCKET = "bucket"  # in a done-marker: the bucket it was written in
BUCKETS_AHEAD = 64  # after a long idle spell, catch up in steps of this many buckets
DELETE_PAGE = 256  # chunk ids per delete of a finished bucket
# A process takes the slots of one lane (lane, lane + 4, ...), so that workers writing at
# the same time rarely want the same slot, and a bucket's chunks still leave no gap as
# long as a page (the pass stops at the first page that holds none).
LANES = 4


@dataclass(frozen=True)
class Step:
    """What one pass step did; `carried`: entries kept for a later look (pending, or their
    command still deliverable); `more`: there may be more to expire right away."""

    expired: int
    carried: int
    more: bool


def _any_id(ids: Iterable[Any]) -> Doc:
    return {"_id": {"$in": list(ids)}}


class CommandLogExpiry:
    def __init__(self, db: AsyncDatabase[Doc], log: AsyncCollection[Doc],
                 done: AsyncCollection[Doc], clock: Callable[[], float]) -> None:
        self.chunks = db["commands_expiry"]
        self.log = log
        self.done = done
        self.clock = clock
        self._cursor_written = False
        self._draw = random.Random()
        self.lane = self._draw.randrange(LANES)
        self._next = (-1, 0)  # (bucket, its next slot) of this process's chunks

    # -- recording (beside the done-markers) --------------------------------------------

    async def record(self, bucket: int, keys: Sequence[str]) -> None:
        """Keep the keys of entries marked done in `bucket`, to expire them one retention
        later."""
        if keys:
            await self._record_at(bucket, list(keys))

    async def _record_at(self, bucket: int, keys: list[str]) -> None:
        if not self._cursor_written:
            # Once per process: the first pass starts at the first bucket ever recorded.
            # Another worker's cursor, written first, is kept.
            with contextlib.suppress(DuplicateKeyError):
                await self.chunks.insert_one({"_id": CURSOR, "bucket": bucket, "slot": 0})
            self._cursor_written = True
        slot = self._take(bucket)
        while True:
            try:
                await self.chunks.insert_one({"_id": chunk_id(bucket, slot), "keys": keys})
                return
            except DuplicateKeyError:
                # Another worker writes in this lane: the next free slot of a lane drawn
                # anew (two workers that drew the same lane soon write in different ones).
                self.lane = self._draw.randrange(LANES)
                slot = await self._free_slot(bucket, slot + 1, self.lane)
                self._next = (bucket, slot + LANES)
            except PyMongoError:
                self._give_back(bucket, slot)  # no hole in the slots for a failed insert
                raise

    def _take(self, bucket: int) -> int:
        # Taken before the insert's await: this process's concurrent batches never collide.
        last_bucket, free = self._next
        slot = free if last_bucket == bucket else self.lane
        self._next = (bucket, slot + LANES)
        return slot

    def _give_back(self, bucket: int, slot: int) -> None:
        last_bucket, free = self._next
        if last_bucket == bucket:
            self._next = (bucket, min(free, slot))

    async def _free_slot(self, bucket: int, first: int, lane: int) -> int:
        """The first slot of `lane` from `first` that holds no chunk."""
        while True:
            ids = page_ids(bucket, first)
            taken = {d["_id"] async for d in self.chunks.find(_any_id(ids), {"_id": 1})}
            for number, chunk in enumerate(ids):
                if (first + number) % LANES == lane and chunk not in taken:
                    return first + number
            first += SLOTS_PER_PAGE

    # -- expiring ------------------------------------------------------------------------

    async def due(self, now: float, retention_seconds: float) -> bool:
        """Whether a step at `now` has a bucket to look at (the caller reads Kafka's
        earliest offsets only then)."""
        return await self._start(now, retention_seconds) is not None

    async def step(self, now: float, retention_seconds: float, earliest: Earliest) -> Step:
        """Expire one page of chunks, or finish a bucket and find the next one; bounded.

        `earliest`: each command partition's earliest offset, read from the broker before
        the pass (offsets only grow, so one read serves a whole pass)."""
        start = await self._start(now, retention_seconds)
        if start is None:
            return Step(0, 0, more=False)
        bucket, slot, last = start
        chunks = await self.chunks.find(_any_id(page_ids(bucket, slot))).to_list()
        if chunks:
            expired, carried = await self._expire(bucket, chunks, now, earliest)
            await self._move_cursor(bucket, slot + SLOTS_PER_PAGE)
            return Step(expired, carried, more=True)
        await self._delete_chunks(bucket, slot)
        following = await self._next_bucket(bucket + 1, last)
        await self._move_cursor(following, 0)
        return Step(0, 0, more=following <= last)

    async def _start(self, now: float, retention_seconds: float
                     ) -> tuple[int, int, int] | None:
        """(bucket, slot) where the next step starts and the last expired bucket; None when
        nothing was ever recorded or the cursor's bucket has not expired yet."""
        cursor = await self.chunks.find_one({"_id": CURSOR})
        last = last_expired_bucket(now, retention_seconds)
        if cursor is None or cursor["bucket"] > last:
            return None
        return cursor["bucket"], cursor["slot"], last

    async def _next_bucket(self, first: int, last: int) -> int:
        """The first bucket from `first` to `last` that has chunks, looking a bounded number
        of buckets ahead (after an idle spell, most have none); past them if none has."""
        ahead = range(first, min(last, first + BUCKETS_AHEAD - 1) + 1)
        if not ahead:
            return first  # an empty `$in` is not served by FerretDB's index: a scan
        ids = [chunk_id(b, s) for b in ahead for s in range(SLOTS_PER_PAGE)]
        found = [d["_id"] async for d in self.chunks.find(_any_id(ids), {"_id": 1})]
        return min((bucket_in(c) for c in found), default=ahead.stop)

    async def _expire(self, bucket: int, chunks: Sequence[Doc], now: float,
                      earliest: Earliest) -> tuple[int, int]:
        """Delete the chunks' done entries that Kafka cannot deliver again; record the
        pending ones and those whose command is still in its topic again."""
        keys = sorted({key for chunk in chunks for key in chunk["keys"]})
        markers = [d async for d in self.done.find(_any_id(keys))]
        origins = {d["_id"]: d.get("origin")
                   async for d in self.log.find(_any_id(keys), {"origin": 1})}
        # A marker of a later bucket belongs to a newer entry of the same key (logged again
        # after this one expired, while this chunk was looked at again): its own chunk
        # expires it. Markers of the previous release have no bucket.
        done = {m["_id"] for m in markers if m.get(MARKER_BUCKET, bucket) <= bucket}
        pending = origins.keys() - {m["_id"] for m in markers}
        # A marker whose entry is gone (a pass stopped between the two deletes) has no
        # origin: it goes.
        gone = {k for k in done if not deliverable(origins.get(k), earliest)}
        if gone:
            await self.log.delete_many(_any_id(gone))
            await self.done.delete_many(_any_id(gone))
        kept = sorted(pending | (done - gone))
        if kept:
            await self._record_at(bucket_of(now), kept)
        return len(gone), len(kept)

    async def _delete_chunks(self, bucket: int, slots: int) -> None:
        """Every chunk of a bucket whose pages before `slots` were expired."""
        for first in range(0, slots, DELETE_PAGE):
            last = min(first + DELETE_PAGE, slots)
            await self.chunks.delete_many(
                _any_id(chunk_id(bucket, s) for s in range(first, last)))

    async def _move_cursor(self, bucket: int, slot: int) -> None:
        await self.chunks.update_one({"_id": CURSOR}, {"$set": {"bucket": bucket, "slot": slot}})
