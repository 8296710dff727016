"""Result events become the API pages' envelopes; Idempotency-Keys become commandIds."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from badges_schemas import Code, Problem, ResultEvent
from badges_schemas.commands import CommandType
from service.gateway.commands import BadBodyError, payload_of
from service.gateway.envelopes import from_result
from service.gateway.idempotency import command_id_for, request_digest

GROUP = {"id": "6581281e8f68666070de15c5", "orgId": 50156, "name": "GROUP_RANK_58", "rank": 1,
         "createdBy": 123, "createdOn": 1702963230.966423, "createdOnISO": "2023-12-19T05:20:30Z",
         "lastUpdatedBy": 123, "lastUpdatedOn": 1702963230.966423,
         "lastUpdatedOnISO": "2023-12-19T05:20:30Z", "isActive": True}


def event(command_type: CommandType, data: dict[str, Any] | None, errors: list[Problem],
          warnings: list[Problem] | None = None) -> ResultEvent:
    return ResultEvent(commandId=str(uuid.uuid4()), type=str(command_type), orgId=50156,
                       data=data, errors=errors, warnings=warnings or [])


def test_unclaim_success_is_the_api_page_exactly() -> None:
    data = {"ownerType": "Loyalty", "referenceId": "123", "isActive": False}
    assert from_result(CommandType.UNCLAIM_BADGE, event(CommandType.UNCLAIM_BADGE, data, [])
                       ) == {"data": data, "errors": None, "warnings": []}


def test_update_success_is_the_api_page_exactly() -> None:
    answer = from_result(CommandType.UPDATE_BADGE_GROUP,
                         event(CommandType.UPDATE_BADGE_GROUP, GROUP, []))
    assert answer == {"data": {"id": "6581281e8f68666070de15c5", "orgId": 50156,
                               "name": "GROUP_RANK_58", "rank": 1, "createdBy": 123,
                               "createdOn": 1702963230.966423, "lastUpdatedBy": 123,
                               "lastUpdatedOn": 1702963230.966423, "isActive": True},
                      "errors": [], "warnings": []}


@pytest.mark.parametrize("command_type", list(CommandType))
def test_failures_have_no_data_and_keep_errors_and_warnings(command_type: CommandType) -> None:
    problem = Problem.of(Code.CLAIM_NOT_FOUND)
    answer = from_result(command_type, event(command_type, None, [problem]))
    assert answer == {"data": None, "errors": [{"code": 737, "message": problem.message}],
                      "warnings": []}


def test_a_claim_warning_passes_through() -> None:
    data = {"badgeMetaId": "6581281e8f68666070de15c5", "ownerType": "Loyalty",
            "referenceId": "1"}
    answer = from_result(CommandType.CLAIM_BADGE, event(
        CommandType.CLAIM_BADGE, data, [], [Problem.of(Code.CLAIM_ALREADY_ACTIVE)]))
    assert answer["errors"] == [] and [w["code"] for w in answer["warnings"]] == [9100]


def test_payload_takes_the_body_and_the_path_id_over_the_body() -> None:
    payload = payload_of(CommandType.CLAIM_BADGE, b'{"badgeId": "x", "ownerType": "Loyalty"}',
                         {"badgeId": "6581281e8f68666070de15c5"})
    assert payload == {"badgeId": "6581281e8f68666070de15c5", "ownerType": "Loyalty"}
    assert payload_of(CommandType.CREATE_BADGE_GROUP, b'{"rank": 1}', {}) == {
        "rank": 1, "name": None}  # absent and null both answer 9006


@pytest.mark.parametrize("raw", [b"", b"nope", b"[1]", b'"s"', b"null", b"\xff",
                                 b'{"name": "\\ud800", "rank": 1}',
                                 b'{"name": "\xed\xa0\x80", "rank": 1}',  # UTF-8 of \ud800
                                 '{"name": "\ud800"}'.encode("utf-16-le", "surrogatepass"),
                                 b"[" * 100_000, b'{"a": "' + b"x" * 70_000 + b'"}'])
def test_bodies_that_are_not_small_json_objects_are_refused(raw: bytes) -> None:
    with pytest.raises(BadBodyError):
        payload_of(CommandType.CLAIM_BADGE, raw, {"badgeId": "b"})


@pytest.mark.parametrize(("raw", "name"), [
    (b'{"name": "caf\xc3\xa9"}', "caf\u00e9"),
    (b'{"name": "\\u00e9\\ud83d\\ude00"}', "\u00e9\U0001f600"),  # a surrogate pair
    ('{"name": "\u00e9"}'.encode("utf-16"), "\u00e9"),
])
def test_text_beyond_ascii_is_taken(raw: bytes, name: str) -> None:
    assert payload_of(CommandType.CLAIM_BADGE, raw, {})["name"] == name


def test_keys_make_command_ids_per_org_and_user() -> None:
    first = command_id_for(1, 7, "k")
    assert first == command_id_for(1, 7, "k") and uuid.UUID(first).version == 5
    assert len({first, command_id_for(2, 7, "k"), command_id_for(1, 8, "k"),
                command_id_for(1, 7, "k2")}) == 4


def test_request_digest_ignores_member_order_only() -> None:
    digest = request_digest(CommandType.CREATE_BADGE_GROUP, {"name": "a", "rank": 1})
    assert digest == request_digest(CommandType.CREATE_BADGE_GROUP, {"rank": 1, "name": "a"})
    assert digest != request_digest(CommandType.CREATE_BADGE_GROUP, {"name": "a", "rank": 2})
    assert digest != request_digest(CommandType.UPDATE_BADGE_GROUP, {"name": "a", "rank": 1})
