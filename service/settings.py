"""Every knob of the worker, read from BADGES_* environment variables (deploy/README.md)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, ValidationError
from pydantic_settings import SettingsConfigDict

from badges_sdk.settings import KafkaSettings


class Settings(KafkaSettings):
    """The SDK's Kafka settings and every knob of the worker, the CLI and the gateway."""

    model_config = SettingsConfigDict(env_prefix="BADGES_", frozen=True)

    # Credentials, TLS and replica set options go in the URL (mongodb://user:pw@h/?tls=true).
    mongo_url: str = "mongodb://localhost:27017"
    mongo_database: str = "badges"

    batch_size: int = Field(default=100, ge=1)
    # Extra wait for more commands once one has arrived; 0: a batch is what has arrived.
    # 0 by default: batches grow by themselves under load (what arrives while one is
    # stored), and a wait only delays. At 650 commands/s of the mix (3 runs each, one
    # stack): 10 ms gave p50 70 ms, p99 151 ms, idle p50 23 ms; 0 gave 53, 148 and 12.
    batch_window_seconds: float = Field(default=0.0, ge=0)

    # Longest graceful stop; then the worker exits as if killed (which loses nothing).
    stop_timeout_seconds: float = Field(default=20.0, gt=0)

    # How soon a dead worker's partitions move to a live one.
    kafka_session_timeout_seconds: float = Field(default=30.0, gt=0)

    # Refuse writes older than what a document reflects (a stalled worker's, after its
    # partitions moved on). Off only in tests that show what the fence prevents.
    write_fence: bool = True
    # Test only: the first delivery of each "partition:offset" listed (comma-separated, on
    # every command topic) is dropped before the agent sees it, as a message lost between
    # the fetch and the agent would be. Shows that such a hole is read again, not skipped.
    drop_deliveries: str = ""
    # Test only: commands of these types (comma-separated, e.g. "ClaimBadge") are treated as
    # unreadable and dead-lettered, as a bug in a release would; shows `badges dlq replay`.
    dead_letter_types: str = ""
    # Test only: run with a known bug (service/store/seeded.py), to show the chaos checker
    # reports it.
    seeded_bug: Literal["", "no_dedupe", "lazy_name_release"] = ""

    # How long a processed command is remembered (a repeat within it is answered from the
    # command log; a later one is treated as new). 8 days: longer than Kafka's defaults for
    # keeping a group's offsets and a topic's messages (7 days each), so that a command the
    # broker may still deliver again is still in the log (the worker warns at start-up when
    # the broker keeps either longer).
    command_log_retention_hours: float = Field(default=192.0, gt=0)
    # Pause between expiry passes once the expired entries are all gone.
    command_log_expiry_interval_seconds: float = Field(default=60.0, gt=0)

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    # json: one object per line (for log shippers); unset: text on a terminal, else json.
    log_format: Literal["json", "text"] | None = None

    # /metrics, /healthz and /readyz; "off": no listener; 0: a free port (logged).
    http_port: Annotated[int, Field(ge=0, le=65535)] | Literal["off"] = 8081
    # All interfaces by default, so that probes reach a worker in a container.
    http_host: str = "0.0.0.0"

    # The lag exporter (`python -m service lag-exporter`, service/exporter/): its /metrics
    # port (kafka_exporter's; 0: a free port, logged) and how often it reads the broker.
    lag_exporter_port: Annotated[int, Field(ge=0, le=65535)] = 9308
    lag_exporter_interval_seconds: float = Field(default=10.0, gt=0)

    # The REST gateway (`python -m service gateway`, service/gateway/).
    gateway_host: str = "127.0.0.1"
    gateway_port: Annotated[int, Field(ge=0, le=65535)] = 8080  # 0: a free port (logged)
    # /metrics: "public" on gateway_port (as /healthz and /readyz); a port number: there
    # only (on gateway_host), so that the public port never serves it (Kubernetes sets one).
    gateway_metrics_port: Annotated[int, Field(ge=0, le=65535)] | Literal["public"] = "public"
    # Longest wait for a command's result; past it: 504 with the commandId.
    gateway_timeout_seconds: float = Field(default=10.0, gt=0)
    gateway_access_log: bool = True  # a line per request (service/gateway/access.py)
    # HTTP Basic credentials (`badges gateway-user add`); in containers a mounted Secret.
    gateway_users_file: str = ".state/gateway-users.json"

    @property
    def app_id(self) -> str:
        """Faust app id, which is also the Kafka consumer group."""
        return f"{self.topic_prefix}-worker"


class SettingsError(ValueError):
    """The environment's settings do not validate; the message names each variable."""


def load_settings(**overrides: Any) -> Settings:
    """Settings from the environment (and `overrides`), or a SettingsError saying what is wrong."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        problems = "; ".join(f"BADGES_{str(e['loc'][0]).upper()}: {e['msg']}"
                             for e in exc.errors())
        raise SettingsError(f"invalid settings: {problems}") from None
