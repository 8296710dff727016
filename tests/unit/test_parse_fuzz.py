"""Parsing never raises: any bytes give a command, an invalid-command answer or a dead letter.

And what it gives can always be answered: the rejection or dead letter encodes, a command
decides, its result encodes and its values fit MongoDB. Each case where one of these failed
blocked its partition for good (the batch was retried forever); they are pinned below.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import bson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from badges_schemas import Command, Invalid, Unreadable, parse
from service.domain.dispatch import decide
from service.domain.state import Snapshot
from service.worker.handler import Incoming, Origin, dead_letter_json, rejection_json, result_json
from tests.chaos.fuzz import messages
from tests.unit.memory_store import ACCEPTED
from tests.unit.strategies import broken_documents

# Health checks judge how fast examples are generated; huge strings and a machine shared
# with other test runs make that slow, which says nothing about the code under test.
FAST = settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
CID = "0b6f4d1e-2f3a-4c55-9d7e-1f2a3b4c5d6e"


def answerable(raw: bytes | None, topic: str | None = None) -> Command | Invalid | Unreadable:
    """Parse, then build what the worker would publish and store for it; nothing may raise."""
    outcome = parse(raw, ACCEPTED[topic] if topic else None)
    assert isinstance(outcome, Command | Invalid | Unreadable)
    if isinstance(outcome, Unreadable):
        incoming = Incoming(outcome, b"k", raw, Origin("t", 0, 0, 1.7e9))
        json.loads(dead_letter_json(incoming, outcome.reason))
    elif isinstance(outcome, Invalid):
        json.loads(rejection_json(outcome))
    else:
        at = outcome.issuedAt.timestamp() if outcome.issuedAt else 1.7e9
        json.loads(result_json(outcome, decide(outcome, Snapshot(), at)))
        bson.encode({"orgId": outcome.orgId, "actorId": outcome.actorId, "at": at,
                     "payload": outcome.payload.model_dump(mode="json")})
    return outcome


@FAST
@given(st.binary(max_size=2_000))
def test_any_bytes(raw: bytes) -> None:
    answerable(raw)


@FAST
@given(broken_documents(), st.sampled_from(sorted(ACCEPTED)))
def test_broken_commands(raw: bytes, topic: str) -> None:
    answerable(raw, topic)


@settings(max_examples=15, deadline=None)
@given(st.integers(0, 2**32))
def test_generated_fuzz_messages(seed: int) -> None:
    """The live fuzz's own mutations, each parsed as its expected kind says."""
    kinds = {Command: "valid", Invalid: "invalid", Unreadable: "unreadable"}
    for message in messages(60, seed):
        assert kinds[type(answerable(message.value, message.topic))] == message.kind


def _command(**changes: object) -> bytes:
    doc: dict[str, object] = {"commandId": CID, "type": "CreateBadgeGroup", "orgId": 1,
                              "actorId": 2, "payload": {"name": "Gold", "rank": 1}}
    doc.update(changes)
    return json.dumps(doc).encode()


def codes(outcome: object) -> list[int]:
    assert isinstance(outcome, Invalid), outcome
    return [p.code for p in outcome.problems]


def test_nesting_too_deep_for_the_parser_is_a_dead_letter() -> None:
    assert isinstance(answerable(b"[" * 100_000), Unreadable)
    deep = _command(payload={"name": "__X__", "rank": 1}).replace(
        b'"__X__"', b'{"a":' * 50_000 + b"1" + b"}" * 50_000)
    assert isinstance(answerable(deep), Unreadable)


def test_integers_mongodb_cannot_store_are_invalid() -> None:
    assert codes(answerable(_command(orgId=2**63))) == [9000]
    assert codes(answerable(_command(actorId=-(2**63) - 1))) == [9000]
    assert codes(answerable(_command(payload={"name": "Gold", "rank": 2**70}))) == [9005]
    assert isinstance(answerable(_command(orgId=2**63 - 1)), Command)


def test_issued_at_outside_the_group_id_range_is_invalid() -> None:
    for moment in ("1969-12-31T23:59:59Z", "2106-02-07T06:28:16Z", "9999-01-01T00:00:00Z", -5):
        assert codes(answerable(_command(issuedAt=moment))) == [9000], moment


def test_issued_at_without_offset_is_utc() -> None:
    outcome = answerable(_command(issuedAt="2026-11-28T05:00:00"))
    assert isinstance(outcome, Command) and outcome.issuedAt is not None
    assert outcome.issuedAt == datetime(2026, 11, 28, 5, 0, tzinfo=UTC)


def test_unencodable_or_huge_type_is_answered_without_echoing_it() -> None:
    for raw in (_command(type="\ud800x"), _command(type="\ud800", orgId="x"),
                _command(type="T" * 900_000)):
        outcome = answerable(raw)
        assert isinstance(outcome, Invalid) and outcome.type is None
        assert len(rejection_json(outcome)) < 2_000
