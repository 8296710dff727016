"""The Badges API's routes: four writes through Kafka, and a group read from MongoDB."""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Path, Request, Security
from fastapi.responses import JSONResponse
from fastapi.security import HTTPBasic
from pymongo.errors import PyMongoError

from schemas import Code
from schemas.commands import CommandType
from service.gateway import docs
from service.gateway.auth import Authenticator, Identity
from service.gateway.commands import Answer, execute
from service.gateway.envelopes import failure, group_answer
from service.gateway.idempotency import HEADER
from service.gateway.runtime import GatewayRuntime

PREFIX = "/api_gateway/v1/badges"
COMMAND_ID_HEADER = "Badges-Command-Id"


class UnauthorizedError(Exception):
    """Missing or wrong credentials: 401, nothing published."""


class UnavailableError(Exception):
    """Not connected to Kafka and MongoDB yet: 503, nothing published."""


def runtime_of(request: Request) -> GatewayRuntime:
    runtime: GatewayRuntime = request.app.state.runtime
    return runtime


class _DocumentedBasic(HTTPBasic):
    """HTTP Basic as the OpenAPI document declares it; `caller` does the checking (FastAPI's
    own would answer a malformed header with its 401, not the API's envelope)."""

    async def __call__(self, request: Request) -> None:  # type: ignore[override]
        return None


_basic = _DocumentedBasic(scheme_name="HTTPBasic",
                          description="a user of BADGES_GATEWAY_USERS_FILE")


async def caller(request: Request, _: Annotated[None, Security(_basic)]) -> Identity:
    authenticator: Authenticator = request.app.state.authenticator
    identity = await authenticator.identify(request.headers.get("authorization"))
    if identity is None:
        raise UnauthorizedError
    if not runtime_of(request).ready.is_set():
        raise UnavailableError
    return identity


Caller = Annotated[Identity, Depends(caller)]
IdempotencyKey = Annotated[str | None, Header(
    alias=HEADER, description="makes the commandId: a retried request gets the same answer")]

# Documented, not enforced here: a bad id is the worker's to answer (9002, 9003), as for a
# command sent to Kafka; GET answers 9003 itself.
OBJECT_ID = "^[0-9a-fA-F]{24}$"
BadgeId = Annotated[str, Path(description="24 hex digits; else 400 with 9002",
                              json_schema_extra={"pattern": OBJECT_ID})]
GroupId = Annotated[str, Path(description="24 hex digits; else 400 with 9003",
                              json_schema_extra={"pattern": OBJECT_ID})]

router = APIRouter(prefix=PREFIX)


def _reply(answer: Answer) -> JSONResponse:
    headers = {COMMAND_ID_HEADER: answer.command_id} if answer.command_id else None
    return JSONResponse(answer.body, status_code=answer.status, headers=headers)


async def _command(request: Request, command_type: CommandType, identity: Identity,
                   path_ids: dict[str, str], key: str | None) -> JSONResponse:
    raw = await request.body()
    return _reply(await execute(runtime_of(request), command_type, identity, raw, path_ids,
                                key))


@router.post("/badgeMeta/{badgeId}/claim", **docs.command(CommandType.CLAIM_BADGE))
async def claim(badgeId: BadgeId, request: Request, identity: Caller,  # noqa: N803
                key: IdempotencyKey = None) -> Any:
    return await _command(request, CommandType.CLAIM_BADGE, identity, {"badgeId": badgeId},
                          key)


@router.post("/badgeMeta/{badgeId}/unclaim", **docs.command(CommandType.UNCLAIM_BADGE))
async def unclaim(badgeId: BadgeId, request: Request, identity: Caller,  # noqa: N803
                  key: IdempotencyKey = None) -> Any:
    return await _command(request, CommandType.UNCLAIM_BADGE, identity, {"badgeId": badgeId},
                          key)


@router.post("/group", **docs.command(CommandType.CREATE_BADGE_GROUP))
async def create_group(request: Request, identity: Caller, key: IdempotencyKey = None) -> Any:
    return await _command(request, CommandType.CREATE_BADGE_GROUP, identity, {}, key)


@router.post("/group/{groupId}", **docs.command(CommandType.UPDATE_BADGE_GROUP))
async def update_group(groupId: GroupId, request: Request, identity: Caller,  # noqa: N803
                       key: IdempotencyKey = None) -> Any:
    return await _command(request, CommandType.UPDATE_BADGE_GROUP, identity,
                          {"groupId": groupId}, key)


@router.get("/group/{groupId}", **docs.read_group())
async def get_group(groupId: GroupId, request: Request, identity: Caller) -> Any:  # noqa: N803
    if re.fullmatch(OBJECT_ID, groupId) is None:
        detail = f"groupId: String should match pattern '{OBJECT_ID}'"
        return JSONResponse(failure(Code.INVALID_GROUP_ID, detail), status_code=400)
    store = runtime_of(request).store
    assert store is not None
    try:
        group = await store.group(identity.org_id, groupId)
    except PyMongoError:
        return JSONResponse(failure(Code.UNAVAILABLE, "MongoDB"), status_code=503)
    if group is None:
        return JSONResponse(failure(Code.GROUP_NOT_FOUND, groupId), status_code=404)
    return JSONResponse(group_answer(group.as_data()))
