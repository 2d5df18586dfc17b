"""``GET /metrics``: Prometheus exposition (summed over all workers)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response
from faultdx_service.telemetry import render

router = APIRouter(tags=["metrics"])


@router.get("/metrics", response_class=Response, responses={200: {"content": {"text/plain": {}}}})
def metrics() -> Response:
    """Requests by route and status, latencies, micro-batch sizes, diagnoses by class."""
    body, content_type = render()
    return Response(body, media_type=content_type)
