"""What a log line carries: JSON with the call's extra fields and the version, tracebacks
masked in text too, and the gateway's access line without credentials."""

from __future__ import annotations

import base64
import json
import logging
import sys

import pytest
from starlette.testclient import TestClient

from service.gateway.app import create_app
from service.logs import JsonFormatter, TextFormatter
from service.settings import Settings
from service.version import package_version

SECRET = "hunter2-secret"


def redact(text: str) -> str:
    return text.replace(SECRET, "***")


def record(**extra: object) -> logging.LogRecord:
    try:
        raise RuntimeError(f"connecting with {SECRET}")
    except RuntimeError:
        made = logging.makeLogRecord({"name": "t", "levelname": "ERROR", "msg": "failed",
                                      "exc_info": sys.exc_info(), **extra})
    return made


def test_json_lines_carry_every_extra_field_and_the_version() -> None:
    line = json.loads(JsonFormatter(redact).format(record(route="/x", durationMs=1.5,
                                                          commandId="c", empty=None)))
    assert (line["route"], line["durationMs"], line["commandId"]) == ("/x", 1.5, "c")
    assert line["version"] == package_version() and "empty" not in line
    assert SECRET not in json.dumps(line) and "***" in line["exception"]


def test_text_lines_mask_tracebacks() -> None:
    text = TextFormatter(redact).format(record())
    assert "RuntimeError" in text and SECRET not in text and "***" in text


def test_the_gateway_logs_one_access_line_per_request_without_credentials(
        caplog: pytest.LogCaptureFixture) -> None:
    client = TestClient(create_app(Settings.model_construct(), connect=False))
    secret = base64.b64encode(f"alice:{SECRET}".encode()).decode()
    with caplog.at_level(logging.INFO, logger="badges.gateway.access"):
        client.post("/api_gateway/v1/badges/group/6581281e8f68666070de15c5?x=1",
                    headers={"Authorization": f"Basic {secret}"}, json={"name": "n"})
        client.get("/nowhere")
    lines = [r for r in caplog.records if r.name == "badges.gateway.access"]
    assert [(r.method, r.route, r.status) for r in lines] == [  # type: ignore[attr-defined]
        ("POST", "/api_gateway/v1/badges/group/{groupId}", 401), ("GET", "unmatched", 404)]
    assert all(r.durationMs >= 0 for r in lines)  # type: ignore[attr-defined]
    text = " ".join(JsonFormatter().format(r) for r in lines)
    assert secret not in text and SECRET not in text and "x=1" not in text


def test_the_access_log_can_be_turned_off(caplog: pytest.LogCaptureFixture) -> None:
    settings = Settings.model_construct(gateway_access_log=False)
    client = TestClient(create_app(settings, connect=False))
    with caplog.at_level(logging.INFO, logger="badges.gateway.access"):
        client.get("/nowhere")
    assert not [r for r in caplog.records if r.name == "badges.gateway.access"]
