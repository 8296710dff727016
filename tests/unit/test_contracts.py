"""The contracts: API examples validate, each bad field maps to its code, artefacts don't drift."""

from __future__ import annotations

import json
from typing import Any

import pytest

from badges_schemas import Code, Command, Invalid, Unreadable, parse
from badges_schemas.commands import CommandType
from badges_schemas.export import GENERATED, render

COMMAND_ID = "7c9e6679-7425-40de-944b-e07fc1f90ae7"
BADGE = "6581281e8f68666070de15c5"


def message(type_: str, body_: dict[str, Any], **envelope: Any) -> bytes:
    body = {"commandId": COMMAND_ID, "type": type_, "orgId": 50156, "actorId": 123,
            "payload": body_, **envelope}
    return json.dumps(body).encode()


# The API reference's own examples, as commands.
API_EXAMPLES = [
    ("ClaimBadge", {"badgeId": BADGE, "ownerType": "Loyalty", "referenceId": "123"}),
    ("UnclaimBadge", {"badgeId": BADGE, "ownerType": "Loyalty", "referenceId": "123"}),
    ("UnclaimBadge", {"badgeId": "69381220cebb9648d8974518", "ownerType": "Loyalty",
                      "referenceId": "ABC"}),
    ("CreateBadgeGroup", {"name": "GROUP_RANK_2", "rank": 2}),
    ("UpdateBadgeGroup", {"groupId": BADGE, "name": "GROUP_RANK_58", "rank": 1}),
]


@pytest.mark.parametrize(("type_", "payload"), API_EXAMPLES)
def test_api_examples_validate(type_: str, payload: dict[str, Any]) -> None:
    parsed = parse(message(type_, payload))
    assert isinstance(parsed, Command)
    assert parsed.type == CommandType(type_)
    assert parsed.commandId == COMMAND_ID and parsed.orgId == 50156


@pytest.mark.parametrize("owner", ["Loyalty", "Loyalty_Promotion", "Referral_Campaigns",
                                   "Journeys", "Audience_Campaigns", "Rewards_Catalog",
                                   "Goodwill_Module", "Milestones", "Historical_Import"])
def test_all_nine_owner_types_are_accepted(owner: str) -> None:
    payload = {"badgeId": BADGE, "ownerType": owner, "referenceId": "1"}
    assert isinstance(parse(message("ClaimBadge", payload)), Command)


CLAIM = {"badgeId": BADGE, "ownerType": "Loyalty", "referenceId": "123"}
GROUP = {"groupId": BADGE, "name": "Gold", "rank": 1}

BAD_FIELDS = [
    ("ClaimBadge", {**CLAIM, "ownerType": "loyalty"}, Code.INVALID_ENUM),
    ("ClaimBadge", {**CLAIM, "ownerType": 3}, Code.INVALID_ENUM),
    ("UnclaimBadge", {k: v for k, v in CLAIM.items() if k != "ownerType"}, Code.INVALID_ENUM),
    ("ClaimBadge", {k: v for k, v in CLAIM.items() if k != "referenceId"},
     Code.OWNER_ID_MANDATORY),
    ("ClaimBadge", {**CLAIM, "referenceId": ""}, Code.OWNER_ID_MANDATORY),
    ("UnclaimBadge", {**CLAIM, "referenceId": None}, Code.OWNER_ID_MANDATORY),
    ("ClaimBadge", {**CLAIM, "referenceId": 123}, Code.INVALID_FIELD),
    ("ClaimBadge", {**CLAIM, "referenceId": "r" * 257}, Code.INVALID_FIELD),
    ("CreateBadgeGroup", {"name": "n" * 257, "rank": 1}, Code.INVALID_FIELD),
    ("UnclaimBadge", {**CLAIM, "referenceId": {"$ne": None}}, Code.INVALID_FIELD),
    ("ClaimBadge", {**CLAIM, "badgeId": "not-an-id"}, Code.INVALID_BADGE_ID),
    ("ClaimBadge", {**CLAIM, "badgeId": {"$gt": ""}}, Code.INVALID_BADGE_ID),
    ("CreateBadgeGroup", {"name": "Gold"}, Code.GROUP_RANK_MANDATORY),
    ("CreateBadgeGroup", {"name": "Gold", "rank": None}, Code.GROUP_RANK_MANDATORY),
    ("CreateBadgeGroup", {"name": "Gold", "rank": "1"}, Code.INVALID_FIELD),
    ("CreateBadgeGroup", {"name": "Gold", "rank": True}, Code.INVALID_FIELD),
    ("CreateBadgeGroup", {"rank": 1}, Code.GROUP_NAME_MANDATORY),
    ("CreateBadgeGroup", {"name": "", "rank": 1}, Code.GROUP_NAME_MANDATORY),
    ("CreateBadgeGroup", {"name": {"$ne": None}, "rank": 1}, Code.INVALID_FIELD),
    ("UpdateBadgeGroup", {k: v for k, v in GROUP.items() if k != "rank"},
     Code.GROUP_RANK_MANDATORY),
    ("UpdateBadgeGroup", {**GROUP, "groupId": "123"}, Code.INVALID_GROUP_ID),
]


@pytest.mark.parametrize(("type_", "payload", "code"), BAD_FIELDS)
def test_each_bad_field_maps_to_its_code(type_: str, payload: dict[str, Any], code: Code) -> None:
    parsed = parse(message(type_, payload))
    assert isinstance(parsed, Invalid)
    assert [p.code for p in parsed.problems] == [code]
    assert parsed.commandId == COMMAND_ID and parsed.type == type_ and parsed.orgId == 50156


def test_every_bad_field_is_reported_not_just_the_first() -> None:
    parsed = parse(message("ClaimBadge", {"badgeId": "x", "ownerType": "Nope"}))
    assert isinstance(parsed, Invalid)
    assert sorted(p.code for p in parsed.problems) == [400, 717, Code.INVALID_BADGE_ID]


def test_api_codes_keep_the_api_messages() -> None:
    assert {c.value: c.message for c in Code if c < 1000} == {
        400: "Invalid enum value", 717: "OwnerId is mandatory",
        732: "Group Rank is Mandatory.", 733: "Group Name should be Unique.",
        737: "Claim not found in existing claims",
    }


def test_codes_are_unique() -> None:
    values = [c.value for c in Code]
    assert len(values) == len(set(values))


def test_unknown_type_is_an_error_result() -> None:
    parsed = parse(message("DeleteBadge", CLAIM))
    assert isinstance(parsed, Invalid)
    assert [p.code for p in parsed.problems] == [Code.UNKNOWN_COMMAND_TYPE]


def test_type_not_carried_by_the_topic_is_an_error_result() -> None:
    parsed = parse(message("CreateBadgeGroup", {"name": "a", "rank": 1}),
                   frozenset({CommandType.CLAIM_BADGE}))
    assert isinstance(parsed, Invalid)
    assert [p.code for p in parsed.problems] == [Code.UNKNOWN_COMMAND_TYPE]


@pytest.mark.parametrize(("field", "value"), [("orgId", "50156"), ("actorId", None),
                                              ("orgId", True), ("payload", [])])
def test_malformed_envelope_fields(field: str, value: Any) -> None:
    parsed = parse(message("ClaimBadge", CLAIM, **{field: value}))
    assert isinstance(parsed, Invalid)
    assert [p.code for p in parsed.problems] == [Code.MALFORMED_COMMAND]
    assert field in parsed.problems[0].message


@pytest.mark.parametrize("raw", [b"\xff\xfe garbage", b"[1, 2]", b"null", b"",
                                 json.dumps({"type": "ClaimBadge"}).encode(),
                                 json.dumps({"commandId": "not-a-uuid"}).encode(),
                                 json.dumps({"commandId": 42}).encode()])
def test_unreadable_messages_are_dead_letters(raw: bytes) -> None:
    assert isinstance(parse(raw), Unreadable)


def test_issued_at_is_read_from_iso_text() -> None:
    parsed = parse(message("ClaimBadge", CLAIM, issuedAt="2026-01-21T08:34:50Z"))
    assert isinstance(parsed, Command) and parsed.issuedAt is not None
    assert parsed.issuedAt.timestamp() == 1768984490.0


def test_committed_artefacts_match_the_models() -> None:
    expected = render()
    # The gateway's OpenAPI document has its own test (test_gateway_openapi.py).
    committed = {p.name: p.read_text() for p in GENERATED.iterdir()
                 if p.name != "gateway-openapi.json"}
    assert committed == expected, "run `make schemas` and commit schemas/generated"


def test_asyncapi_names_every_topic_and_message() -> None:
    document = json.loads((GENERATED / "asyncapi.json").read_text())
    addresses = {c["address"] for c in document["channels"].values()}
    assert "{prefix}.badge-claims.v1" in addresses
    assert "{prefix}.results.v1" in addresses and "{prefix}.dead-letter.v1" in addresses
    assert set(document["components"]["messages"]) == {
        "ClaimBadge", "UnclaimBadge", "CreateBadgeGroup", "UpdateBadgeGroup", "ResultEvent",
        "DeadLetter",
    }
