"""The worker's connections, opened inside the running event loop and closed on stop."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import mode
from aiokafka import AIOKafkaProducer

from schemas import Topics
from service import kafka
from service.handler import Outgoing
from service.settings import Settings
from service.store import Store, connect


class Runtime(mode.Service):
    """Mongo store and result producer, shared by the agents of one worker."""

    def __init__(self, settings: Settings, **kwargs: Any) -> None:
        self.settings = settings
        self.topics = Topics(settings.topic_prefix)
        self._store: Store | None = None
        self._producer: AIOKafkaProducer | None = None
        self._lock = asyncio.Lock()
        super().__init__(**kwargs)

    async def ready(self) -> Store:
        """Connect on first use; agents may start before this service does."""
        async with self._lock:
            if self._store is None:
                self._producer = kafka.producer(self.settings)
                timeout = self.settings.network_timeout_seconds
                await asyncio.wait_for(self._producer.start(), timeout)
                client = connect(self.settings)
                store = Store(client[self.settings.mongo_database], fence=self.settings.write_fence)
                await store.ensure_indexes()
                self._store = store
        return self._store

    async def publish(self, messages: Sequence[Outgoing]) -> None:
        """Send the batch's results and dead letters; return once the broker has them all."""
        assert self._producer is not None
        # send() itself can wait (for metadata, or room in the buffer), so it is bounded too.
        await asyncio.wait_for(send_all(self._producer, self.topics, messages),
                               self.settings.network_timeout_seconds)

    async def on_stop(self) -> None:
        if self._producer is not None:
            await asyncio.wait_for(self._producer.stop(), self.settings.network_timeout_seconds)
        if self._store is not None:
            await self._store.db.client.close()


async def send_all(producer: AIOKafkaProducer, topics: Topics,
                   messages: Sequence[Outgoing]) -> None:
    """Send results and dead letters to their topics; return once the broker has them all."""
    futures = []
    for m in messages:
        topic = topics.dead_letters if m.dead_letter else topics.results
        futures.append(await producer.send(topic, m.value, key=m.key))
    await asyncio.gather(*futures)
