"""The worker's Prometheus metrics: what they count, and the hooks that count it.

Names follow Prometheus' conventions: the `badges_` prefix, base units (seconds), `_total`
for counters. Importing this module registers nothing: the worker's process calls
`export()` when it builds its app, which puts them in prometheus_client's default registry
beside its process and Python collectors; /metrics (service/worker/http.py) serves them
all. A gateway serves a registry of its own (service/gateway/metrics.py), never these.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram, Info
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from service.retry import ATTEMPTS, OPERATIONS, RETRIES
from service.version import package_version

# Batches are 1 to batch_size (100 by default) commands.
BATCH_SIZES = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000)
# From a few milliseconds when idle to minutes in an outage (the work waits, never skips).
SECONDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)

COMMANDS = Counter(
    "badges_commands_total",
    "Commands answered (result or dead letter published), by type and outcome; "
    "code is the first error code of an error, else empty",
    ["type", "outcome", "code"], registry=None,
)
BATCH_SIZE = Histogram("badges_batch_size", "Commands per batch", buckets=BATCH_SIZES,
                       registry=None)
BATCH_DURATION = Histogram(
    "badges_batch_duration_seconds",
    "Time a batch spends in a phase, retries included (store: MongoDB; send: results "
    "published and log entries marked done)",
    ["phase"], buckets=SECONDS, registry=None,
)
LATENCY = Histogram(
    "badges_command_latency_seconds",
    "From the command's Kafka timestamp to its result published",
    buckets=SECONDS, registry=None,
)
# The `operation` names service/retry.py is given (the gateway's result_reader among them).
RETRY_OPERATIONS = tuple(o for o in OPERATIONS if o != "result_reader")
PHASES = ("store", "send")
FENCED_WRITES = Counter(
    "badges_fenced_writes_total",
    "Writes refused because the document was newer (a stalled worker's, after a rebalance)",
    registry=None,
)
REREADS = Counter(
    "badges_rereads_total",
    "Partitions read again from an offset that never reached the agent: a hole in what "
    "was delivered (hole), or a tail that stopped arriving (stalled)",
    ["reason"], registry=None,
)
REREAD_REASONS = ("hole", "stalled")
BUILD = Info("badges_build", "The worker's version", registry=None)
DEPENDENCY_UP = Gauge(
    "badges_dependency_up",
    "1 if the dependency passed the last readiness check (/readyz), else 0",
    ["dependency"], registry=None)
DEPENDENCIES = ("mongodb", "kafka", "consumer_group")
PARTITIONS_HELD = Gauge("badges_partitions_held",
                        "Command-topic partitions assigned to this worker now", registry=None)
REBALANCES = Counter("badges_rebalances_total",
                     "Partition assignments this worker received (each a rebalance)",
                     registry=None)
START_RETRIES = Counter(
    "badges_start_retries_total",
    "Starts of Faust that failed on a passing fault and were tried again in the same process "
    "(os.execv: counted on from the previous run, so the count survives the restart)",
    registry=None)
LAST_BATCH = Gauge("badges_last_batch_timestamp_seconds",
                   "When this worker last stored a batch (Unix time; 0: none yet)",
                   registry=None)
EXPIRY_ENTRIES = Counter(
    "badges_command_log_expiry_entries_total",
    "Command-log entries the retention reached: expired (deleted), or kept (still pending, "
    "or their command still in Kafka)", ["result"], registry=None)
EXPIRY_RESULTS = ("expired", "kept")
EXPIRY_FAILURES = Counter(
    "badges_command_log_expiry_failures_total",
    "Expiry passes that failed (MongoDB or Kafka away); tried again after the interval",
    registry=None)
EXPIRY_CAUGHT_UP = Gauge(
    "badges_command_log_expiry_caught_up_timestamp_seconds",
    "When this worker's expiry last found nothing left to expire (Unix time; 0: not yet)",
    registry=None)

OK, DUPLICATE, DEAD_LETTER, ERROR = "ok", "duplicate", "dead_letter", "error"
# {(topic, partition): (end offset, committed offset)} of the partitions a worker holds.
Offsets = Callable[[], Mapping[tuple[str, int], tuple[int, int]]]


_EXPORTED = (COMMANDS, BATCH_SIZE, BATCH_DURATION, LATENCY, RETRIES, ATTEMPTS, FENCED_WRITES,
             REREADS, BUILD, DEPENDENCY_UP, PARTITIONS_HELD, REBALANCES, LAST_BATCH,
             START_RETRIES, EXPIRY_ENTRIES, EXPIRY_FAILURES, EXPIRY_CAUGHT_UP)
_exported_to: set[int] = set()


def export(registry: CollectorRegistry = REGISTRY) -> None:
    """Register the worker's metrics (once per registry), with their known label values.

    Known label values are exported from the start, at 0: a series that appears only with
    its first retry makes rate() and alerts blind to that first increase, and dashboards
    empty."""
    if id(registry) in _exported_to:  # a test process may build several apps
        return
    _exported_to.add(id(registry))
    for collector in _EXPORTED:
        registry.register(collector)
    BUILD.info({"version": package_version()})
    for operation in RETRY_OPERATIONS:
        RETRIES.labels(operation)
    for phase in PHASES:
        BATCH_DURATION.labels(phase)
    for reason in REREAD_REASONS:
        REREADS.labels(reason)
    for dependency in DEPENDENCIES:
        DEPENDENCY_UP.labels(dependency)
    for result in EXPIRY_RESULTS:
        EXPIRY_ENTRIES.labels(result)


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
