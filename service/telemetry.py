"""Prometheus metrics of the service, and the ASGI middleware that counts requests.

With several uvicorn workers each is its own process; ``faultdx serve`` points ``PROMETHEUS_MULTIPROC_DIR``
at a fresh folder *before* anything imports ``prometheus_client``, so every worker writes its samples there
and ``/metrics`` (answered by any one worker) adds them all up.
"""

from __future__ import annotations

import os
import time

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from starlette.types import ASGIApp, Message, Receive, Scope, Send

LATENCY_BUCKETS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096)

REQUESTS = Counter(
    "faultdx_http_requests_total", "HTTP requests by route and status", ["method", "route", "status"]
)
LATENCY = Histogram(
    "faultdx_http_request_duration_seconds",
    "Time to answer an HTTP request",
    ["method", "route"],
    buckets=LATENCY_BUCKETS,
)
BATCH_WINDOWS = Histogram(
    "faultdx_batch_windows", "Windows per forward pass (micro-batch size)", ["model"], buckets=BATCH_BUCKETS
)
BATCH_REQUESTS = Histogram(
    "faultdx_batch_requests", "Requests merged into one forward pass", ["model"], buckets=BATCH_BUCKETS
)
FORWARD_SECONDS = Histogram(
    "faultdx_forward_duration_seconds", "Time of one forward pass", ["model"], buckets=LATENCY_BUCKETS
)
DIAGNOSES = Counter("faultdx_diagnoses_total", "Signals diagnosed, by model and verdict", ["model", "label"])
WINDOWS = Counter("faultdx_windows_total", "Windows classified, by model", ["model"])
# set from the database after every alarm change; with several workers the latest one set wins
OPEN_ALARMS = Gauge("faultdx_open_alarms", "Open condition-monitoring alarms", multiprocess_mode="mostrecent")

_in_flight = 0  # HTTP requests being handled by this process (read by the micro-batcher)


def in_flight() -> int:
    """How many HTTP requests this process is handling right now."""
    return _in_flight


def render() -> tuple[bytes, str]:
    """The exposition text of every metric (summed over workers in multiprocess mode) and its content type."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


class MetricsMiddleware:
    """Counts every HTTP request by route template (not raw path: bounded label values) and status."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        global _in_flight
        status = 500
        start = time.perf_counter()

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        _in_flight += 1
        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            _in_flight -= 1
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            method = scope["method"]
            REQUESTS.labels(method, template, str(status)).inc()
            LATENCY.labels(method, template).observe(time.perf_counter() - start)
