"""Retry a step until it succeeds: an outage blocks the work, it never skips it."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Literal, TypeVar, get_args

from prometheus_client import Counter, Histogram

from badges_sdk.retry import PermanentError, backoff
from service.settings import Settings

__all__ = ["ATTEMPTS", "OPERATIONS", "RETRIES", "Operation", "PermanentError", "backoff",
           "retry"]

log = logging.getLogger(__name__)
T = TypeVar("T")
# What is retried: a fixed set, so that the metrics' label values stay bounded.
Operation = Literal["store", "publish", "mark_done", "connecting", "creating topics",
                    "result_reader"]
OPERATIONS: tuple[Operation, ...] = get_args(Operation)
# Registered by each process that exports them (the worker's and the gateway's metrics).
RETRIES = Counter("badges_retries_total", "Failed attempts retried, by operation",
                  ["operation"], registry=None)
ATTEMPTS = Histogram(
    "badges_attempt_duration_seconds",
    "One attempt of a retried step, without the backoff: the dependency's own latency "
    "(store: MongoDB; publish: Kafka's acknowledgements), by operation and outcome",
    ["operation", "outcome"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
    registry=None)


async def retry(settings: Settings, what: str, step: Callable[[], Awaitable[T]],
                operation: Operation, about: Mapping[str, object] | None = None) -> T:
    """Run `step` until it returns, with exponential backoff capped by the settings.

    `operation` names the attempts and retries in the metrics (one of a fixed set, where
    `what`, for the log, varies: a batch's size). `about` goes into the warnings' fields
    (the JSON log's topic, partition, offset).
    """
    failures = 0
    ok, failed = ATTEMPTS.labels(operation, "ok"), ATTEMPTS.labels(operation, "failed")
    while True:
        started = time.perf_counter()
        try:
            result = await step()
        except PermanentError:
            raise
        except Exception as exc:
            failed.observe(time.perf_counter() - started)
            RETRIES.labels(operation).inc()
            delay = backoff(settings, failures)
            log.warning("%s failed (%.500r); retrying in %.1fs", what, exc, delay, extra=about)
            await asyncio.sleep(delay)
            failures += 1
        else:
            ok.observe(time.perf_counter() - started)
            return result
