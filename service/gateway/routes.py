"""The Badges API's routes: four writes through Kafka, and a group read from MongoDB.

Each route is a `DirectRoute`: FastAPI solves no dependencies and validates no parameters
per request (that machinery was a third of the gateway's CPU per request); the endpoint
takes the Request and reads the credentials, the path's id and the Idempotency-Key itself.
What the OpenAPI document says of them (security, parameters, body) is declared in
docs.py, unchanged for callers.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pymongo.errors import PyMongoError
from starlette.types import Receive, Scope, Send

from badges_schemas import Code
from badges_schemas.commands import CommandType
from service.gateway import docs
from service.gateway.auth import Authenticator, Identity
from service.gateway.commands import Answer, execute
from service.gateway.docs import OBJECT_ID
from service.gateway.envelopes import failure, group_answer
from service.gateway.idempotency import HEADER
from service.gateway.runtime import GatewayRuntime

PREFIX = "/api_gateway/v1/badges"
COMMAND_ID_HEADER = "Badges-Command-Id"

Endpoint = Callable[[Request], Coroutine[Any, Any, Response]]


class DirectRoute(APIRoute):
    """A route whose endpoint is called with the Request alone and returns the Response.

    FastAPI's request handler (dependency solving, parameter validation, response
    serialisation) and its per-route exception wrapper are skipped; exceptions go to the
    app's ExceptionMiddleware, which has the same handlers. An endpoint declaring
    parameters or dependencies would have them silently ignored, so that is refused here:
    document them in `openapi_extra` instead.
    """

    def __init__(self, path: str, endpoint: Callable[..., Any], **options: Any) -> None:
        super().__init__(path, endpoint, **options)
        declared = self.dependant
        if (declared.path_params or declared.query_params or declared.header_params
                or declared.cookie_params or declared.body_params or declared.dependencies):
            raise TypeError(f"{path}: a DirectRoute's endpoint takes only the Request; "
                            "document its parameters in openapi_extra")
        self.app = self._serve

    def get_route_handler(self) -> Endpoint:
        endpoint: Endpoint = self.endpoint
        return endpoint

    async def _serve(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = await self.endpoint(Request(scope, receive, send))
        await response(scope, receive, send)


def runtime_of(request: Request) -> GatewayRuntime:
    runtime: GatewayRuntime = request.app.state.runtime
    return runtime


async def caller(request: Request) -> Identity | Response:
    """Who calls, or the answer that ends the request (nothing published either way):
    401 for missing or wrong credentials, then 503 while Kafka and MongoDB are not
    connected yet."""
    authenticator: Authenticator = request.app.state.authenticator
    identity = await authenticator.identify(request.headers.get("authorization"))
    if identity is None:
        return JSONResponse(
            failure(Code.UNAUTHORIZED, "HTTP Basic credentials of a gateway user"),
            status_code=401, headers={"WWW-Authenticate": 'Basic realm="badges"'})
    if not runtime_of(request).ready.is_set():
        return JSONResponse(failure(Code.UNAVAILABLE, "the gateway is still connecting; "
                                    "nothing was published"), status_code=503)
    return identity


router = APIRouter(prefix=PREFIX, route_class=DirectRoute)


def _reply(answer: Answer) -> JSONResponse:
    headers = {COMMAND_ID_HEADER: answer.command_id} if answer.command_id else None
    return JSONResponse(answer.body, status_code=answer.status, headers=headers)


async def _command(request: Request, command_type: CommandType) -> Response:
    identity = await caller(request)
    if isinstance(identity, Response):
        return identity
    path_id = docs.PATH_IDS[command_type]
    path_ids = {path_id[0]: request.path_params[path_id[0]]} if path_id else {}
    raw = await request.body()
    return _reply(await execute(runtime_of(request), command_type, identity, raw, path_ids,
                                request.headers.get(HEADER)))


@router.post("/badgeMeta/{badgeId}/claim", **docs.command(CommandType.CLAIM_BADGE))
async def claim(request: Request) -> Response:
    return await _command(request, CommandType.CLAIM_BADGE)


@router.post("/badgeMeta/{badgeId}/unclaim", **docs.command(CommandType.UNCLAIM_BADGE))
async def unclaim(request: Request) -> Response:
    return await _command(request, CommandType.UNCLAIM_BADGE)


@router.post("/group", **docs.command(CommandType.CREATE_BADGE_GROUP))
async def create_group(request: Request) -> Response:
    return await _command(request, CommandType.CREATE_BADGE_GROUP)


@router.post("/group/{groupId}", **docs.command(CommandType.UPDATE_BADGE_GROUP))
async def update_group(request: Request) -> Response:
    return await _command(request, CommandType.UPDATE_BADGE_GROUP)


@router.get("/group/{groupId}", **docs.read_group())
async def get_group(request: Request) -> Response:
    identity = await caller(request)
    if isinstance(identity, Response):
        return identity
    group_id: str = request.path_params["groupId"]
    if re.fullmatch(OBJECT_ID, group_id) is None:
        detail = f"groupId: String should match pattern '{OBJECT_ID}'"
        return JSONResponse(failure(Code.INVALID_GROUP_ID, detail), status_code=400)
    store = runtime_of(request).store
    assert store is not None
    try:
        group = await store.group(identity.org_id, group_id)
    except PyMongoError:
        return JSONResponse(failure(Code.UNAVAILABLE, "MongoDB"), status_code=503)
    if group is None:
        return JSONResponse(failure(Code.GROUP_NOT_FOUND, group_id), status_code=404)
    return JSONResponse(group_answer(group.as_data()))
