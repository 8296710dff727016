"""Topic ids from the broker's metadata.

aiokafka 0.14 speaks Metadata only up to v5, which carries no topic ids (KIP-516 added them
in v10, Kafka 2.8). A topic's id is what tells a recreated topic from the one it replaced
(same name, offsets starting again), so this is Metadata v10 for the named topics, built on
aiokafka's own flexible-version types and sent through its admin client's connection.
"""

from __future__ import annotations

from io import BytesIO
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.protocol.api import Request, RequestStruct, Response
from aiokafka.protocol.types import (
    AbstractType,
    Boolean,
    CompactArray,
    CompactString,
    Int16,
    Int32,
    Schema,
    TaggedFields,
)

NO_TOPIC_ID = bytes(16)  # in a request: look the topic up by its name


class Uuid(AbstractType[bytes]):  # type: ignore[misc]  # aiokafka is untyped here
    @classmethod
    def encode(cls, value: bytes) -> bytes:
        return value

    @classmethod
    def decode(cls, data: BytesIO) -> bytes:
        value = data.read(16)
        if len(value) != 16:
            raise ValueError("Buffer underrun decoding a UUID")
        return value


class MetadataResponse_v10(Response):  # type: ignore[misc]  # noqa: N801 (aiokafka's naming)
    API_KEY = 3
    API_VERSION = 10
    SCHEMA = Schema(
        ("throttle_time_ms", Int32),
        ("brokers", CompactArray(("node_id", Int32), ("host", CompactString("utf-8")),
                                 ("port", Int32), ("rack", CompactString("utf-8")),
                                 ("tags", TaggedFields))),
        ("cluster_id", CompactString("utf-8")),
        ("controller_id", Int32),
        ("topics", CompactArray(
            ("error_code", Int16), ("name", CompactString("utf-8")), ("topic_id", Uuid),
            ("is_internal", Boolean),
            ("partitions", CompactArray(
                ("error_code", Int16), ("partition_index", Int32), ("leader_id", Int32),
                ("leader_epoch", Int32), ("replica_nodes", CompactArray(Int32)),
                ("isr_nodes", CompactArray(Int32)), ("offline_replicas", CompactArray(Int32)),
                ("tags", TaggedFields))),
            ("topic_authorized_operations", Int32), ("tags", TaggedFields))),
        ("cluster_authorized_operations", Int32),
        ("tags", TaggedFields),
    )


class MetadataRequest_v10(RequestStruct):  # type: ignore[misc]  # noqa: N801
    API_KEY = 3
    API_VERSION = 10
    FLEXIBLE_VERSION = True
    RESPONSE_TYPE = MetadataResponse_v10
    SCHEMA = Schema(
        ("topics", CompactArray(("topic_id", Uuid), ("name", CompactString("utf-8")),
                                ("tags", TaggedFields))),
        ("allow_auto_topic_creation", Boolean),
        ("include_cluster_authorized_operations", Boolean),
        ("include_topic_authorized_operations", Boolean),
        ("tags", TaggedFields),
    )


class TopicIdsRequest(Request[MetadataRequest_v10]):  # type: ignore[misc]
    API_KEY = 3

    def __init__(self, topics: list[str]) -> None:
        self._topics = topics

    def build(self, request_struct_class: type[MetadataRequest_v10]) -> MetadataRequest_v10:
        return request_struct_class([(NO_TOPIC_ID, name, {}) for name in self._topics],
                                    False, False, False, {})


async def topic_ids(admin: AIOKafkaAdminClient, topics: list[str]
                    ) -> dict[str, tuple[str, int]]:
    """{topic: (its id in hex, its partition count)} for the topics the broker knows."""
    response: Any = await admin._send_request(TopicIdsRequest(topics))
    return {t["name"]: (t["topic_id"].hex(), len(t["partitions"]))
            for t in response.to_object()["topics"] if t["error_code"] == 0}
