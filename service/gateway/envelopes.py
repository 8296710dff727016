"""The gateway's response bodies: the Badges API's envelope, page by page.

The API's pages differ, and the gateway mirrors each (../shared/reference/badges-api.md):
a successful unclaim answers `"errors": null`, a successful update (and claim, create and
get) `"errors": []`. A group's `data` has the fields of the API's update example, no more:
the result event's `createdOnISO` / `lastUpdatedOnISO` are left out. Failures answer
`"data": null` with the errors; warnings (9100 on a repeated claim) pass through.
These models are also the OpenAPI document's schemas (service/gateway/openapi.py).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from badges_schemas import ApiGroupData, ClaimData, Code, Problem, ResultEvent, UnclaimData
from badges_schemas.commands import CommandType


class ApiProblem(BaseModel):
    code: int
    message: str


GroupData = ApiGroupData  # the name the OpenAPI document and the routes use

GROUP_FIELDS = tuple(GroupData.model_fields)


class _Envelope(BaseModel):
    model_config = ConfigDict(extra="forbid")

    errors: list[ApiProblem]
    warnings: list[ApiProblem]


class ClaimEnvelope(_Envelope):
    data: ClaimData | None


class UnclaimEnvelope(_Envelope):
    data: UnclaimData | None
    errors: list[ApiProblem] | None = Field(  # type: ignore[assignment]
        description="null on success (as the API's unclaim page shows), else the errors")


class GroupEnvelope(_Envelope):
    data: GroupData | None


class GroupList(BaseModel):
    groups: list[GroupData] = Field(description="in the order they were created")
    next: str | None = Field(description=(
        "pass as `after` for the next page; null when no group of the org follows"))


class GroupListEnvelope(_Envelope):
    data: GroupList | None


class ErrorEnvelope(_Envelope):
    """An answer of the gateway's own (credentials, idempotency, lookups): no data."""

    data: None


class TimeoutEnvelope(ErrorEnvelope):
    """504: the command was published, its result did not arrive in time."""

    commandId: str = Field(description="look the result up later: `badges results`")


class UnavailableEnvelope(ErrorEnvelope):
    """503: not connected yet (nothing published), or Kafka did not acknowledge a command."""

    commandId: str | None = Field(default=None, description=(
        "the command Kafka did not acknowledge: send it again with the same Idempotency-Key"))


# Per command type: the envelope model of its route, and what `errors` is on success.
ENVELOPES: dict[CommandType, type[_Envelope]] = {
    CommandType.CLAIM_BADGE: ClaimEnvelope,
    CommandType.UNCLAIM_BADGE: UnclaimEnvelope,
    CommandType.CREATE_BADGE_GROUP: GroupEnvelope,
    CommandType.UPDATE_BADGE_GROUP: GroupEnvelope,
}
_ERRORS_ON_SUCCESS: dict[CommandType, list[Any] | None] = {
    CommandType.CLAIM_BADGE: [],
    CommandType.UNCLAIM_BADGE: None,
    CommandType.CREATE_BADGE_GROUP: [],
    CommandType.UPDATE_BADGE_GROUP: [],
}


def _problems(problems: list[Problem]) -> list[dict[str, Any]]:
    return [p.model_dump() for p in problems]


def group_data(data: dict[str, Any]) -> dict[str, Any]:
    return {name: data[name] for name in GROUP_FIELDS}


def from_result(command_type: CommandType, event: ResultEvent) -> dict[str, Any]:
    """The API's answer to a command, from its result event."""
    warnings = _problems(event.warnings)
    if event.errors:
        return {"data": None, "errors": _problems(event.errors), "warnings": warnings}
    data = event.data
    if data is not None and command_type in (CommandType.CREATE_BADGE_GROUP,
                                             CommandType.UPDATE_BADGE_GROUP):
        data = group_data(data)
    return {"data": data, "errors": _ERRORS_ON_SUCCESS[command_type], "warnings": warnings}


def group_answer(data: dict[str, Any]) -> dict[str, Any]:
    """GET of a group: the update's envelope and data."""
    return {"data": group_data(data), "errors": [], "warnings": []}


def groups_answer(groups: list[dict[str, Any]], next_after: str | None) -> dict[str, Any]:
    """GET of the org's groups: each as GET of one shows it, in the same envelope."""
    return {"data": {"groups": [group_data(g) for g in groups], "next": next_after},
            "errors": [], "warnings": []}


def failure(code: Code, detail: str | None = None) -> dict[str, Any]:
    return {"data": None, "errors": _problems([Problem.of(code, detail)]), "warnings": []}
