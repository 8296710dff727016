"""One agent's commands in batches, in two overlapping stages: store, then publish and ack.

Batches form by themselves: the store stage takes every command that has arrived, up to
the batch size, as soon as it is free. An idle worker stores a lone command at once (or
after the batch window, if one is set: none by default); under load the commands that
arrive while a batch is stored make the next one, so batches grow with the load.
While batch N's results wait for the broker, batch N+1 is stored, and faust fills the
queue with the commands after it.

Order and the guarantees are those of one batch at a time: batches are stored one by one
in arrival order (the next reads what the previous wrote); a batch's results are sent
after those of the batch before it and only once its effects are durable, while its log
entries are marked done; its offsets are acknowledged only after both. Each stage retries
until it succeeds, so an outage blocks the pipeline and skips nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from functools import partial
from typing import Any

from service.retry import retry
from service.settings import Settings
from service.worker.handler import Outgoing, Stored
from service.worker.metrics import BATCH_DURATION, BATCH_SIZE, LAST_BATCH, count_published

Store = Callable[[Sequence[Any]], Awaitable[Stored]]
Publish = Callable[[Sequence[Outgoing]], Awaitable[None]]
MarkDone = Callable[[Sequence[str]], Awaitable[None]]
Ack = Callable[[Any], Awaitable[Any]]


class BatchPipeline:
    def __init__(self, settings: Settings, name: str, store: Store, publish: Publish,
                 mark_done: MarkDone, ack: Ack) -> None:
        self._settings = settings
        self._name = name
        self._store = store
        self._publish = publish
        self._mark_done = mark_done
        self._ack = ack
        # Room for the next batch while one is stored: faust waits when it is full.
        self._queue: asyncio.Queue[Any] = asyncio.Queue(maxsize=settings.batch_size)
        self._runner: asyncio.Task[None] | None = None

    async def put(self, event: Any) -> None:
        """Hand one event over; waits while the pipeline is full."""
        if self._runner is None:
            self._runner = asyncio.create_task(self._run())
        elif self._runner.done():
            self._runner.result()  # it never returns; re-raise what stopped it, here
        await self._queue.put(event)

    async def close(self) -> None:
        """Stop working; what was not acknowledged is delivered again after a restart."""
        if self._runner is not None:
            self._runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._runner

    async def _next_batch(self) -> list[Any]:
        """Whatever has arrived, up to the batch size; waits only for the first event,
        then up to the batch window (if set) for more."""
        events = [await self._queue.get()]
        deadline = asyncio.get_running_loop().time() + self._settings.batch_window_seconds
        while len(events) < self._settings.batch_size:
            if not self._queue.empty():
                events.append(self._queue.get_nowait())
                continue
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                break
            try:
                events.append(await asyncio.wait_for(self._queue.get(), left))
            except TimeoutError:
                break
        return events

    async def _run(self) -> None:
        sending: asyncio.Task[None] | None = None
        try:
            while True:
                events = await self._next_batch()
                BATCH_SIZE.observe(len(events))
                what = f"batch of {len(events)} from {self._name}"
                about = _first_message(events)
                with BATCH_DURATION.labels("store").time():
                    stored = await retry(self._settings, what, partial(self._store, events),
                                         operation="store", about=about)
                LAST_BATCH.set_to_current_time()
                if sending is not None:
                    await sending  # the previous batch's results go first
                sending = asyncio.create_task(self._send(what, stored, events, about))
        finally:
            if sending is not None:
                sending.cancel()

    async def _send(self, what: str, stored: Stored, events: Sequence[Any],
                    about: dict[str, object]) -> None:
        with BATCH_DURATION.labels("send").time():
            await asyncio.gather(
                retry(self._settings, f"results of {what}",
                      partial(self._publish, stored.out), operation="publish", about=about),
                retry(self._settings, f"done-markers of {what}",
                      partial(self._mark_done, stored.done), operation="mark_done",
                      about=about),
            )
        count_published(stored.outcomes)
        for event in events:
            await self._ack(event)


def _first_message(events: Sequence[Any]) -> dict[str, object]:
    """Where the batch starts, for its log lines (faust events; tests may pass others)."""
    message = getattr(events[0], "message", None)
    if message is None:
        return {}
    return {"topic": message.topic, "partition": message.partition, "offset": message.offset}
