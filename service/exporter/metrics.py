"""What the lag exporter serves: the last reading of the group's lag, under the metric names
of the Prometheus community's kafka_exporter, so that alerts and dashboards written for it
work here, and it can replace this one where it can be installed (its Go module is not served
by the proxy these machines reach).
A failed reading drops the lag series (a stale lag would read as "all is well") and sets
badges_lag_exporter_up to 0, which the BadgesLagExporterDown alert watches.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from service.broker_lag import GroupLag

LABELS = ["consumergroup", "topic", "partition"]


class LagCollector(Collector):
    def __init__(self, group: str) -> None:
        self.group = group
        self.reading: GroupLag | None = None
        self.up = 0
        self.read_at = 0.0
        self.why = "no reading yet"  # why the last reading failed (while `up` is 0)

    def succeeded(self, reading: GroupLag) -> None:
        self.reading, self.up, self.read_at = reading, 1, time.time()

    def failed(self, why: str) -> None:
        self.reading, self.up, self.why = None, 0, why

    def collect(self) -> Iterator[GaugeMetricFamily]:
        up = GaugeMetricFamily("badges_lag_exporter_up",
                               "1 if the last reading of the broker succeeded, else 0")
        up.add_metric([], self.up)
        yield up
        read_at = GaugeMetricFamily("badges_lag_exporter_last_read_timestamp_seconds",
                                    "when the broker was last read successfully")
        read_at.add_metric([], self.read_at)
        yield read_at
        if self.reading is not None:
            yield from self._lag(self.reading)

    def _lag(self, reading: GroupLag) -> Iterator[GaugeMetricFamily]:
        lag = GaugeMetricFamily("kafka_consumergroup_lag", "end offset minus the group's "
                                "committed offset (minus the first offset if none)", labels=LABELS)
        committed = GaugeMetricFamily("kafka_consumergroup_current_offset",
                                      "the group's committed offset; -1 if none", labels=LABELS)
        end = GaugeMetricFamily("kafka_topic_partition_current_offset",
                                "the partition's end offset", labels=["topic", "partition"])
        total = GaugeMetricFamily("kafka_consumergroup_lag_sum", "the group's lag per topic",
                                  labels=["consumergroup", "topic"])
        sums: dict[str, int] = {}
        for p in reading.partitions:
            labels = [self.group, p.topic, str(p.partition)]
            lag.add_metric(labels, p.lag)
            committed.add_metric(labels, -1 if p.committed is None else p.committed)
            end.add_metric([p.topic, str(p.partition)], p.end)
            sums[p.topic] = sums.get(p.topic, 0) + p.lag
        for topic, value in sums.items():
            total.add_metric([self.group, topic], value)
        yield from (lag, committed, end, total)


def registry_of(collector: LagCollector) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    return registry
