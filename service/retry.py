"""Retry a step until it succeeds: an outage blocks the work, it never skips it."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import TypeVar

from service.metrics import RETRIES
from service.settings import Settings

log = logging.getLogger(__name__)
T = TypeVar("T")


class PermanentError(Exception):
    """A failure that retrying cannot fix (e.g. refused credentials): `retry` lets it through."""


async def retry(settings: Settings, what: str, step: Callable[[], Awaitable[T]],
                operation: str | None = None, about: Mapping[str, object] | None = None) -> T:
    """Run `step` until it returns, with exponential backoff capped by the settings.

    `operation` names the retries in badges_retries_total (`what` if not given): a fixed
    name, where `what` varies (a batch's size). `about` goes into the warnings' fields
    (the JSON log's topic, partition, offset).
    """
    failures = 0
    while True:
        try:
            return await step()
        except PermanentError:
            raise
        except Exception as exc:
            RETRIES.labels(operation or what).inc()
            delay = backoff(settings, failures)
            log.warning("%s failed (%.500r); retrying in %.1fs", what, exc, delay, extra=about)
            await asyncio.sleep(delay)
            failures += 1


def backoff(settings: Settings, failures: int) -> float:
    """The wait after `failures` earlier failures in a row: doubling, capped."""
    # The exponent is capped too, so that a long outage cannot overflow the float.
    return min(settings.retry_initial_backoff_seconds * 2.0 ** min(failures, 64),
               settings.retry_max_backoff_seconds)
