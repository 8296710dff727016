"""Readiness of one worker, and the consumer offsets its lag gauge reads.

Ready means: MongoDB answers, a Kafka broker answers, and the consumer is a member of its
group (it has joined a generation through a known coordinator). Not that it holds
partitions: during a rolling update a surge worker may hold none, and is still ready.
Every check is bounded by a short timeout: a probe must answer even in an outage.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from service.checks import CHECK_TIMEOUT, bounded
from service.worker.metrics import DEPENDENCIES, DEPENDENCY_UP
from service.worker.runtime import Runtime

log = logging.getLogger(__name__)

UNKNOWN_MEMBER_ID = ""  # aiokafka's JoinGroupRequest.UNKNOWN_MEMBER_ID


async def missing(app: Any, runtime: Runtime, timeout: float = CHECK_TIMEOUT) -> dict[str, str]:
    """What keeps the worker from being ready: {dependency: why}; empty when ready."""
    mongo, kafka = await asyncio.gather(_mongo(runtime, timeout), _kafka(runtime, timeout))
    problems = {name: why for name, why in (("mongodb", mongo), ("kafka", kafka)) if why}
    if (group := _group_problem(app)) is not None:
        problems["consumer_group"] = group
    for dependency in DEPENDENCIES:
        DEPENDENCY_UP.labels(dependency).set(dependency not in problems)
    return problems


async def _mongo(runtime: Runtime, timeout: float) -> str | None:
    store = runtime.store
    if store is None:
        return "not connected yet"
    return await bounded(store.ping(), timeout)


async def _kafka(runtime: Runtime, timeout: float) -> str | None:
    producer = runtime.producer
    if producer is None:
        return "not connected yet"
    return await bounded(producer.client.fetch_all_metadata(), timeout)


def _coordinator(app: Any) -> Any:
    """aiokafka's group coordinator of faust's consumer (which runs in a thread of its own:
    only its attributes are read here, never its coroutines)."""
    consumer = getattr(getattr(app.consumer, "_thread", None), "_consumer", None)
    return getattr(consumer, "_coordinator", None)


def _group_problem(app: Any) -> str | None:
    coordinator = _coordinator(app)
    if coordinator is None:
        return "consumer not started"
    if coordinator.coordinator_id is None:
        return "group coordinator unknown"
    if coordinator.member_id == UNKNOWN_MEMBER_ID or coordinator.generation < 0:
        return "not a member of the group (joining)"
    return None


def consumer_offsets(app: Any) -> dict[tuple[str, int], tuple[int, int]]:
    """{(topic, partition): (end offset, committed offset)} of the partitions held now,
    where both are known (the end offset comes with the fetches)."""
    offsets: dict[tuple[str, int], tuple[int, int]] = {}
    try:
        consumer = app.consumer
        committed = consumer._committed_offset
        for tp in consumer.assignment():
            end, done = consumer.highwater(tp), committed.get(tp)
            if end is not None and done is not None:
                offsets[(tp.topic, tp.partition)] = (end, done)
    except Exception as exc:  # not started, or rebalancing: no gauge this time
        log.debug("consumer offsets unavailable: %r", exc)
    return offsets
