"""The benchmark's answer check: every command answered once, as the mix expects
(tests/benchmarks/verify.py)."""

from __future__ import annotations

from typing import Any

from badges_schemas import Code
from tests.benchmarks.mix import CLAIMS_ONLY, BenchCommand, build_mix
from tests.benchmarks.verify import difference, judge

ALREADY = int(Code.CLAIM_ALREADY_ACTIVE)


def _claims(count: int = 3) -> list[BenchCommand]:
    return build_mix(count, seed=7, shares=CLAIMS_ONLY)


def answer(command: BenchCommand, **changes: Any) -> dict[str, Any]:
    """The answer the mix expects, with `changes`."""
    found = {"commandId": command.command_id, "type": command.type_name,
             "orgId": command.org_id, "data": dict(command.data),
             "errors": [{"code": c} for c in command.errors],
             "warnings": [{"code": c} for c in command.warnings]}
    return {**found, **changes}


def test_the_expected_answer_has_no_difference() -> None:
    command = _claims(1)[0]
    assert difference(command, answer(command)) is None
    assert difference(command, answer(command, data={**dict(command.data), "extra": 1})) is None


def test_other_codes_are_a_difference() -> None:
    command = _claims(1)[0]
    assert "warnings (9100,)" in str(difference(command, answer(
        command, warnings=[{"code": ALREADY}])))
    assert "errors (737,)" in str(difference(command, answer(command, errors=[{"code": 737}])))


def test_another_type_org_or_known_field_is_a_difference() -> None:
    command = _claims(1)[0]
    assert difference(command, answer(command, type="UnclaimBadge")) is not None
    assert difference(command, answer(command, orgId=1)) is not None
    assert "badgeMetaId" in str(difference(command, answer(command, data={
        **dict(command.data), "badgeMetaId": "0" * 24})))


def test_judge_counts_missing_repeated_wrong_and_unsent() -> None:
    a, b, c = _claims()
    verdict = judge([a, b, c], {a.command_id: None, b.command_id: "errors (737,)"},
                    {a.command_id: 2}, unexpected=1)
    assert verdict.missing == [c.command_id]
    assert (verdict.sent, verdict.answered, verdict.duplicates) == (3, 2, 2)
    assert verdict.wrong == {"claim_new": 1}
    assert verdict.unexpected == 1
    assert not verdict.ok
    assert verdict.text() == ("2/3 1 MISSING; NOT AS EXPECTED {'claim_new': 1}; "
                              "2 ANSWERED TWICE; 1 ANSWERS TO UNSENT COMMANDS")


def test_judge_passes_every_command_answered_once_as_expected() -> None:
    commands = _claims()
    verdict = judge(commands, {c.command_id: None for c in commands}, {})
    assert verdict.ok
    assert verdict.as_dict()["text"] == "3/3 ok"
