"""Settings from the environment: bad values are named by their variable, all at once."""

from __future__ import annotations

import pytest

from service.settings import SettingsError, load_settings


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
