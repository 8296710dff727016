"""What the OpenAPI document says of each route: bodies, statuses, envelopes, codes."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from schemas import Code, OwnerType
from schemas.commands import CommandType
from service.gateway.codes import COMMAND_CODES, COMMAND_WARNINGS, listed
from service.gateway.envelopes import (
    ENVELOPES,
    ErrorEnvelope,
    GroupEnvelope,
    TimeoutEnvelope,
    UnavailableEnvelope,
)


class ClaimBody(BaseModel):
    ownerType: OwnerType
    referenceId: str = Field(min_length=1, max_length=256)


class GroupBody(BaseModel):
    name: str = Field(min_length=1, max_length=256)
    rank: int = Field(ge=-(2**63), le=2**63 - 1)


_BODIES: dict[CommandType, type[BaseModel]] = {
    CommandType.CLAIM_BADGE: ClaimBody,
    CommandType.UNCLAIM_BADGE: ClaimBody,
    CommandType.CREATE_BADGE_GROUP: GroupBody,
    CommandType.UPDATE_BADGE_GROUP: GroupBody,
}
_SUMMARIES = {
    CommandType.CLAIM_BADGE: "Claim a badge for an owner module under one of its ids",
    CommandType.UNCLAIM_BADGE: "Soft-delete an owner's active claim of a badge",
    CommandType.CREATE_BADGE_GROUP: "Create a badge group",
    CommandType.UPDATE_BADGE_GROUP: "Rename and re-rank a badge group",
}
_UNAUTHORIZED = {"model": ErrorEnvelope, "description": (
    f"missing or wrong credentials: {listed((Code.UNAUTHORIZED,))}; nothing was published")}
_UNAVAILABLE = {"model": UnavailableEnvelope, "description": (
    f"{listed((Code.UNAVAILABLE,))}: the gateway is not connected yet (nothing was "
    "published), Kafka did not acknowledge the command, or its result can no longer be "
    "read here (then `commandId` says which; send it again with the same Idempotency-Key, "
    "or look it up with `badges results`)")}


def _body(command_type: CommandType) -> dict[str, Any]:
    # OwnerType's schema is among the document's components already (ClaimData's).
    schema = _BODIES[command_type].model_json_schema(
        ref_template="#/components/schemas/{model}")
    schema.pop("$defs", None)
    return {"requestBody": {"required": True, "content": {"application/json": {
        "schema": schema}}}}


def command(command_type: CommandType) -> dict[str, Any]:
    """The keyword arguments of a write route's decorator."""
    envelope = ENVELOPES[command_type]
    warnings = COMMAND_WARNINGS.get(command_type, ())
    ok = "the result event's envelope" + (
        f"; warnings: {listed(warnings)}" if warnings else "")
    return {
        "summary": _SUMMARIES[command_type],
        "description": (
            f"Publishes the command {command_type} (org and user from the credentials) and "
            f"answers its result. Codes (400): {listed(COMMAND_CODES[command_type])}, and "
            f"{listed((Code.MALFORMED_COMMAND,))} for a body that is not a JSON object. "
            "The body's fields are passed to the worker, which decides the codes as for "
            "a command sent to Kafka. Header Badges-Command-Id: the command's id."),
        "response_model": None,
        "openapi_extra": _body(command_type),
        "responses": {
            200: {"model": envelope, "description": ok},
            400: {"model": envelope, "description": "the command's errors, data null"},
            401: _UNAUTHORIZED,
            422: {"model": ErrorEnvelope, "description": (
                f"{listed((Code.IDEMPOTENCY_KEY_REUSED,))}: the Idempotency-Key was used "
                "with another request; nothing was published")},
            503: _UNAVAILABLE,
            504: {"model": TimeoutEnvelope, "description": (
                f"{listed((Code.NO_RESULT_IN_TIME,))}: published, no result within "
                "BADGES_GATEWAY_TIMEOUT_SECONDS; `commandId` finds it later "
                "(`badges results`)")},
        },
    }


def read_group() -> dict[str, Any]:
    return {
        "summary": "Read a badge group of the caller's org",
        "description": "Read from MongoDB, in the update's envelope.",
        "response_model": None,
        "responses": {
            200: {"model": GroupEnvelope, "description": "the group"},
            400: {"model": ErrorEnvelope,
                  "description": f"{listed((Code.INVALID_GROUP_ID,))}: a bad groupId"},
            401: _UNAUTHORIZED,
            404: {"model": ErrorEnvelope, "description": (
                f"{listed((Code.GROUP_NOT_FOUND,))}: no such group in the caller's org")},
            503: _UNAVAILABLE,
        },
    }
