"""Storing a measurement's diagnoses in an asset's history — one function for every way a measurement
arrives (``POST /v1/diagnose`` with ``asset``, the MQTT listener, batch scoring).

How to call it (after the Diagnoser has answered)::

    from faultdx.monitor.recording import record_diagnoses, request_hash

    done = record_diagnoses(
        store,                      # faultdx.monitor.store.Store
        asset,                      # asset id or name
        diagnoses,                  # list[faultdx.diagnose.Diagnosis], one per signal
        signals,                    # the raw signals they came from (1-D or [C, T] arrays), same order
        sampling_rate,              # Hz of those signals
        model={"name": ..., "version": ...},
        measured_at=when,           # datetime or None (now); 1970 .. now + 1 day, else InputError 422
        idempotency_key=key,        # optional: a retried message with the same key is stored once
        request_hash=request_hash(signals, sampling_rate, rpm=rpm, bearing=bearing, measured_at=when),
    )
    done.diagnosis_ids, done.replayed, done.alarms_opened   # faultdx.monitor.schemas.Recorded

The same ``idempotency_key`` with another ``request_hash`` raises :class:`faultdx.monitor.crud.Conflict`
(409 naming the key); a missing asset :class:`faultdx.errors.NotFound`; a vanished SQLite file
:class:`faultdx.monitor.db.DatabaseGone` (503). Nothing is stored in any of those cases.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import numpy as np

from faultdx.diagnose import Diagnosis
from faultdx.monitor.crud import NewDiagnosis
from faultdx.monitor.indicators import indicators
from faultdx.monitor.schemas import Recorded
from faultdx.monitor.store import Store

DECIMALS = 6  # what the history keeps of probabilities, as the API answers them


def new_diagnoses(
    diagnoses: Sequence[Diagnosis], signals: Sequence[np.ndarray], sampling_rate: float,
    model: dict[str, str],
) -> list[NewDiagnosis]:
    """What to store of each signal's verdict: the diagnosis' record and the raw signal's indicators."""
    return [
        NewDiagnosis(model_name=model["name"], model_version=model["version"],
                     indicators=indicators(signal, sampling_rate), sampling_rate=sampling_rate,
                     **_record(d))
        for d, signal in zip(diagnoses, signals, strict=True)
    ]


def _record(d: Diagnosis) -> dict[str, Any]:
    """The history's fields of one diagnosis (verdict, probabilities, unknown score, machine context)."""
    machine = d.machine
    unknown = d.unknown_score
    return {
        "fault_type": d.fault_type,
        "label": d.label,
        "confidence": round(float(d.confidence), DECIMALS),
        "type_probabilities": {k: round(float(v), DECIMALS) for k, v in d.type_probabilities.items()},
        "severity": d.severity,
        "unknown_score": None if unknown is None else float(unknown),
        "rpm": None if machine is None else machine.rpm,
        "rpm_source": None if machine is None else machine.rpm_source,
        "defect_frequencies": None if machine is None else machine.frequencies(),
    }


def request_hash(signals: Sequence[np.ndarray], sampling_rate: float, **context: Any) -> str:
    """sha256 of what a measurement is (its signals' float64 samples and shapes, the rate and any context
    such as rpm, bearing, measured_at, model): the same Idempotency-Key is a replay only for the same hash."""
    digest = hashlib.sha256()
    digest.update(json.dumps({"rate": float(sampling_rate), **context}, sort_keys=True, default=str).encode())
    for signal in signals:
        array = np.ascontiguousarray(signal, dtype=np.float64)
        digest.update(repr(array.shape).encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def record_diagnoses(
    store: Store, asset: str | int, diagnoses: Sequence[Diagnosis], signals: Sequence[np.ndarray],
    sampling_rate: float, *, model: dict[str, str], measured_at: datetime | None = None,
    idempotency_key: str | None = None, request_hash: str | None = None,
) -> Recorded:
    """Store one measurement's diagnoses (one per signal) for ``asset`` with the signals' indicators, judge
    their zones and update the asset's alarms, in one transaction; see the module's docstring."""
    items = new_diagnoses(diagnoses, signals, sampling_rate, model)
    return store.record(asset, items, measured_at=measured_at, idempotency_key=idempotency_key,
                        request_hash=request_hash)
