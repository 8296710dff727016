"""Retry a step until it succeeds: an outage blocks the work, it never skips it."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from service.settings import Settings

log = logging.getLogger(__name__)
T = TypeVar("T")


class PermanentError(Exception):
    """A failure that retrying cannot fix (e.g. refused credentials): `retry` lets it through."""


async def retry(settings: Settings, what: str, step: Callable[[], Awaitable[T]]) -> T:
    """Run `step` until it returns, with exponential backoff capped by the settings."""
    delay = settings.retry_initial_backoff_seconds
    while True:
        try:
            return await step()
        except PermanentError:
            raise
        except Exception as exc:
            log.warning("%s failed (%.500r); retrying in %.1fs", what, exc, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, settings.retry_max_backoff_seconds)
