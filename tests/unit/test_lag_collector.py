"""The lag exporter's series from a reading, and none of the lag after a failed one."""

from __future__ import annotations

from prometheus_client import generate_latest

from service.broker_lag import GroupLag, PartitionLag
from service.exporter.metrics import LagCollector, registry_of

READING = GroupLag([PartitionLag("t.claims", 0, 7, 10, 3),
                    PartitionLag("t.claims", 1, None, 4, 4),
                    PartitionLag("t.groups", 0, 5, 5, 0)], missing_topics=[])


def scraped(collector: LagCollector) -> str:
    return generate_latest(registry_of(collector)).decode()


def test_a_reading_is_served_under_kafka_exporters_names() -> None:
    collector = LagCollector("t-worker")
    collector.succeeded(READING)
    text = scraped(collector)
    lag = 'kafka_consumergroup_lag{consumergroup="t-worker",partition="%d",topic="%s"} %s'
    assert lag % (0, "t.claims", "3.0") in text
    assert lag % (1, "t.claims", "4.0") in text
    assert ('kafka_consumergroup_current_offset{consumergroup="t-worker",partition="1",'
            'topic="t.claims"} -1.0') in text
    assert 'kafka_topic_partition_current_offset{partition="0",topic="t.claims"} 10.0' in text
    assert 'kafka_consumergroup_lag_sum{consumergroup="t-worker",topic="t.claims"} 7.0' in text
    assert "badges_lag_exporter_up 1.0" in text


def test_a_failed_reading_drops_the_lag_rather_than_keep_a_stale_one() -> None:
    collector = LagCollector("t-worker")
    collector.succeeded(READING)
    collector.failed("KafkaConnectionError: broker gone")
    text = scraped(collector)
    assert "badges_lag_exporter_up 0.0" in text
    assert "kafka_consumergroup_lag{" not in text and "kafka_consumergroup_lag_sum{" not in text
    assert "badges_lag_exporter_last_read_timestamp_seconds" in text
