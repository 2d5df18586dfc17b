"""Request and response models of the /v1 API (the /v2 tensors are parsed in ``routes/v2.py``)."""

from __future__ import annotations

from typing import Annotated, Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, PlainValidator, WithJsonSchema

from faultdx.diagnose import MAX_SAMPLING_RATE, MIN_SAMPLING_RATE

_NUMBERS = {"type": "array", "items": {"type": "number"}, "minItems": 1}
_SIGNALS_SCHEMA = {
    "description": "One signal [samples], or a list of signals, each [samples] or [channels][samples]",
    "anyOf": [
        _NUMBERS,
        {"type": "array", "items": _NUMBERS, "minItems": 1},
        {"type": "array", "items": {"type": "array", "items": _NUMBERS, "minItems": 1}, "minItems": 1},
    ],
}


def to_arrays(value: Any, field: str = "signals") -> list[np.ndarray]:
    """JSON numbers → float32 arrays: ``[...]`` is one signal, ``[[...], ...]`` a list of signals.

    numpy does the conversion (in C, with one error however long the input), and anything that is not a
    rectangular array of numbers is refused with a message naming the signal.
    """
    if not isinstance(value, list) or not value:
        raise ValueError(f"{field} must be a non-empty list of numbers (one signal) or of signals")
    if not isinstance(value[0], list):
        value = [value]
    arrays = []
    for i, signal in enumerate(value):
        name = f"{field}[{i}]"
        try:
            array = np.asarray(signal)
        except ValueError as err:  # ragged nesting
            raise ValueError(f"{name} is not a rectangular array of numbers ({err})") from err
        if array.dtype.kind not in "fiu" or array.size == 0:
            raise ValueError(f"{name} must be a non-empty array of numbers, got {_kind(signal)}")
        if array.ndim not in (1, 2):
            raise ValueError(f"{name} must be [samples] or [channels][samples], got {array.ndim} dimensions")
        with np.errstate(over="ignore"):  # out-of-range numbers become inf and are refused with the NaN check
            arrays.append(array.astype(np.float32))
    return arrays


def _kind(value: Any) -> str:
    if isinstance(value, list):
        kinds = sorted({type(v).__name__ for v in value[:1000]})
        return f"a list of {', '.join(kinds) or 'nothing'}"
    return type(value).__name__


Signals = Annotated[list[np.ndarray], PlainValidator(to_arrays), WithJsonSchema(_SIGNALS_SCHEMA)]
SamplingRate = Annotated[
    float,
    Field(
        ge=MIN_SAMPLING_RATE,
        le=MAX_SAMPLING_RATE,
        description="Hz of the signals as sent; resampled to the model's rate",
        examples=[12000],
    ),
]


class DiagnoseRequest(BaseModel):
    """``POST /v1/diagnose``."""

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True, protected_namespaces=())

    signals: Signals
    sampling_rate: SamplingRate
    model: str | None = Field(default=None, description="a loaded model's name; default model when omitted")
    window: int | None = Field(default=None, ge=1, description="window length in samples at the model's rate")
    hop: int | None = Field(
        default=None, ge=1, description="samples between window starts at the model's rate"
    )
    channels: list[str] | None = Field(
        default=None, description="names of the rows of [channels][samples] signals (e.g. ['DE', 'FE'])"
    )
    include_slopes: bool = Field(default=False, description="also return each window's APReLU slopes")
    rpm: float | None = Field(
        default=None, gt=0, le=100_000, description="shaft speed: adds defect frequencies"
    )


class ModelRef(BaseModel):
    name: str
    version: str


class WindowResult(BaseModel):
    start: int = Field(description="first sample of the window in the signal as sent")
    label: str
    confidence: float
    probabilities: dict[str, float]


class SignalResult(BaseModel):
    label: str = Field(description="argmax of the mean of the window probabilities")
    fault_type: str
    confidence: float
    probabilities: dict[str, float] = Field(description="mean of the window probabilities")
    windows: list[WindowResult]
    slopes: dict[str, list[list[float]]] | None = Field(
        default=None, description="{layer: [[slope per channel] per window]}, when include_slopes"
    )
    slope_summary: dict[str, float] | None = Field(default=None, description="{layer: mean slope}")
    defect_frequencies_hz: dict[str, float] | None = Field(
        default=None, description="BPFO, BPFI, BSF, FTF of the model's bearing at the given rpm"
    )


class DiagnoseResponse(BaseModel):
    model_config = ConfigDict(protected_namespaces=())

    model: ModelRef
    results: list[SignalResult]


class ModelSummary(BaseModel):
    model_config = ConfigDict(protected_namespaces=())

    name: str
    version: str
    default: bool
    classes: list[str]
    window: int
    hop: int
    sampling_rate: float
    channels: list[str]
    preset: str | None
    activation: str | None
    created: str


class ModelList(BaseModel):
    default: str
    models: list[ModelSummary]


class ModelDetail(ModelSummary):
    network: dict[str, Any] = Field(description="ResNet1dConfig")
    metrics: dict[str, Any]
    dataset: dict[str, Any]
    protocol: dict[str, Any]
    bearing: dict[str, Any] | None
    slope_layers: dict[str, int] = Field(description="{layer: channels} of the per-sample slopes")
    model_card: str | None


class ErrorResponse(BaseModel):
    error: str
    field: str | None = None


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorResponse} for code in (400, 401, 404, 413, 415, 422)
}
