"""Storing a measurement's diagnoses in an asset's history — one function for every way a measurement
arrives (``POST /v1/diagnose`` with ``asset``, the MQTT listener, batch scoring) — and the asset's healthy
baseline: what is stored of a reference recording (:func:`baseline_recordings`) and each new signal judged
against it (:func:`judge_signals`, whose verdicts ``record_diagnoses(..., judgements=...)`` stores).

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
from dataclasses import replace
from datetime import datetime
from typing import Any

import numpy as np

from faultdx.diagnose import Diagnoser, Diagnosis, RequestBudget
from faultdx.diagnose.baseline import (
    Reference,
    WindowFeatures,
    diagnosis_features,
    judge,
    no_baseline,
    signal_features,
)
from faultdx.diagnose.quality import check_signal
from faultdx.errors import InputError
from faultdx.monitor.crud import NewBaselineRecording, NewDiagnosis
from faultdx.monitor.indicators import indicators
from faultdx.monitor.schemas import Recorded
from faultdx.monitor.store import Store


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
    """The history's fields of one diagnosis: :meth:`~faultdx.diagnose.Diagnosis.as_record` (the signal
    quality has no column yet: it is in the answer, not in the history)."""
    record = d.as_record()
    record.pop("signal_quality", None)
    return record


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
    judgements: Sequence[dict[str, Any]] | None = None,
) -> Recorded:
    """Store one measurement's diagnoses (one per signal) for ``asset`` with the signals' indicators, judge
    their zones and update the asset's alarms, in one transaction; see the module's docstring.
    ``judgements``: per signal, its judgement against the asset's baseline
    (:meth:`faultdx.diagnose.baseline.Judgement.as_dict`); a used one's ``fault_type`` is stored."""
    items = new_diagnoses(diagnoses, signals, sampling_rate, model)
    if judgements is not None:  # the asset's baseline decides the verdict it stores
        items = [_judged(item, verdict) for item, verdict in zip(items, judgements, strict=True)]
    return store.record(asset, items, measured_at=measured_at, idempotency_key=idempotency_key,
                        request_hash=request_hash)


def judge_and_record(
    store: Store, asset_id: int, diagnoses: Sequence[Diagnosis], signals: Sequence[np.ndarray],
    sampling_rate: float, *, model: dict[str, str], diagnoser: Diagnoser | None,
    results: Sequence[dict[str, Any]] = (), measured_at: datetime | None = None,
    idempotency_key: str | None = None, request_hash: str | None = None,
) -> Recorded:
    """What an asset's measurement goes through, over HTTP and MQTT alike: each signal judged against the
    asset's baseline with ``diagnoser`` (the verdict goes into each of ``results``, the answers, as
    ``baseline``; a used baseline's answer becomes their ``fault_type``), then stored by
    :func:`record_diagnoses`. Without ``diagnoser`` nothing is judged."""
    judged = None
    if diagnoser is not None:
        judged = judge_signals(store, asset_id, diagnoser, diagnoses, signals, sampling_rate)
        for result, verdict in zip(results, judged, strict=False):
            result["baseline"] = verdict
            if verdict["used"]:
                result["fault_type"] = verdict["fault_type"]
    return record_diagnoses(store, asset_id, diagnoses, signals, sampling_rate, model=model,
                            measured_at=measured_at, idempotency_key=idempotency_key,
                            request_hash=request_hash, judgements=judged)


def _judged(item: NewDiagnosis, verdict: dict[str, Any]) -> NewDiagnosis:
    if not verdict.get("used") or verdict["fault_type"] == item.fault_type:
        return item
    return replace(item, fault_type=verdict["fault_type"], label=verdict["fault_type"], severity=None)


def baseline_recordings(
    diagnoser: Diagnoser, signals: Sequence[np.ndarray], sampling_rate: float, *, rpm: float | None,
    bearing: Any, budget: RequestBudget | None = None,
) -> list[NewBaselineRecording]:
    """What to store of healthy reference signals: each must pass the signal-quality gate (else a 422
    naming ``signals[i]``) and make windows for the model; nothing is stored before all do."""
    out = []
    for i, signal in enumerate(signals):
        field = f"signals[{i}]"
        quality = check_signal(signal, sampling_rate, rpm)
        if not quality.ok:
            problems = "; ".join(p.message for p in quality.problems)
            raise InputError(f"{field}: not usable as a healthy reference ({problems})", field)
        features, machine = signal_features(diagnoser, signal, sampling_rate, rpm=rpm, bearing=bearing,
                                            field=field, budget=budget)
        out.append(NewBaselineRecording(
            sampling_rate=sampling_rate, windows=len(features.evidence), model_name=diagnoser.name,
            model_version=diagnoser.meta.version, features=features.to_json(),
            rpm=None if machine is None else float(machine.rpm)))
    return out


def judge_signals(
    store: Store, asset_id: int, diagnoser: Diagnoser, diagnoses: Sequence[Diagnosis],
    signals: Sequence[np.ndarray], sampling_rate: float,
) -> list[dict[str, Any]]:
    """Each signal judged against its asset's baseline (``{used, recordings, distance, method, fault_type}``),
    or ``used: false`` with the reason when the asset has none or it was recorded with another model."""
    stored = store.baseline_features(asset_id)
    if not stored:
        return [no_baseline() for _ in signals]
    if any(model != diagnoser.name for model, _, _ in stored):
        return [no_baseline(f"the baseline was recorded with model {stored[0][0]!r}") for _ in signals]
    reference = Reference.fit([WindowFeatures.from_json(features) for _, _, features in stored],
                              [rpm for _, rpm, _ in stored])
    out = []
    for d, signal in zip(diagnoses, signals, strict=True):
        machine = d.machine
        features = diagnosis_features(d)
        if features is None:  # not computed by the diagnosing pass: window the signal again
            features, _ = signal_features(diagnoser, signal, sampling_rate, bearing=None if machine is None
                                          else machine.bearing, rpm=None if machine is None else machine.rpm)
        rpm = None if machine is None else machine.rpm
        out.append(judge(reference, features, d.window_type_probabilities, rpm=rpm).as_dict())
    return out
