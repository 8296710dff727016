"""Retry a step until it succeeds: an outage blocks the work, it never skips it."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import TypeVar

from prometheus_client import Counter

from badges_sdk.retry import PermanentError, backoff
from service.settings import Settings

__all__ = ["RETRIES", "PermanentError", "backoff", "retry"]

log = logging.getLogger(__name__)
T = TypeVar("T")
# Registered by each process that exports it (the worker's and the gateway's metrics).
RETRIES = Counter("badges_retries_total", "Failed attempts retried, by operation",
                  ["operation"], registry=None)


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
