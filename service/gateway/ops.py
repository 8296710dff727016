"""/healthz, /readyz, /metrics: unauthenticated, as the worker's (service/worker/http.py).
/metrics is on the public port only with BADGES_GATEWAY_METRICS_PORT=public (server.py)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from service.gateway.runtime import GatewayRuntime

router = APIRouter(include_in_schema=False)
metrics_router = APIRouter(include_in_schema=False)


@router.get("/healthz")
async def healthz() -> JSONResponse:
    """Alive whenever the event loop answers; an outage does not fail it."""
    return JSONResponse({"status": "ok"})


@router.get("/readyz")
async def readyz(request: Request) -> JSONResponse:
    """Ready: MongoDB and Kafka answer, and the result reader runs."""
    runtime: GatewayRuntime = request.app.state.runtime
    problems = await runtime.missing()
    if problems:
        return JSONResponse({"status": "not ready", "missing": problems}, status_code=503)
    return JSONResponse({"status": "ready"})


@metrics_router.get("/metrics")
async def metrics(request: Request) -> Response:
    return Response(generate_latest(request.app.state.metrics),
                    headers={"Content-Type": CONTENT_TYPE_LATEST})
