"""The FastAPI application: routes, error envelopes, metrics, and the runtime's lifespan."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from badges_schemas import Code
from service.gateway import docs, oauth, ops, routes
from service.gateway.auth import Authenticator
from service.gateway.envelopes import failure
from service.gateway.metrics import RequestMetrics, registry
from service.gateway.runtime import GatewayRuntime
from service.settings import Settings
from service.version import package_version

log = logging.getLogger(__name__)

DESCRIPTION = """The Badges REST API, answered through the event-driven badge service.

Each write becomes a command with the caller's org and user (from the HTTP Basic
credentials only), published to Kafka; the answer is its result event in the API's
envelope `{"data", "errors", "warnings"}`. `Idempotency-Key` makes the commandId
(uuid5 of org, user and key): a retried request gets the same answer. Codes that cannot
be reached through the gateway: 9000 from the worker (the gateway answers it for a body
that is not a JSON object) and 9001 (the type comes from the path)."""


def create_app(settings: Settings, connect: bool = True) -> FastAPI:
    """The gateway; `connect=False` builds it without connecting (the OpenAPI export)."""
    runtime = GatewayRuntime(settings)
    authenticator = Authenticator(Path(settings.gateway_users_file))

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if connect:
            authenticator.reload_if_changed()  # says so at once if there is no users file
            runtime.start()
        try:
            yield
        finally:
            await runtime.stop()

    # The routes themselves, not `include_router`: FastAPI matches an included router's
    # routes through a layer of per-request contexts (twice per request), which cost more
    # CPU than the matching itself. Ours come first, before FastAPI's /docs and /redoc.
    # FastAPI's native OpenTelemetry is off: nothing here configures a provider, and
    # asking for the global providers on every request cost ~20 us each (the gateway's
    # own metrics are Prometheus, service/gateway/metrics.py).
    app = FastAPI(title="Badges API gateway", version=package_version(),
                  description=DESCRIPTION, lifespan=lifespan,
                  routes=[*routes.router.routes, *oauth.router.routes, *ops.router.routes,
                          *(ops.metrics_router.routes
                            if settings.gateway_metrics_port == "public" else ())],
                  telemetry={"tracing": False, "metrics": False, "logs": False})
    app.state.runtime = runtime
    app.state.authenticator = authenticator
    app.state.metrics = registry()  # the gateway's own, never the worker's
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(ClientDisconnect, _client_gone)
    app.add_exception_handler(Exception, _internal_error)
    app.openapi = partial(_openapi, app)  # type: ignore[method-assign]
    app.add_middleware(RequestMetrics, access_log=settings.gateway_access_log)
    return app


def _openapi(app: FastAPI) -> dict[str, Any]:
    """FastAPI's document, less the 422 "validation error" it adds to every route with
    parameters: none of ours can fail it (plain strings); a write's 422 is ours. The
    security scheme the routes name (docs.py) goes into its components."""
    if app.openapi_schema is None:
        document = get_openapi(title=app.title, version=app.version,
                               description=app.description, routes=app.routes)
        document["components"]["securitySchemes"] = docs.SECURITY_SCHEMES
        for operations in document["paths"].values():
            for operation in operations.values():
                answer = operation["responses"].get("422", {})
                if "HTTPValidationError" in json.dumps(answer):
                    del operation["responses"]["422"]
        for unused in ("HTTPValidationError", "ValidationError"):
            document["components"]["schemas"].pop(unused, None)
        app.openapi_schema = document
    return app.openapi_schema


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    """Starlette's own answers (no route for the path, none for the method), as envelopes."""
    assert isinstance(exc, StarletteHTTPException)
    path = request.scope["path"]
    if exc.status_code == 405:
        return _method_not_allowed(request.app, request.method, path)
    code = Code.UNKNOWN_PATH if exc.status_code == 404 else Code.INTERNAL_ERROR
    return JSONResponse(failure(code, f"{request.method} {path}: {exc.detail}"),
                        status_code=exc.status_code, headers=exc.headers)


def _method_not_allowed(app: FastAPI, method: str, path: str) -> JSONResponse:
    """405 with every method of the path in Allow (GET and POST /group/{groupId} are two
    routes, and Starlette's answer names only the first one's)."""
    allowed = sorted({m for route in app.routes if isinstance(route, APIRoute)
                      and route.path_regex.match(path) for m in route.methods or ()})
    detail = f"{method} {path}: allowed {', '.join(allowed)}"
    return JSONResponse(failure(Code.METHOD_NOT_ALLOWED, detail), status_code=405,
                        headers={"Allow": ", ".join(allowed)})


async def _internal_error(request: Request, exc: Exception) -> JSONResponse:
    """The last resort: the envelope still (the server logs the traceback itself)."""
    detail = f"{request.method} {request.scope['path']}: {type(exc).__name__}"
    return JSONResponse(failure(Code.INTERNAL_ERROR, detail), status_code=500)


async def _client_gone(request: Request, _: Exception) -> Response:
    """The caller hung up while sending its body: nothing was published and nobody reads
    the answer. Not a server fault, so no traceback; 499 (nginx's "client closed request")
    only labels the request in the metrics."""
    log.debug("client went away before its body arrived: %s %s", request.method,
              request.url.path)
    return Response(status_code=499)

