"""The SDK's settings: how to reach Kafka, which topics, and how long to wait.

Read from BADGES_* environment variables, like the service's own settings (which extend
these), or given as keyword arguments: `BadgesClient(kafka_bootstrap_servers=...)`.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class KafkaSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BADGES_", frozen=True)

    kafka_bootstrap_servers: str = "localhost:9092"
    # SASL and TLS need the fields below.
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = (
        "PLAINTEXT")
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] = "PLAIN"
    kafka_sasl_username: str | None = None
    kafka_sasl_password: str | None = None
    kafka_ssl_cafile: str | None = None

    topic_prefix: str = "badges"
    topic_partitions: int = Field(default=6, ge=1)
    topic_replication_factor: int = Field(default=1, ge=1)

    # Bound on every single network wait (Mongo server selection and socket, Kafka sends).
    network_timeout_seconds: float = Field(default=10.0, gt=0)
    retry_initial_backoff_seconds: float = Field(default=0.2, gt=0)
    retry_max_backoff_seconds: float = Field(default=30.0, gt=0)
