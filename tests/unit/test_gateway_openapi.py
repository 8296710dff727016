"""The gateway's committed OpenAPI document: generated from the code, complete, no drift."""

from __future__ import annotations

import json
from typing import Any

import pytest

from badges_schemas import Code
from badges_schemas.commands import CommandType
from service.gateway.codes import COMMAND_CODES, UNREACHABLE
from service.gateway.openapi import FILE, render

PREFIX = "/api_gateway/v1/badges"
WRITES = {
    ("post", f"{PREFIX}/badgeMeta/{{badgeId}}/claim"): CommandType.CLAIM_BADGE,
    ("post", f"{PREFIX}/badgeMeta/{{badgeId}}/unclaim"): CommandType.UNCLAIM_BADGE,
    ("post", f"{PREFIX}/group"): CommandType.CREATE_BADGE_GROUP,
    ("post", f"{PREFIX}/group/{{groupId}}"): CommandType.UPDATE_BADGE_GROUP,
    # The update page's other spellings of the update.
    ("put", f"{PREFIX}/group/{{groupId}}"): CommandType.UPDATE_BADGE_GROUP,
    ("put", f"{PREFIX}/group"): CommandType.UPDATE_BADGE_GROUP,
    ("post", f"{PREFIX}/{{groupId}}"): CommandType.UPDATE_BADGE_GROUP,
    ("put", f"{PREFIX}/{{groupId}}"): CommandType.UPDATE_BADGE_GROUP,
    ("post", f"{PREFIX}/"): CommandType.UPDATE_BADGE_GROUP,
    ("put", f"{PREFIX}/"): CommandType.UPDATE_BADGE_GROUP,
}


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return dict(json.loads(FILE.read_text()))


def test_committed_document_matches_the_code() -> None:
    assert FILE.read_text() == render(), "run `make schemas` and commit schemas/generated"


def test_every_route_documents_its_statuses_and_authentication(document: dict[str, Any]
                                                                 ) -> None:
    operations = {(m, p): o for p, ops in document["paths"].items() for m, o in ops.items()}
    token = ("post", "/v3/oauth/token/generate")
    reads = {("get", f"{PREFIX}/group/{{groupId}}"), ("get", f"{PREFIX}/group")}
    assert set(operations) == {*WRITES, *reads, token}
    schemes = document["components"]["securitySchemes"]
    assert schemes["HTTPBasic"]["scheme"] == "basic"
    assert schemes["BearerToken"] == {**schemes["BearerToken"], "scheme": "bearer",
                                      "bearerFormat": "JWT"}
    assert {s.get("name") for s in schemes.values()} >= {"CAP-API-ACCESS-TOKEN",
                                                         "X-CAP-API-OAUTH-TOKEN"}
    for (method, path), operation in operations.items():
        answers = operation["responses"]
        for answer in answers.values():
            assert set(answer["content"]) == {"application/json"}
        if (method, path) == token:
            assert set(answers) == {"200", "400", "401", "429"}
            assert "security" not in operation
            continue
        expected = {"200", "400", "401", "403", "404", "405", "429", "500", "503"} | (
            {"422", "502", "504"} if method != "get" else set())
        assert set(answers) == expected
        assert sorted(operation["security"], key=str) == sorted(
            ({name: []} for name in schemes), key=str)  # any one of them
        assert set(answers["401"]["headers"]) == {"WWW-Authenticate"}
        assert set(answers["405"]["headers"]) == {"Allow"}
        assert set(answers["503"]["headers"]) == set(answers["429"]["headers"]) == {
            "Retry-After"}
        if method != "get":
            assert set(answers["200"]["headers"]) == {"Badges-Command-Id"}


def test_writes_list_their_reachable_codes_only(document: dict[str, Any]) -> None:
    for (method, path), command_type in WRITES.items():
        text = document["paths"][path][method]["description"]
        listed = {c for c in Code if f"{c.value} (" in text}
        assert listed == {*COMMAND_CODES[command_type], Code.MALFORMED_COMMAND,
                          Code.INVALID_QUERY}
        assert Code.UNKNOWN_COMMAND_TYPE not in listed
    assert set(UNREACHABLE) == {Code.MALFORMED_COMMAND, Code.UNKNOWN_COMMAND_TYPE}


def test_timeout_answer_carries_the_command_id(document: dict[str, Any]) -> None:
    schema = document["components"]["schemas"]["TimeoutEnvelope"]
    assert set(schema["required"]) == {"data", "errors", "warnings", "commandId"}
