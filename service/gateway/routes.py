"""The Badges API's routes: four writes through Kafka, and group reads from MongoDB.

Each route is a `DirectRoute`: FastAPI solves no dependencies and validates no parameters
per request (that machinery was a third of the gateway's CPU per request); the endpoint
takes the Request and reads the credentials, the path's id and the Idempotency-Key itself.
What the OpenAPI document says of them (security, parameters, body) is declared in
docs.py, unchanged for callers.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pymongo.errors import PyMongoError
from starlette.convertors import Convertor, register_url_convertor
from starlette.datastructures import QueryParams
from starlette.types import Receive, Scope, Send

from badges_schemas import Code
from badges_schemas.commands import CommandType
from service.gateway import docs
from service.gateway.auth import Authenticator, ChecksBusyError, Identity
from service.gateway.commands import Answer, execute
from service.gateway.docs import OBJECT_ID
from service.gateway.envelopes import failure, group_answer, groups_answer
from service.gateway.idempotency import HEADER
from service.gateway.params import (
    GROUP_ID,
    ListQuery,
    ParamsError,
    checked,
    list_query,
    update_target,
)
from service.gateway.runtime import GatewayRuntime
from service.gateway.users import Access, ResourceGroup
from service.store.gateway_reads import GatewayStore
from service.store.group_index import UnknownCursorError

PREFIX = "/api_gateway/v1/badges"
COMMAND_ID_HEADER = "Badges-Command-Id"
RETRY_AFTER = "1"  # seconds: a 503 is a dependency not answering now, not a refusal
CHALLENGES = 'Basic realm="badges", Bearer realm="badges"'


class ObjectIdConvertor(Convertor[str]):
    """A path segment of 24 hex digits (an ObjectId's text)."""

    regex = "[0-9a-fA-F]{24}"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("objectid", ObjectIdConvertor())

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


async def caller(request: Request, needed: Access) -> Identity | Response:
    """Who calls, or the answer that ends the request (nothing published either way):
    401 for missing or wrong credentials, 403 without the `needed` access to the loyalty
    target groups (the badges APIs' resource group), then 503 while Kafka and MongoDB are
    not connected yet."""
    authenticator: Authenticator = request.app.state.authenticator
    try:
        identity = await authenticator.identify_request(request.headers)
    except ChecksBusyError as exc:
        return busy(exc)
    if identity is None:
        return JSONResponse(
            failure(Code.UNAUTHORIZED, "HTTP Basic credentials of a gateway user, or a valid "
                    "OAuth access token of an API client of the org"),
            status_code=401, headers={"WWW-Authenticate": CHALLENGES})
    if not identity.may(needed):
        detail = (f"{needed} access to {ResourceGroup.TARGET_GROUPS} is needed; {identity.name}"
                  f" has {identity.rights.get(ResourceGroup.TARGET_GROUPS, Access.NONE)}")
        return JSONResponse(failure(Code.ACCESS_DENIED, detail), status_code=403)
    if not runtime_of(request).ready.is_set():
        return JSONResponse(failure(Code.UNAVAILABLE, "the gateway is still connecting; "
                                    "nothing was published"), status_code=503,
                            headers={"Retry-After": RETRY_AFTER})
    return identity


def busy(exc: ChecksBusyError) -> JSONResponse:
    """429: the credentials would wait behind too many checks (a flood); nothing done."""
    return JSONResponse(failure(Code.TOO_MANY_CHECKS, str(exc)), status_code=429,
                        headers={"Retry-After": RETRY_AFTER})


router = APIRouter(prefix=PREFIX, route_class=DirectRoute)
IdsOf = Callable[[Request], dict[str, str]]
Q = TypeVar("Q")


def _reply(answer: Answer) -> JSONResponse:
    headers = {COMMAND_ID_HEADER: answer.command_id} if answer.command_id else None
    if answer.status == 503:
        headers = {**(headers or {}), "Retry-After": RETRY_AFTER}
    return JSONResponse(answer.body, status_code=answer.status, headers=headers)


def _refused(exc: ParamsError) -> JSONResponse:
    return JSONResponse(failure(exc.code, exc.detail), status_code=400)


async def _command(request: Request, command_type: CommandType, ids_of: IdsOf) -> Response:
    identity = await caller(request, Access.MODIFY)
    if isinstance(identity, Response):
        return identity
    try:
        path_ids = ids_of(request)
    except ParamsError as exc:
        return _refused(exc)
    raw = await request.body()
    return _reply(await execute(runtime_of(request), command_type, identity, raw, path_ids,
                                request.headers.get(HEADER)))


def _badge_id(request: Request) -> dict[str, str]:
    checked(request.query_params, ())
    return {"badgeId": request.path_params["badgeId"]}


def _no_id(request: Request) -> dict[str, str]:
    checked(request.query_params, ())
    return {}


def _group_id(request: Request) -> dict[str, str]:
    query = checked(request.query_params, (GROUP_ID,))
    return {GROUP_ID: update_target(request.path_params.get(GROUP_ID), query)}


@router.post("/badgeMeta/{badgeId}/claim", **docs.command(CommandType.CLAIM_BADGE))
async def claim(request: Request) -> Response:
    return await _command(request, CommandType.CLAIM_BADGE, _badge_id)


@router.post("/badgeMeta/{badgeId}/unclaim", **docs.command(CommandType.UNCLAIM_BADGE))
async def unclaim(request: Request) -> Response:
    return await _command(request, CommandType.UNCLAIM_BADGE, _badge_id)


@router.post("/group", **docs.command(CommandType.CREATE_BADGE_GROUP))
async def create_group(request: Request) -> Response:
    """A create, unless the query names a group: then the update's query form."""
    if GROUP_ID in request.query_params:
        return await update_group(request)
    return await _command(request, CommandType.CREATE_BADGE_GROUP, _no_id)


async def update_group(request: Request) -> Response:
    return await _command(request, CommandType.UPDATE_BADGE_GROUP, _group_id)


# The update as the API's page spells it, and every other spelling the page shows: PUT,
# groupId in the query, and the path without `group/` (an id of 24 hex digits only, so
# that any other unknown path stays a 404). (path, method, name); the documented spelling
# keeps its operationId. POST /group is create_group's, above.
UPDATE_FORMS = [("/group/{groupId}", "POST", "update_group"),
                *((path, "PUT", "update_group_put") for path in ("/group/{groupId}", "/group")),
                *((path, method, f"update_group_{method.lower()}")
                  for path in ("/{groupId:objectid}", "/", "") for method in ("POST", "PUT"))]
for _path, _method, _name in UPDATE_FORMS:
    # "" (no slash) answers as "/" does, rather than with a redirect; it is documented once.
    router.add_api_route(_path, update_group, methods=[_method], name=_name,
                         include_in_schema=_path != "", **docs.update_form(_path, _method))


async def _read(request: Request, parse: Callable[[QueryParams], Q],
                read: Callable[[GatewayStore, int, Q], Awaitable[Response]]) -> Response:
    """A read from MongoDB: View access, the query parsed (400 if bad), then `read` with
    the caller's org (503 if MongoDB fails)."""
    identity = await caller(request, Access.VIEW)
    if isinstance(identity, Response):
        return identity
    try:
        query = parse(request.query_params)
    except ParamsError as exc:
        return _refused(exc)
    store = runtime_of(request).store
    assert store is not None
    try:
        return await read(store, identity.org_id, query)
    except PyMongoError:
        return JSONResponse(failure(Code.UNAVAILABLE, "MongoDB"), status_code=503)


@router.get("/group/{groupId}", **docs.read_group())
async def get_group(request: Request) -> Response:
    group_id: str = request.path_params["groupId"]

    async def read(store: GatewayStore, org_id: int, _: object) -> Response:
        if re.fullmatch(OBJECT_ID, group_id) is None:
            detail = f"groupId: String should match pattern '{OBJECT_ID}'"
            return JSONResponse(failure(Code.INVALID_GROUP_ID, detail), status_code=400)
        group = await store.group(org_id, group_id)
        if group is None:
            return JSONResponse(failure(Code.GROUP_NOT_FOUND, group_id), status_code=404)
        return JSONResponse(group_answer(group.as_data()))

    return await _read(request, lambda query: checked(query, ()), read)


@router.get("/group", **docs.list_groups())
async def list_groups(request: Request) -> Response:
    async def read(store: GatewayStore, org_id: int, query: ListQuery) -> Response:
        try:
            page = await store.groups_page(org_id, query.after, query.limit,
                                           query.include_inactive)
        except UnknownCursorError as exc:
            return _refused(ParamsError(Code.INVALID_QUERY, str(exc)))
        return JSONResponse(groups_answer([g.as_data() for g in page.groups],
                                          page.next_after))

    return await _read(request, list_query, read)
