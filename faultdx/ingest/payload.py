"""What a sensor or gateway publishes on ``faultdx/<asset>/signal``, checked as ``POST /v1/diagnose`` is.

Two forms:

* **JSON** — the body of ``/v1/diagnose``: ``signals`` (one signal ``[...]``, or a list of signals, each
  ``[samples]`` or ``[channels][samples]``), ``sampling_rate``, optional ``rpm``, ``bearing``,
  ``measured_at``, ``model``, ``window``, ``hop``, ``channels``, and ``id`` (the idempotency key, like HTTP's
  ``Idempotency-Key``). The asset comes from the topic, never from the body.
* **raw** — little-endian float32 samples of one channel, for small sensors; ``sampling_rate``, ``rpm``,
  ``id`` and ``measured_at`` travel as MQTT 5 user properties. A message is raw when its MQTT 5 content type
  is ``application/octet-stream`` or it carries a ``sampling_rate`` or ``rpm`` user property.

Every refusal is an :class:`~faultdx.errors.InputError` with the status and field the HTTP route would give
(422 for a bad value, 413 for too many bytes or samples, 400 for a body that is not JSON).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import pydantic_core

from faultdx.context import check_bearing, check_rpm
from faultdx.data.bearing import BearingGeometry
from faultdx.diagnose import check_sampling_rate
from faultdx.diagnose.reading import arrays_from_json
from faultdx.errors import InputError, TooLarge

RAW_CONTENT_TYPE = "application/octet-stream"
RAW_PROPERTIES = ("sampling_rate", "rpm")  # a user property among these marks a raw message
MAX_ID = 200  # as the HTTP Idempotency-Key header
SLACK_NUMBERS = 1024  # numbers a message may hold besides its samples (rpm, geometry), as over HTTP
FIELDS = {"signals", "sampling_rate", "rpm", "bearing", "measured_at", "id", "model", "window", "hop",
          "channels"}


@dataclass(frozen=True)
class SignalMessage:
    """One checked message: the signals to diagnose and the context the sender gave (None: not given)."""

    signals: list[np.ndarray]
    sampling_rate: float | None = None
    rpm: float | None = None
    bearing: BearingGeometry | None = None
    measured_at: datetime | None = None
    id: str | None = None
    model: str | None = None
    window: int | None = None
    hop: int | None = None
    channels: list[str] | None = field(default=None)

    def context(self) -> dict[str, Any]:
        """What the measurement is besides its samples and rate (for its request hash)."""
        return {"rpm": self.rpm, "bearing": None if self.bearing is None else self.bearing.as_request(),
                "measured_at": None if self.measured_at is None else self.measured_at.isoformat(),
                "model": self.model, "window": self.window, "hop": self.hop, "channels": self.channels}


def parse(payload: bytes, properties: dict[str, str] | None = None, content_type: str | None = None,
          *, max_bytes: int, max_samples: int | None = None) -> SignalMessage:
    """A published payload (and its MQTT 5 user properties / content type) → :class:`SignalMessage`.

    Bounded before decoding, as the HTTP route is: the bytes by ``max_bytes`` and the numbers (counted
    from the separators, or 4 bytes each when raw) by ``max_samples`` plus a little slack for the context."""
    if len(payload) > max_bytes:
        raise TooLarge(f"body: the message is larger than the limit of {max_bytes} bytes "
                       "(FAULTDX_MAX_BODY_BYTES)", "body")
    properties = properties or {}
    raw = content_type == RAW_CONTENT_TYPE or any(k in properties for k in RAW_PROPERTIES)
    numbers = len(payload) // 4 if raw else payload.count(b",") + 1
    if max_samples is not None and numbers > max_samples + SLACK_NUMBERS:
        raise TooLarge(f"body: about {numbers} numbers; the budget is {max_samples} samples per request "
                       "(FAULTDX_MAX_SAMPLES): send less", "body")
    return parse_raw(payload, properties) if raw else parse_json(payload)


def parse_json(payload: bytes) -> SignalMessage:
    """The JSON form: an object with the fields of ``/v1/diagnose`` (unknown fields refused, as there)."""
    try:  # the HTTP route's parser (pydantic-core: fast, NaN and Infinity allowed, nesting bounded)
        body = pydantic_core.from_json(payload, allow_inf_nan=True)
    except ValueError as err:
        raise InputError(f"body: not valid JSON ({err})", "body") from None
    if not isinstance(body, dict):
        raise InputError(f"body: a JSON object is expected, got {type(body).__name__}", "body")
    unknown = sorted(set(body) - FIELDS)
    if unknown:
        raise InputError(f"{unknown[0]}: extra inputs are not permitted", unknown[0])
    if "signals" not in body:
        raise InputError("signals: field required", "signals")
    return SignalMessage(
        signals=arrays_from_json(body["signals"]),
        sampling_rate=_rate(body.get("sampling_rate")),
        rpm=_rpm(body.get("rpm")),
        bearing=_bearing(body.get("bearing")),
        measured_at=_time(body.get("measured_at")),
        id=_id(body.get("id")),
        model=_text(body.get("model"), "model"),
        window=_count(body.get("window"), "window"),
        hop=_count(body.get("hop"), "hop"),
        channels=_names(body.get("channels")),
    )


def parse_raw(payload: bytes, properties: dict[str, str]) -> SignalMessage:
    """The raw form: little-endian float32 samples of one channel; numbers from user properties."""
    if not payload or len(payload) % 4:
        raise InputError("body: raw samples are little-endian float32, 4 bytes each; "
                         f"got {len(payload)} bytes", "body")
    return SignalMessage(
        signals=[np.frombuffer(payload, dtype="<f4").astype(np.float32)],
        sampling_rate=_rate(_number(properties.get("sampling_rate"), "sampling_rate")),
        rpm=_rpm(_number(properties.get("rpm"), "rpm")),
        measured_at=_time(properties.get("measured_at")),
        id=_id(properties.get("id")),
        model=_text(properties.get("model"), "model"),
    )


def _number(value: str | None, name: str) -> float | None:
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        raise InputError(f"{name}: not a number ({value[:40]!r})", name) from None


def _rate(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InputError(f"sampling_rate: a number of Hz is expected, got {type(value).__name__}",
                         "sampling_rate")
    return check_sampling_rate(value)


def _rpm(value: Any) -> float | None:
    return None if value is None else check_rpm(value)  # a ContextError is an InputError naming rpm


def _bearing(value: Any) -> BearingGeometry | None:
    return None if value is None else check_bearing(value, "bearing")


def _time(value: Any) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise InputError("measured_at: an ISO 8601 date and time is expected", "measured_at")
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InputError(f"measured_at: not an ISO 8601 date and time ({value[:40]!r})",
                         "measured_at") from None


def _id(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value)
    if not isinstance(value, (str, int)) or isinstance(value, bool) or not 1 <= len(text) <= MAX_ID:
        raise InputError(f"id: a string of 1 to {MAX_ID} characters is expected", "id")
    return text


def _text(value: Any, name: str) -> str | None:
    if value is not None and not isinstance(value, str):
        raise InputError(f"{name}: a string is expected", name)
    return value


def _count(value: Any, name: str) -> int | None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise InputError(f"{name}: a whole number of samples, at least 1, is expected", name)
    return value


def _names(value: Any) -> list[str] | None:
    if value is not None and (not isinstance(value, list) or not all(isinstance(v, str) for v in value)):
        raise InputError("channels: a list of channel names is expected", "channels")
    return value
