"""Reading raw message bytes into a Command, field-by-field error codes, or a dead letter.

Three outcomes, because they are answered differently:
- `Command`: valid; it will be decided and applied.
- `Invalid`: readable JSON with a usable commandId that breaks the contract: answered with
  an error result carrying one registered code per bad field.
- `Unreadable`: no commandId to answer to: goes to the dead-letter topic.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from badges_schemas.codes import Code
from badges_schemas.commands import MAX_TEXT_LENGTH, PAYLOADS, Command, CommandEnvelope, CommandType
from badges_schemas.envelope import Problem


@dataclass(frozen=True)
class Invalid:
    commandId: str
    type: str | None
    orgId: int | None
    problems: tuple[Problem, ...]


@dataclass(frozen=True)
class Unreadable:
    reason: str


# Payload fields whose absence has its own API code; any other fault is INVALID_FIELD.
_MANDATORY = {
    "referenceId": Code.OWNER_ID_MANDATORY,
    "rank": Code.GROUP_RANK_MANDATORY,
    "name": Code.GROUP_NAME_MANDATORY,
}
# Payload fields whose every fault has one code.
_ANY_FAULT = {
    "ownerType": Code.INVALID_ENUM,
    "badgeId": Code.INVALID_BADGE_ID,
    "groupId": Code.INVALID_GROUP_ID,
}


def parse(
    raw: bytes | None, accepted: frozenset[CommandType] | None = None
) -> Command | Invalid | Unreadable:
    """Read one message value; `accepted` are the command types its topic carries."""
    try:
        document = json.loads(raw) if raw is not None else None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return Unreadable(f"value is not JSON: {exc}")
    except RecursionError:
        return Unreadable("value is JSON nested too deeply to read")
    if not isinstance(document, dict):
        return Unreadable(f"value is JSON but not an object: {type(document).__name__}")
    try:
        envelope = CommandEnvelope.model_validate(document)
    except ValidationError as exc:
        return _invalid_envelope(document, exc)
    return _parse_payload(envelope, accepted)


def _invalid_envelope(document: dict[str, Any], exc: ValidationError) -> Invalid | Unreadable:
    faults = {str(e["loc"][0]): e for e in exc.errors()}
    if "commandId" in faults:
        return Unreadable(f"no usable commandId: {faults['commandId']['msg']}")
    problems = tuple(
        Problem.of(Code.MALFORMED_COMMAND, f"{field}: {error['msg']}")
        for field, error in faults.items()
    )
    org_id = document.get("orgId")
    return Invalid(
        commandId=str(document["commandId"]),
        type=_echo(document.get("type")),
        orgId=org_id if type(org_id) is int else None,
        problems=problems,
    )


def _echo(value: object) -> str | None:
    """The type to echo in a rejection: only a short, encodable string. A huge one would make
    the result too large for the broker, a lone surrogate impossible to encode: either would
    block the partition behind a result that can never be sent."""
    if not isinstance(value, str) or len(value) > MAX_TEXT_LENGTH:
        return None
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return None
    return value


def _shorten(text: str) -> str:
    return text if len(text) <= MAX_TEXT_LENGTH else text[:MAX_TEXT_LENGTH] + "..."


def _parse_payload(
    envelope: CommandEnvelope, accepted: frozenset[CommandType] | None
) -> Command | Invalid:
    def invalid(*problems: Problem) -> Invalid:
        return Invalid(str(envelope.commandId), _echo(envelope.type), envelope.orgId, problems)

    try:
        command_type = CommandType(envelope.type)
    except ValueError:
        return invalid(Problem.of(Code.UNKNOWN_COMMAND_TYPE, repr(_shorten(envelope.type))))
    if accepted is not None and command_type not in accepted:
        detail = f"{envelope.type} is not accepted on this topic"
        return invalid(Problem.of(Code.UNKNOWN_COMMAND_TYPE, detail))
    try:
        payload = PAYLOADS[command_type].model_validate(envelope.payload)
    except ValidationError as exc:
        return invalid(*(_payload_problem(e) for e in exc.errors()))
    return Command(
        commandId=str(envelope.commandId),
        type=command_type,
        orgId=envelope.orgId,
        actorId=envelope.actorId,
        issuedAt=envelope.issuedAt,
        payload=payload,
    )


def _payload_problem(error: ErrorDetails) -> Problem:
    field = str(error["loc"][0]) if error["loc"] else ""
    absent = error["type"] in ("missing", "string_too_short") or error.get("input", 0) is None
    if field in _MANDATORY and absent:
        return Problem.of(_MANDATORY[field])
    code = _ANY_FAULT.get(field, Code.INVALID_FIELD)
    return Problem.of(code, f"{field}: {error['msg']}")
