"""Settings from the environment: bad values are named by their variable, all at once."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from badges_sdk import BadgesClient
from service.settings import SettingsError, load_settings
from service.worker.app import create_app


def test_defaults_load(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BADGES_BATCH_SIZE", raising=False)
    assert load_settings().batch_size == 100


def test_every_bad_variable_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BADGES_BATCH_SIZE", "0")
    monkeypatch.setenv("BADGES_KAFKA_SECURITY_PROTOCOL", "TLS")
    with pytest.raises(SettingsError) as raised:
        load_settings()
    message = str(raised.value)
    assert "BADGES_BATCH_SIZE: Input should be greater than or equal to 1" in message
    assert "BADGES_KAFKA_SECURITY_PROTOCOL: Input should be 'PLAINTEXT', 'SSL'" in message


def test_overrides_win_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BADGES_TOPIC_PREFIX", "from-env")
    assert load_settings(topic_prefix="given").topic_prefix == "given"


@pytest.mark.parametrize(("value", "port"), [("off", "off"), ("0", 0), ("9100", 9100)])
def test_the_http_port_is_a_port_or_off(monkeypatch: pytest.MonkeyPatch, value: str,
                                         port: int | str) -> None:
    monkeypatch.setenv("BADGES_HTTP_PORT", value)
    assert load_settings().http_port == port


@pytest.mark.parametrize("value", ["-1", "65536", "none"])
def test_a_bad_http_port_is_named(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("BADGES_HTTP_PORT", value)
    with pytest.raises(SettingsError, match="BADGES_HTTP_PORT"):
        load_settings()


def test_the_sdk_takes_overrides_validated() -> None:
    """A misspelt override (`bootstrap_servers`) is an error, not a silent default."""
    client = BadgesClient(kafka_bootstrap_servers="k:9093", topic_prefix="up")
    assert (client.settings.kafka_bootstrap_servers, client.topics.results) == (
        "k:9093", "up.results.v1")
    with pytest.raises(ValidationError, match="bootstrap_servers"):
        BadgesClient(bootstrap_servers="k:9093")
    with pytest.raises(ValidationError, match="network_timeout_seconds"):
        BadgesClient(network_timeout_seconds=0)


@pytest.mark.parametrize(("network", "session", "bound"), [(10.0, 30.0, 30.0), (10.0, 6.0, 10.0)])
def test_faust_waits_no_longer_than_the_network_timeout_or_the_session(
        network: float, session: float, bound: float) -> None:
    """faust's own Kafka clients wait 90 s for a connect or a request unless told: a hung
    connect to a restarting broker stalled the consumer's metadata for a minute."""
    settings = load_settings(network_timeout_seconds=network,
                             kafka_session_timeout_seconds=session, http_port="off")
    app = create_app(settings)
    assert app.conf.broker_request_timeout == bound
    assert app.conf.broker_session_timeout <= app.conf.broker_request_timeout
