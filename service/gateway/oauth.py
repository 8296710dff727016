"""`POST /v3/oauth/token/generate`: an API client's key and secret for an access token.

As the platform's OAuth page shows it: no authentication, body `{"key", "secret"}`, answer
`{"data": {"accessToken", "ttlSeconds"}, "errors": null, "warnings": []}`. A wrong key or
secret is 401 in the envelope; checking the secret costs what a Basic password does
(argon2, in the same bounded queue).
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from badges_schemas import Code
from service.gateway import docs
from service.gateway.auth import Authenticator, ChecksBusyError
from service.gateway.envelopes import ErrorEnvelope, failure
from service.gateway.params import ParamsError, checked
from service.gateway.routes import CHALLENGES, DirectRoute, busy

PATH = "/v3/oauth/token/generate"
MAX_BODY_BYTES = 4096


class TokenRequest(BaseModel):
    key: str = Field(min_length=1, max_length=256)
    secret: str = Field(min_length=1, max_length=1024)


class TokenData(BaseModel):
    accessToken: str = Field(description="a JWT: send it as CAP-API-ACCESS-TOKEN (or "
                                         "X-CAP-API-OAUTH-TOKEN, or Authorization: Bearer)")
    ttlSeconds: int


class TokenEnvelope(BaseModel):
    data: TokenData | None
    errors: list[Any] | None = Field(description="null on success, as the platform's page")
    warnings: list[Any]


router = APIRouter(route_class=DirectRoute)


def _refused(code: Code, detail: str, status: int) -> JSONResponse:
    headers = {"WWW-Authenticate": CHALLENGES} if status == 401 else None
    return JSONResponse(failure(code, detail), status_code=status, headers=headers)


def _credentials(raw: bytes) -> TokenRequest | None:
    if len(raw) > MAX_BODY_BYTES:
        return None
    try:
        body = json.loads(raw)
        return TokenRequest.model_validate(body) if isinstance(body, dict) else None
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None


@router.post(PATH, summary="An access token for an API client's key and secret",
             response_model=None, openapi_extra={"requestBody": {"required": True, "content": {
                 "application/json": {"schema": TokenRequest.model_json_schema()}}}},
             responses={200: {"model": TokenEnvelope, "description": "the token"},
                        400: {"model": ErrorEnvelope, "description": (
                            f"{Code.INVALID_FIELD.value}: the body is not "
                            '{"key": ..., "secret": ...}; '
                            f"{Code.INVALID_QUERY.value}: a query parameter")},
                        401: {"model": ErrorEnvelope, "description": (
                            f"{Code.UNAUTHORIZED.value}: no client with that key and secret")},
                        429: docs.TOO_MANY_CHECKS})
async def generate_token(request: Request) -> Response:
    try:
        checked(request.query_params, ())
    except ParamsError as exc:
        return _refused(exc.code, exc.detail, 400)
    credentials = _credentials(await request.body())
    if credentials is None:
        return _refused(Code.INVALID_FIELD, 'body: expected {"key": "<client key>", '
                        '"secret": "<client secret>"}', 400)
    authenticator: Authenticator = request.app.state.authenticator
    try:
        issued = await authenticator.token_for(credentials.key, credentials.secret)
    except ChecksBusyError as exc:
        return busy(exc)
    if issued is None:
        return _refused(Code.UNAUTHORIZED, "no API client with that key and secret", 401)
    token, ttl = issued
    return JSONResponse({"data": {"accessToken": token, "ttlSeconds": ttl}, "errors": None,
                         "warnings": []})
