"""The worker's Prometheus metrics: what they count, and the hooks that count it.

Names follow Prometheus' conventions: the `badges_` prefix, base units (seconds), `_total`
for counters. They live in prometheus_client's default registry, beside its process and
Python collectors; /metrics (service/http.py) serves them all.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version

from prometheus_client import REGISTRY, Counter, Histogram, Info
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

# Batches are 1 to batch_size (100 by default) commands.
BATCH_SIZES = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000)
# From a few milliseconds when idle to minutes in an outage (the work waits, never skips).
SECONDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)

COMMANDS = Counter(
    "badges_commands_total",
    "Commands answered (result or dead letter published), by type and outcome; "
    "code is the first error code of an error, else empty",
    ["type", "outcome", "code"],
)
BATCH_SIZE = Histogram("badges_batch_size", "Commands per batch", buckets=BATCH_SIZES)
BATCH_DURATION = Histogram(
    "badges_batch_duration_seconds",
    "Time a batch spends in a phase, retries included (store: MongoDB; send: results "
    "published and log entries marked done)",
    ["phase"], buckets=SECONDS,
)
LATENCY = Histogram(
    "badges_command_latency_seconds",
    "From the command's Kafka timestamp to its result published",
    buckets=SECONDS,
)
RETRIES = Counter("badges_retries_total", "Failed attempts retried, by operation",
                  ["operation"])
# The `operation` names service/retry.py is given.
RETRY_OPERATIONS = ("store", "publish", "mark_done", "connecting", "creating topics")
PHASES = ("store", "send")
FENCED_WRITES = Counter(
    "badges_fenced_writes_total",
    "Writes refused because the document was newer (a stalled worker's, after a rebalance)",
)
REREADS = Counter(
    "badges_rereads_total",
    "Partitions read again from an offset that never reached the agent: a hole in what "
    "was delivered (hole), or a tail that stopped arriving (stalled)",
    ["reason"],
)
REREAD_REASONS = ("hole", "stalled")
BUILD = Info("badges_build", "The worker's version")

OK, DUPLICATE, DEAD_LETTER, ERROR = "ok", "duplicate", "dead_letter", "error"
# {(topic, partition): (end offset, committed offset)} of the partitions a worker holds.
Offsets = Callable[[], Mapping[tuple[str, int], tuple[int, int]]]


def package_version() -> str:
    try:
        return version("badges-service")
    except PackageNotFoundError:  # run from a source tree that was not installed
        return "unknown"


BUILD.info({"version": package_version()})
# Known label values exported from the start, at 0: a series that appears only with its
# first retry makes rate() and alerts blind to that first increase, and dashboards empty.
for _operation in RETRY_OPERATIONS:
    RETRIES.labels(_operation)
for _phase in PHASES:
    BATCH_DURATION.labels(_phase)
for _reason in REREAD_REASONS:
    REREADS.labels(_reason)


@dataclass(frozen=True)
class Outcome:
    """How one command was answered, for the counters once its answer is published."""

    type: str
    outcome: str
    code: str
    timestamp: float  # the Kafka record's, seconds since the epoch


def count_published(outcomes: Sequence[Outcome], now: float | None = None) -> None:
    """Count the answers just published, and their latency from the Kafka timestamp."""
    now = time.time() if now is None else now
    for o in outcomes:
        COMMANDS.labels(o.type, o.outcome, o.code).inc()
        LATENCY.observe(max(0.0, now - o.timestamp))


class ConsumerLag(Collector):
    """badges_consumer_lag{topic,partition}, computed at each scrape from the consumer:
    the partition's end offset (as of the last fetch) minus the group's committed offset.
    Only the partitions this worker holds; the group's total is the sum over workers."""

    def __init__(self, offsets: Offsets) -> None:
        self._offsets = offsets

    def collect(self) -> Iterator[GaugeMetricFamily]:
        gauge = GaugeMetricFamily(
            "badges_consumer_lag",
            "Messages not yet committed by this worker, per partition it holds",
            labels=["topic", "partition"],
        )
        for (topic, partition), (end, committed) in sorted(self._offsets().items()):
            gauge.add_metric([topic, str(partition)], max(0, end - committed))
        yield gauge


def register_lag(offsets: Offsets) -> ConsumerLag:
    collector = ConsumerLag(offsets)
    REGISTRY.register(collector)
    return collector


def unregister(collectors: Iterable[Collector]) -> None:
    for collector in collectors:
        REGISTRY.unregister(collector)
