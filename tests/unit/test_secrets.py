"""Secrets masked in URLs, printed settings and log records."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest

from service.secrets import mask_url, masked_settings, redact_logs, secrets_of, url_password
from service.settings import Settings


@pytest.mark.parametrize(("url", "shown"), [
    ("mongodb://localhost:27017", "mongodb://localhost:27017"),
    ("mongodb://badges:s3cret@h1,h2:27018/?replicaSet=rs0&tls=true",
     "mongodb://badges:***@h1,h2:27018/?replicaSet=rs0&tls=true"),
    ("mongodb+srv://badges:s3cret@cluster0.example.net/badges",
     "mongodb+srv://badges:***@cluster0.example.net/badges"),
    # unescaped ":" and "@" in the password: the user info ends at the last "@"
    ("mongodb://badges:p:a@ss@h1/", "mongodb://badges:***@h1/"),
    ("mongodb://badges:p%40ss@h1", "mongodb://badges:***@h1"),
    ("mongodb://CN%3Dclient@h1/?authMechanism=MONGODB-X509",
     "mongodb://CN%3Dclient@h1/?authMechanism=MONGODB-X509"),
    ("mongodb://h1/?authMechanism=MONGODB-AWS&authMechanismProperties=AWS_SESSION_TOKEN:tok",
     "mongodb://h1/?authMechanism=MONGODB-AWS&authMechanismProperties=***"),
    ("mongodb://u:pw@h1/?tls=true;tlsCertificateKeyFilePassword=kp;w=1",
     "mongodb://u:***@h1/?tls=true;tlsCertificateKeyFilePassword=***;w=1"),
    ("mongodb://u:pw@h1?tls=true", "mongodb://u:***@h1?tls=true"),
    ("u:pw@h1", "u:***@h1"),
])
def test_mask_url(url: str, shown: str) -> None:
    assert mask_url(url) == shown


def test_url_password() -> None:
    assert url_password("mongodb://badges:p:a@ss@h1/db?x=1") == "p:a@ss"
    assert url_password("mongodb://badges@h1") is None
    assert url_password("mongodb://h1") is None


def test_masked_settings_hide_passwords_and_url_credentials() -> None:
    settings = Settings(kafka_sasl_username="badges", kafka_sasl_password="kafka-pw",
                        mongo_url="mongodb://badges:mongo-pw@h1/")
    shown = masked_settings(settings.model_dump())
    assert shown["kafka_sasl_password"] == "***"
    assert shown["mongo_url"] == "mongodb://badges:***@h1/"
    assert shown["kafka_sasl_username"] == "badges"
    assert "kafka-pw" not in repr(shown) and "mongo-pw" not in repr(shown)
    assert masked_settings({"kafka_sasl_password": None}) == {"kafka_sasl_password": None}


def test_secrets_of_settings() -> None:
    settings = Settings(kafka_sasl_password="kafka-pw",
                        mongo_url="mongodb://u:m%40ngo@h1/?authMechanismProperties=A:tok")
    assert set(secrets_of(settings.model_dump())) == {"kafka-pw", "m%40ngo", "m@ngo", "A:tok"}
    assert secrets_of(Settings().model_dump()) == []


@pytest.fixture
def restored_record_factory() -> Iterator[None]:
    factory = logging.getLogRecordFactory()
    yield
    logging.setLogRecordFactory(factory)


def test_redact_logs(restored_record_factory: None, caplog: pytest.LogCaptureFixture) -> None:
    redact_logs(["kafka-pw", "m@ngo", "ab", "pässwörd"])  # "ab": too short to redact
    log = logging.getLogger("some.library")
    with caplog.at_level(logging.DEBUG):
        log.debug("connecting with %s and %r", "kafka-pw", {"password": "m@ngo"})
        log.debug("Request: SaslAuthenticateRequest(sasl_auth_bytes=%r)",
                  b"\x00badges\x00" + "pässwörd".encode())
        log.info("a plain line about ab")
    messages = [r.msg for r in caplog.records]
    assert messages[0] == "connecting with *** and {'password': '***'}"
    assert messages[1] == r"Request: SaslAuthenticateRequest(sasl_auth_bytes=b'\x00badges\x00***')"
    assert caplog.records[2].getMessage() == "a plain line about ab"
    assert "kafka-pw" not in caplog.text and "m@ngo" not in caplog.text
    # a malformed call is left to the handler's own error report, not raised here
    broken = logging.getLogRecordFactory()("x", logging.INFO, "f", 1, "%s %s", ("1",), None)
    assert broken.msg == "%s %s"


def test_tracebacks_are_redacted_for_any_formatter(restored_record_factory: None) -> None:
    redact_logs(["kafka-pw"])
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))  # as faust's text
    log = logging.getLogger("a.worker.text.log")
    log.addHandler(handler)
    try:
        try:
            raise ConnectionError("login refused for kafka-pw")
        except ConnectionError:
            log.exception("connecting failed")
        log.warning("where", stack_info=True)
    finally:
        log.removeHandler(handler)
    text = out.getvalue()
    assert "ConnectionError: login refused for ***" in text and "Stack (most recent" in text
    assert "kafka-pw" not in text
