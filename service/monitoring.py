"""The service's side of condition monitoring: the store it writes to, and storing a diagnosis for an asset.

The store opens (and migrates) at start when a database is configured or the default SQLite file exists,
otherwise on the first request that needs it; while the database is unreachable, those requests answer 503
with a JSON body saying so, and the next request after it returns reconnects (nothing to restart).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, TypeVar

import numpy as np
from fastapi import Depends, Request
from faultdx_service.errors import ApiError
from faultdx_service.telemetry import OPEN_ALARMS
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, OperationalError, TimeoutError
from starlette.concurrency import run_in_threadpool

from faultdx.diagnose import Diagnoser, Diagnosis
from faultdx.errors import InputError
from faultdx.monitor.recording import judge_and_record
from faultdx.monitor.store import Store, default_url, normalise_url, redact

log = logging.getLogger(__name__)
T = TypeVar("T")
UNAVAILABLE = (OperationalError, TimeoutError, DBAPIError)


class StoreHolder:
    """Opens the store once it can, and hands it to requests."""

    def __init__(self, url: str | None) -> None:
        self.explicit = url is not None
        self.url = normalise_url(url or default_url())
        self._store: Store | None = None
        self._lock = threading.Lock()

    def configured(self) -> bool:
        """Whether to open at start: a URL was set, or the default SQLite file is already there."""
        database = make_url(self.url).database
        return self.explicit or bool(database and Path(database).exists())

    def get(self) -> Store:
        """The open store (opened and migrated now if needed); :class:`ApiError` 503 if unreachable."""
        if self._store is not None:
            return self._store
        with self._lock:
            if self._store is None:
                try:
                    self._store = Store(self.url)
                except (*UNAVAILABLE, OSError) as err:  # OSError: e.g. ./data not writable here
                    raise unavailable(self.url, err) from None
                refresh_gauge(self._store)
        return self._store

    def start(self) -> None:
        """Open at start when configured; an unreachable database is logged, not fatal."""
        if not self.configured():
            return
        try:
            self.get()
            log.info("monitoring database %s ready", redact(self.url))
        except ApiError as err:
            log.warning("monitoring database not reachable at start (%s); will retry per request", err.detail)

    def close(self) -> None:
        if self._store is not None:
            self._store.close()


def unavailable(url: str, err: Exception) -> ApiError:
    """The 503 answered while the database cannot be reached."""
    reason = str(getattr(err, "orig", None) or err).strip().splitlines()[0][:200]
    backend = make_url(url).get_backend_name()
    return ApiError(503, f"database unavailable ({backend}: {reason}); nothing was stored, retry later (the "
                         "database is FAULTDX_DATABASE_URL)", "database")


def refresh_gauge(store: Store) -> None:
    OPEN_ALARMS.set(store.open_alarm_count())


async def get_store(request: Request) -> StoreHolder:
    return request.app.state.store


StoreDep = Annotated[StoreHolder, Depends(get_store)]


async def call(holder: StoreHolder, method: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``method(store, *args, **kwargs)`` in a thread: bad input → its 4xx, database down → 503."""

    def run() -> T:
        store = holder.get()
        try:
            return method(store, *args, **kwargs)
        except InputError as err:
            raise ApiError(err.status, str(err), err.field) from None
        except UNAVAILABLE as err:
            raise unavailable(holder.url, err) from None

    return await run_in_threadpool(run)


async def record(
    holder: StoreHolder, asset: str | int, diagnoses: Sequence[Diagnosis], signals: Sequence[np.ndarray],
    sampling_rate: float, model: dict[str, str], *, measured_at: datetime | None,
    idempotency_key: str | None, request_hash: str | None, diagnoser: Diagnoser | None = None,
    results: Sequence[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Judge each signal against the asset's baseline (with ``diagnoser``; the verdict goes into each of
    ``results`` as ``baseline``, and a used baseline's answer becomes the ``fault_type``), then store the
    diagnoses through :func:`faultdx.monitor.recording.record_diagnoses` (committed before this returns; the
    work runs in a worker thread, off the event loop) and update the gauge."""

    def run(store: Store) -> dict[str, Any]:
        done = judge_and_record(store, int(asset), diagnoses, signals, sampling_rate, model=model,
                                diagnoser=diagnoser, results=results or (), measured_at=measured_at,
                                idempotency_key=idempotency_key, request_hash=request_hash)
        if done.alarms_opened or done.alarms_closed:
            refresh_gauge(store)
        return done.model_dump(mode="json")

    return await call(holder, run)
