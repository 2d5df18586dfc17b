"""Liveness and readiness probes (always open, even when an API key is required)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is up (liveness)."""
    return {"status": "ok"}


@router.get("/readyz", responses={503: {"description": "models still loading"}})
async def readyz(request: Request) -> JSONResponse:
    """Every configured model is loaded and warmed up (readiness)."""
    models = getattr(request.app.state, "models", None)
    if models is None:
        return JSONResponse({"status": "loading", "models": []}, status_code=503)
    body = {"status": "ready", "models": list(models.models), "default": models.default}
    listener = getattr(request.app.state, "listener", None)
    if listener is not None:  # the MQTT listener's state (FAULTDX_MQTT_URL): reported, HTTP stays ready
        body["mqtt"] = listener.status()
    return JSONResponse(body)
