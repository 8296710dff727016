"""What the OpenAPI document says of each route: bodies, statuses, envelopes, codes."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from badges_schemas import Code, OwnerType
from badges_schemas.commands import CommandType
from service.gateway.codes import COMMAND_CODES, COMMAND_WARNINGS, listed
from service.gateway.envelopes import (
    ENVELOPES,
    ErrorEnvelope,
    GroupEnvelope,
    TimeoutEnvelope,
    UnavailableEnvelope,
)
from service.gateway.idempotency import HEADER

# Documented, not enforced by the routes: a bad id is the worker's to answer (9002, 9003),
# as for a command sent to Kafka; GET answers 9003 itself.
OBJECT_ID = "^[0-9a-fA-F]{24}$"
# The routes read the credentials, ids and key from the request themselves (routes.py,
# DirectRoute), so the document's security and parameters are declared here, as FastAPI
# would have generated them from `Security(HTTPBasic)`, `Path` and `Header` parameters.
SECURITY_SCHEMES = {"HTTPBasic": {"type": "http", "scheme": "basic",
                                  "description": "a user of BADGES_GATEWAY_USERS_FILE"}}
_SECURITY: list[dict[str, list[str]]] = [{"HTTPBasic": []}]
_KEY_DESCRIPTION = "makes the commandId: a retried request gets the same answer"
_IDEMPOTENCY_KEY = {
    "name": HEADER, "in": "header", "required": False, "description": _KEY_DESCRIPTION,
    "schema": {"anyOf": [{"type": "string"}, {"type": "null"}],
               "description": _KEY_DESCRIPTION, "title": HEADER}}
# The id a write's path carries, and the code a bad one gets.
PATH_IDS: dict[CommandType, tuple[str, Code] | None] = {
    CommandType.CLAIM_BADGE: ("badgeId", Code.INVALID_BADGE_ID),
    CommandType.UNCLAIM_BADGE: ("badgeId", Code.INVALID_BADGE_ID),
    CommandType.CREATE_BADGE_GROUP: None,
    CommandType.UPDATE_BADGE_GROUP: ("groupId", Code.INVALID_GROUP_ID),
}


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


def _path_id(name: str, code: Code) -> dict[str, Any]:
    description = f"24 hex digits; else 400 with {code.value}"
    return {"name": name, "in": "path", "required": True, "description": description,
            "schema": {"type": "string", "pattern": OBJECT_ID, "description": description,
                       "title": name.capitalize()}}


def _body(command_type: CommandType) -> dict[str, Any]:
    # OwnerType's schema is among the document's components already (ClaimData's).
    schema = _BODIES[command_type].model_json_schema(
        ref_template="#/components/schemas/{model}")
    schema.pop("$defs", None)
    path_id = PATH_IDS[command_type]
    return {"security": _SECURITY,
            "parameters": [*([_path_id(*path_id)] if path_id else []), _IDEMPOTENCY_KEY],
            "requestBody": {"required": True, "content": {"application/json": {
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
        "openapi_extra": {"security": _SECURITY,
                          "parameters": [_path_id("groupId", Code.INVALID_GROUP_ID)]},
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
