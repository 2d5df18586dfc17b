"""One published signal → diagnosis → stored once for its asset, as ``POST /v1/diagnose`` with ``asset`` does.

:class:`MessageHandler` is transport-free (the MQTT client is in :mod:`faultdx.ingest.mqtt`): it parses the
payload (:mod:`faultdx.ingest.payload`), looks the asset up, fills in what the message leaves out from the
asset (sampling rate, rpm, bearing), runs the Diagnoser's steps under the same sample budget as the HTTP
route, and stores the diagnoses with an idempotency key before it returns. A refused message is an
:class:`Outcome` with ``error`` (status and field as over HTTP) and nothing stored; a database that cannot
be reached raises :class:`StoreUnavailable`, so that the caller does not acknowledge the message.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from faultdx.context.accuracy import rpm_estimate_note
from faultdx.diagnose import Diagnoser, Diagnosis, RequestBudget
from faultdx.errors import InputError
from faultdx.ingest.payload import SignalMessage, parse
from faultdx.monitor.recording import judge_and_record, request_hash
from faultdx.monitor.store import Store, redact

UNAVAILABLE = (OperationalError, PoolTimeout, DBAPIError, OSError)


class StoreUnavailable(RuntimeError):
    """The monitoring database cannot be reached: nothing was stored, the message must be delivered again."""


@dataclass
class Outcome:
    """What became of one message: the answer to publish (``diagnosis`` or ``error``) and alarm changes."""

    asset: str
    answer: dict[str, Any]
    error: dict[str, Any] | None = None
    alarm_changes: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    open_alarms: list[dict[str, Any]] = field(default_factory=list)

    @property
    def stored(self) -> bool:
        return self.error is None


class StoreOpener:
    """The monitoring store, opened on first use and again after the database comes back."""

    def __init__(self, url: str | None) -> None:
        self.url = url
        self._store: Store | None = None
        self._lock = threading.Lock()

    def get(self) -> Store:
        with self._lock:
            if self._store is None:
                try:
                    self._store = Store(self.url)
                except UNAVAILABLE as err:
                    raise StoreUnavailable(_reason(self.url, err)) from None
            return self._store

    def close(self) -> None:
        with self._lock:
            if self._store is not None:
                self._store.close()
                self._store = None


class MessageHandler:
    """Diagnose and store one message for the asset named by its topic (see the module docstring)."""

    def __init__(self, diagnosers: Mapping[str, Diagnoser], default: str, store: StoreOpener, *,
                 max_samples: int, max_windows: int, max_bytes: int) -> None:
        self.diagnosers = diagnosers
        self.default = default
        self.store = store
        self.max_samples, self.max_windows, self.max_bytes = max_samples, max_windows, max_bytes

    def handle(self, asset: str, payload: bytes, properties: dict[str, str] | None = None,
               content_type: str | None = None, *, key: str | None = None) -> Outcome:
        """Diagnose and store; ``key`` is the idempotency key when the message has no ``id``."""
        message_id = None
        try:
            message = parse(payload, properties, content_type, max_bytes=self.max_bytes,
                            max_samples=self.max_samples)
            message_id = message.id
            stored_asset = self._call(lambda s: s.asset(asset))
            diagnoser, answer, diagnoses, rate = self._diagnose(message, stored_asset)
            recorded = self._call(lambda s: self._record(s, stored_asset.id, diagnoser, message, answer,
                                                         diagnoses, rate, message.id or key))
        except InputError as err:
            if err.field == "Idempotency-Key":  # the key of a message is its id
                err.field = "id"
            return refused(asset, err, message_id)
        answer = {"asset": asset, "id": message_id, **answer, "stored": recorded.model_dump(mode="json")}
        changes = {} if recorded.replayed else {
            "opened": _dicts(recorded.alarms_opened), "closed": _dicts(recorded.alarms_closed)}
        return Outcome(asset, answer, None, changes, _dicts(recorded.open_alarms))

    @staticmethod
    def _record(store: Store, asset_id: int, diagnoser: Diagnoser, message: SignalMessage,
                answer: dict[str, Any], diagnoses: list[Diagnosis], rate: float, key: str | None) -> Any:
        """Judge each signal against the asset's baseline and store, as the HTTP route does."""
        return judge_and_record(store, asset_id, diagnoses, message.signals, rate, model=answer["model"],
                                diagnoser=diagnoser, results=answer["results"],
                                measured_at=message.measured_at, idempotency_key=key,
                                request_hash=request_hash(message.signals, rate, **message.context()))

    def _diagnose(self, message: SignalMessage, asset: Any
                  ) -> tuple[Diagnoser, dict[str, Any], list[Diagnosis], float]:
        name = message.model or self.default
        if name not in self.diagnosers:
            raise InputError(f"model: unknown model {name!r}; loaded: {', '.join(self.diagnosers)}", "model")
        diagnoser = self.diagnosers[name]
        rate = message.sampling_rate if message.sampling_rate is not None else asset.sampling_rate
        if rate is None:
            raise InputError("sampling_rate: required (the message and its asset give none)", "sampling_rate")
        rpm = message.rpm if message.rpm is not None else asset.rpm
        bearing = message.bearing if message.bearing is not None else asset.bearing
        budget = RequestBudget(self.max_samples, self.max_windows)
        prepared = [
            diagnoser.windows(signal, rate, window=message.window, hop=message.hop, channels=message.channels,
                              budget=budget, field=f"signals[{i}]", rpm=rpm, bearing=bearing)
            for i, signal in enumerate(message.signals)
        ]
        x = np.concatenate([w.x for w in prepared])
        context = np.concatenate([w.context for w in prepared])
        probs, _, unknown, features = diagnoser.predict_windows(x, context, False)
        diagnoses = diagnoser.split(prepared, probs, None, unknown, features=features)
        model = {"name": diagnoser.name, "version": diagnoser.meta.version}
        seconds = [s.shape[-1] / float(rate) for s in message.signals]
        results = [d.as_dict(rpm_note=rpm_estimate_note(d.machine, t))
                   for d, t in zip(diagnoses, seconds, strict=True)]
        answer = {"model": model, "results": results}
        return diagnoser, answer, diagnoses, float(rate)

    def _call(self, method: Any) -> Any:
        store = self.store.get()
        try:
            return method(store)
        except UNAVAILABLE as err:
            raise StoreUnavailable(_reason(store.url, err)) from None


def refused(asset: str, err: InputError, message_id: str | None = None) -> Outcome:
    """The error answer of a refused message: status and field as the HTTP route would answer."""
    error = {"asset": asset, "id": message_id, "status": err.status, "field": err.field, "error": str(err)}
    return Outcome(asset, error, error)


def message_key(topic: str, payload: bytes, properties: Mapping[str, str] | None = None) -> str:
    """The idempotency key of a message without ``id``: a hash of its topic, payload and user properties
    (a redelivery carries the same bytes, so it is recognised; a new measurement differs)."""
    digest = hashlib.sha256(topic.encode())
    digest.update(b"\0" + payload)
    for k, v in sorted((properties or {}).items()):
        digest.update(f"\0{k}={v}".encode())
    return "mqtt:" + digest.hexdigest()[:48]


def _dicts(items: list[Any]) -> list[dict[str, Any]]:
    return [item.model_dump(mode="json") for item in items]


def _reason(url: str | None, err: Exception) -> str:
    reason = str(getattr(err, "orig", None) or err).strip().splitlines()[0][:200]
    where = redact(url) if url else "the default SQLite file"
    return f"database unavailable at {where} ({reason}); the message will be delivered again"


