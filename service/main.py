"""The faultdx diagnosis service: ``faultdx_service.main:create_app()`` / ``faultdx_service.main:app``."""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial

import numpy as np
import torch
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from faultdx_service.auth import ApiKeyMiddleware, document_api_key
from faultdx_service.batching import BatchStats, MicroBatcher
from faultdx_service.deps import ModelSet, ServedModel
from faultdx_service.errors import CancelledAnswerMiddleware, RequestIdMiddleware, install_error_handlers
from faultdx_service.limits import BodyLimitMiddleware
from faultdx_service.monitoring import StoreHolder
from faultdx_service.routes import alarms, assets, bearings, diagnose, docs, health, metrics, models, page, v2
from faultdx_service.runtime import worker_count
from faultdx_service.settings import Settings, get_settings
from faultdx_service.telemetry import (
    BATCH_REQUESTS,
    BATCH_WINDOWS,
    FORWARD_SECONDS,
    MetricsMiddleware,
    in_flight,
)
from starlette.concurrency import run_in_threadpool

from faultdx import __version__
from faultdx.diagnose import FORWARD_BATCH, Diagnoser
from faultdx.ingest.runner import start_in_service
from faultdx.modeldir import CheckpointError

log = logging.getLogger(__name__)


def torch_threads(settings: Settings) -> int:
    """``FAULTDX_TORCH_THREADS``, else this worker's share of the CPU cores less one for its event loop.

    The event loop (HTTP, JSON, windowing) runs beside the forward thread; giving torch every core makes its
    OpenMP threads contend with the loop, which on 2 cores costs far more than the second torch thread gains.
    """
    if settings.torch_threads:
        return settings.torch_threads
    return max(1, len(os.sched_getaffinity(0)) // worker_count(settings) - 1)


def load_models(settings: Settings) -> dict[str, Diagnoser]:
    """Load every configured model (name or path; names are looked up in ``FAULTDX_MODELS`` if set)."""
    loaded: dict[str, Diagnoser] = {}
    for entry in settings.model:
        where = settings.models / entry if (settings.models / entry).is_dir() else entry
        batch = min(settings.max_batch, FORWARD_BATCH)
        diagnoser = Diagnoser.from_dir(where, batch_size=batch, trace=settings.trace)
        diagnoser.slope_channels()  # lists the slope layers
        warm_up(diagnoser)
        if diagnoser.name in loaded:
            raise CheckpointError(
                f"two models are named {diagnoser.name!r} ({loaded[diagnoser.name].path} and "
                f"{diagnoser.path}): a request could not say which it means; serve one, or re-export one "
                "under another name"
            )
        loaded[diagnoser.name] = diagnoser
        log.info(
            "loaded model %s v%s from %s (traced: %s)",
            diagnoser.name,
            diagnoser.meta.version,
            diagnoser.path,
            diagnoser.traced,
        )
    return loaded


def warm_up(diagnoser: Diagnoser) -> None:
    """Run every step once (resampling imports scipy.signal, the speed estimator its FFT), so that no request
    pays first-call costs: a diagnosis with the rpm given, and one estimating it from a 1 s tone."""
    rate = 2 * diagnoser.sampling_rate
    rpm = diagnoser.default_context().rpm
    diagnoser.diagnose([np.zeros(4 * diagnoser.window, np.float32)], rate, rpm=rpm)
    t = np.arange(max(int(rate), 4 * diagnoser.window)) / rate
    tone = np.sin(2 * np.pi * rpm / 60 * t).astype(np.float32)
    with contextlib.suppress(ValueError):  # the estimator may find no speed in a tone: warm all the same
        diagnoser.diagnose([tone], rate)


def _predict(diagnoser: Diagnoser, x: np.ndarray, context: np.ndarray, include_slopes: bool,
             include_backing: bool = False) -> tuple:
    """One forward pass of the micro-batcher: the network's predictions, and (``include_backing``) the
    envelope analysis beside them (its fault-type probabilities and the windows' envelope spectra, which
    each signal's defect lines are read from), for every window of the pass at once (the envelope analysis
    costs about a millisecond per call whatever the windows: batched, and off the event loop)."""
    predictions = tuple(diagnoser.predict_windows(x, context, include_slopes))
    if not include_backing:
        return predictions
    return (*predictions, *(diagnoser.envelope_backing(x, context) or (None, None, None)))


def _batcher(diagnoser: Diagnoser, settings: Settings, threads: int) -> MicroBatcher:
    name = diagnoser.name

    def observe(stats: BatchStats) -> None:
        BATCH_WINDOWS.labels(name).observe(stats.windows)
        BATCH_REQUESTS.labels(name).observe(stats.jobs)
        FORWARD_SECONDS.labels(name).observe(stats.seconds)

    return MicroBatcher(
        partial(_predict, diagnoser),
        max_batch=settings.max_batch,
        max_wait_s=settings.max_wait_ms / 1000,
        slice_windows=FORWARD_BATCH // 2,  # a pass holds at most this much of one request: short waits
        max_queue=settings.max_queue_windows,
        busy=in_flight,
        on_batch=observe,
        thread_init=lambda: torch.set_num_threads(threads),
    )


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    threads = torch_threads(settings)
    torch.set_num_threads(threads)
    diagnosers = load_models(settings)
    served = {name: ServedModel(d, _batcher(d, settings, threads)) for name, d in diagnosers.items()}
    app.state.models = ModelSet(served, default=next(iter(served)))
    await run_in_threadpool(app.state.store.start)
    app.state.listener = start_in_service(settings, diagnosers)  # the MQTT listener, when FAULTDX_MQTT_URL
    try:
        yield
    finally:
        if app.state.listener is not None:
            await run_in_threadpool(app.state.listener.stop)
        app.state.store.close()
        for model in served.values():
            await model.batcher.close()


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app; models load when it starts (lifespan)."""
    settings = settings or get_settings()
    app = FastAPI(
        title="faultdx",
        version=__version__,
        description="Rolling-bearing fault diagnosis with APReLU residual networks: /v1 JSON API, Open "
        "Inference Protocol at /v2, Prometheus /metrics.",
        lifespan=lifespan,
        docs_url=None,  # served below from the packaged Swagger UI: the default loads it from a CDN
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.models = None
    app.state.listener = None
    app.state.store = StoreHolder(settings.database_url)
    install_error_handlers(app)
    app.include_router(health.router)
    app.include_router(v2.open_router)
    for module in (models, bearings, diagnose, metrics, assets, alarms):
        app.include_router(module.router)
    app.include_router(v2.router)
    app.include_router(page.router)
    app.include_router(docs.router)
    app.include_router(assets.page_router)
    # outermost last: metrics see every answer, the id is on every answer, CORS preflights need no key
    app.add_middleware(
        BodyLimitMiddleware, max_bytes=settings.max_body_bytes, timeout_s=settings.body_timeout_s
    )
    key = settings.api_key.get_secret_value() if settings.api_key is not None else None
    app.add_middleware(ApiKeyMiddleware, api_key=key)  # the one check of the key (public list in auth.py)
    document_api_key(app)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST"],
            allow_headers=["Content-Type", "X-API-Key", "Inference-Header-Content-Length", "X-Request-ID"],
        )
    app.add_middleware(CancelledAnswerMiddleware)
    app.add_middleware(RequestIdMiddleware)
    app.add_middleware(MetricsMiddleware)
    return app


app = create_app()
