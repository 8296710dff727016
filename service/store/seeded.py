"""Known bugs a test can switch on in a real worker (`BADGES_SEEDED_BUG`, tests only), to
show that the chaos checker catches them: a checker that passes a run of a buggy worker
proves nothing about a run that passes."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from typing import Any

from service.domain.model import ReleaseName
from service.store.docs import Fence
from service.store.mongo import Doc, LogEntry, Store

LATE_RELEASE_SECONDS = 3.0  # the lazy release frees a name this long after deciding


class SeededBugStore(Store):
    """`no_dedupe`: the command log is never consulted, so a redelivered or resent command
    is decided again. `lazy_name_release`: a rename frees its old name seconds after its
    answer is published, not before."""

    def __init__(self, db: Any, bug: str, **options: Any) -> None:
        super().__init__(db, **options)
        self.bug = bug
        self._late: set[asyncio.Task[None]] = set()

    async def find_logged(self, keys: Iterable[str]) -> dict[str, LogEntry]:
        return {} if self.bug == "no_dedupe" else await super().find_logged(keys)

    async def log_pending(self, entries: Sequence[LogEntry], origins: Sequence[Doc]) -> None:
        if self.bug == "no_dedupe":  # the first decision stays logged; later ones are not
            known = {d["_id"] async for d in self.log.find(
                {"_id": {"$in": [e.key for e in entries]}}, {"_id": 1})}
            kept = [(e, o) for e, o in zip(entries, origins, strict=True) if e.key not in known]
            entries, origins = [e for e, _ in kept], [o for _, o in kept]
        await super().log_pending(entries, origins)

    async def release_names(self, releases: Sequence[tuple[ReleaseName, Fence | None]]
                            ) -> None:
        if self.bug != "lazy_name_release":
            return await super().release_names(releases)
        task = asyncio.create_task(self._release_later(list(releases)))
        self._late.add(task)
        task.add_done_callback(self._late.discard)

    async def _release_later(self, releases: list[tuple[ReleaseName, Fence | None]]) -> None:
        await asyncio.sleep(LATE_RELEASE_SECONDS)
        await super().release_names(releases)
