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
    GroupListEnvelope,
    TimeoutEnvelope,
    UnavailableEnvelope,
)
from service.gateway.idempotency import HEADER
from service.gateway.params import AFTER, DEFAULT_LIMIT, INCLUDE_INACTIVE, LIMIT, MAX_LIMIT

# Documented, not enforced by the routes: a bad id is the worker's to answer (9002, 9003),
# as for a command sent to Kafka; GET answers 9003 itself.
OBJECT_ID = "^[0-9a-fA-F]{24}$"
# The routes read the credentials, ids and key from the request themselves (routes.py,
# DirectRoute), so the document's security and parameters are declared here, as FastAPI
# would have generated them from `Security(HTTPBasic)`, `Path` and `Header` parameters.
_TOKEN = ("an access token of an API client of BADGES_GATEWAY_USERS_FILE, from "
          "POST /v3/oauth/token/generate")
SECURITY_SCHEMES = {
    "HTTPBasic": {"type": "http", "scheme": "basic",
                  "description": "a user of BADGES_GATEWAY_USERS_FILE"},
    "CapAccessToken": {"type": "apiKey", "in": "header", "name": "CAP-API-ACCESS-TOKEN",
                       "description": _TOKEN},
    "CapOAuthToken": {"type": "apiKey", "in": "header", "name": "X-CAP-API-OAUTH-TOKEN",
                      "description": _TOKEN},
    "BearerToken": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                    "description": _TOKEN},
}
_SECURITY: list[dict[str, list[str]]] = [{name: []} for name in SECURITY_SCHEMES]
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
_COMMAND_ID = {"Badges-Command-Id": {
    "description": "the command's id, whenever one was made (look it up: `badges results`)",
    "schema": {"type": "string", "format": "uuid"}}}
_RETRY_AFTER = {"Retry-After": {"description": "seconds to wait before trying again",
                                "schema": {"type": "integer"}}}
TOO_MANY_CHECKS = {"model": ErrorEnvelope, "headers": _RETRY_AFTER,
    "description": (f"{listed((Code.TOO_MANY_CHECKS,))}: credentials that are not cached "
                    "would wait behind too many checks (a flood); nothing was done")}
_FORBIDDEN = {"model": ErrorEnvelope, "description": (
    f"{listed((Code.ACCESS_DENIED,))}: the caller's access to the loyalty target groups "
    "(Target Groups) is below what the call needs (Modify for writes, View for reads); "
    "nothing was published")}
_UNAUTHORIZED = {"model": ErrorEnvelope, "headers": {"WWW-Authenticate": {
    "description": "the scheme to authenticate with", "schema": {"type": "string"}}},
    "description": (
    f"missing or wrong credentials: {listed((Code.UNAUTHORIZED,))}; nothing was published")}
# What any path can answer, whatever its route: the envelope always.
_ANY_ROUTE: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorEnvelope, "description": (
        f"{listed((Code.UNKNOWN_PATH,))}: no route has this path (an id that does not match "
        "a route's pattern, a misspelled or wrongly cased segment)")},
    405: {"model": ErrorEnvelope, "description": (
        f"{listed((Code.METHOD_NOT_ALLOWED,))}: the path has no route for the method"),
        "headers": {"Allow": {"description": "the path's methods",
                              "schema": {"type": "string"}}}},
    500: {"model": ErrorEnvelope, "description": (
        f"{listed((Code.INTERNAL_ERROR,))}: a fault of the gateway (logged); what was "
        "published, if anything, is answered by the worker as usual")},
}
_UNAVAILABLE = {"model": UnavailableEnvelope, "headers": _RETRY_AFTER,
    "description": (
    f"{listed((Code.UNAVAILABLE,))}: the gateway is not connected yet (nothing was "
    "published), Kafka did not acknowledge the command, or its result can no longer be "
    "read here (then `commandId` says which; send it again with the same Idempotency-Key, "
    "or look it up with `badges results`)")}


def _path_id(name: str, code: Code) -> dict[str, Any]:
    description = f"24 hex digits; else 400 with {code.value}"
    return {"name": name, "in": "path", "required": True, "description": description,
            "schema": {"type": "string", "pattern": OBJECT_ID, "description": description,
                       "title": name.capitalize()}}


def _query_id(required: bool, description: str) -> dict[str, Any]:
    return {"name": "groupId", "in": "query", "required": required,
            "description": description,
            "schema": {"type": "string", "description": description, "title": "Groupid"}}


def _body(command_type: CommandType, ids: list[dict[str, Any]]) -> dict[str, Any]:
    # OwnerType's schema is among the document's components already (ClaimData's).
    schema = _BODIES[command_type].model_json_schema(
        ref_template="#/components/schemas/{model}")
    schema.pop("$defs", None)
    return {"security": _SECURITY, "parameters": [*ids, _IDEMPOTENCY_KEY],
            "requestBody": {"required": True, "content": {"application/json": {
                "schema": schema}}}}


def _ids(command_type: CommandType) -> list[dict[str, Any]]:
    path_id = PATH_IDS[command_type]
    if path_id is not None:
        return [_path_id(*path_id)]
    return [_query_id(False, "names a group: the request is then that group's update (the "
                             "update page's query form), never a create")]


def command(command_type: CommandType) -> dict[str, Any]:
    """The keyword arguments of a write route's decorator."""
    return _write(command_type, _SUMMARIES[command_type], _ids(command_type))


def update_form(path: str, method: str) -> dict[str, Any]:
    """The update's route for one of its spellings (routes.py)."""
    if "{groupId" in path:
        ids = [_path_id("groupId", Code.INVALID_GROUP_ID)]
    else:
        ids = [_query_id(True, "the group to update; required on this path (else 400 with "
                               f"{Code.INVALID_GROUP_ID.value})")]
    summary = _SUMMARIES[CommandType.UPDATE_BADGE_GROUP]
    if (path, method) != ("/group/{groupId}", "POST"):
        summary += (f" ({method} {path or '/'}: the update page's other spelling of "
                    "POST /group/{groupId}, answered the same)")
    return _write(CommandType.UPDATE_BADGE_GROUP, summary, ids)


def _write(command_type: CommandType, summary: str, ids: list[dict[str, Any]]
           ) -> dict[str, Any]:
    envelope = ENVELOPES[command_type]
    warnings = COMMAND_WARNINGS.get(command_type, ())
    ok = "the result event's envelope" + (
        f"; warnings: {listed(warnings)}" if warnings else "")
    return {
        "summary": summary,
        "description": (
            f"Publishes the command {command_type} (org and user from the credentials) and "
            f"answers its result. Codes (400): {listed(COMMAND_CODES[command_type])}, and "
            f"{listed((Code.MALFORMED_COMMAND,))} for a body that is not a JSON object, "
            f"{listed((Code.INVALID_QUERY,))} for a query parameter the path does not take "
            "(nothing published). The body's fields are passed to the worker, which "
            "decides the codes as for a command sent to Kafka."),
        "response_model": None,
        "openapi_extra": _body(command_type, ids),
        "responses": {
            200: {"model": envelope, "description": ok, "headers": _COMMAND_ID},
            400: {"model": envelope, "description": (
                "the command's errors, data null; or a query refused before publishing"),
                "headers": _COMMAND_ID},
            401: _UNAUTHORIZED,
            403: _FORBIDDEN,
            429: TOO_MANY_CHECKS,
            422: {"model": ErrorEnvelope, "description": (
                f"{listed((Code.IDEMPOTENCY_KEY_REUSED,))}: the Idempotency-Key was used "
                "with another request; nothing was published"), "headers": _COMMAND_ID},
            502: {"model": TimeoutEnvelope, "description": (
                f"{listed((Code.MALFORMED_RESULT,))}: published, but the record answering "
                "it on the results topic is not a result event"), "headers": _COMMAND_ID},
            503: _UNAVAILABLE,
            504: {"model": TimeoutEnvelope, "description": (
                f"{listed((Code.NO_RESULT_IN_TIME,))}: published, no result within "
                "BADGES_GATEWAY_TIMEOUT_SECONDS; `commandId` finds it later "
                "(`badges results`)"), "headers": _COMMAND_ID},
            **_ANY_ROUTE,
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
            400: {"model": ErrorEnvelope, "description": (
                f"{listed((Code.INVALID_GROUP_ID,))}: a bad groupId; "
                f"{listed((Code.INVALID_QUERY,))}: a query parameter")},
            401: _UNAUTHORIZED,
            403: _FORBIDDEN,
            429: TOO_MANY_CHECKS,
            **_ANY_ROUTE,
            404: {"model": ErrorEnvelope, "description": (
                f"{listed((Code.GROUP_NOT_FOUND,))}: no such group in the caller's org; "
                f"{listed((Code.UNKNOWN_PATH,))}: no route has this path")},
            503: _UNAVAILABLE,
        },
    }


def _query(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "description": description,
            "schema": {**schema, "description": description, "title": name}}


def list_groups() -> dict[str, Any]:
    bad = f"else 400 with {Code.INVALID_QUERY.value}"
    return {
        "summary": "List the badge groups of the caller's org",
        "description": ("In the order they were created, a page at a time, read from "
                        "MongoDB as GET .../group/{groupId} reads one group."),
        "response_model": None,
        "openapi_extra": {"security": _SECURITY, "parameters": [
            _query(INCLUDE_INACTIVE, {"type": "boolean", "default": False},
                   f"true: inactive (soft-deleted) groups too; {bad}"),
            _query(LIMIT, {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT,
                           "default": DEFAULT_LIMIT},
                   f"groups per page at most, 1 to {MAX_LIMIT}; {bad}"),
            _query(AFTER, {"type": "string", "pattern": OBJECT_ID},
                   f"the previous page's `next`: the page starts after that group; {bad}")]},
        "responses": {
            200: {"model": GroupListEnvelope, "description": "a page of the org's groups"},
            400: {"model": ErrorEnvelope, "description": (
                f"{listed((Code.INVALID_QUERY,))}: a query parameter, or an `after` that is "
                "none of the org's groups")},
            401: _UNAUTHORIZED,
            403: _FORBIDDEN,
            429: TOO_MANY_CHECKS,
            **_ANY_ROUTE,
            503: _UNAVAILABLE,
        },
    }
