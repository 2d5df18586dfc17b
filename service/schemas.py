"""Request and response models of the /v1 API (the /v2 tensors are parsed in ``routes/v2.py``)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, PlainValidator, WithJsonSchema, field_validator

from faultdx.context import RpmRange, check_rpm
from faultdx.diagnose import MAX_SAMPLING_RATE, MIN_SAMPLING_RATE
from faultdx.diagnose.reading import arrays_from_json

_NUMBERS = {"type": "array", "items": {"type": "number"}, "minItems": 1}
_SIGNALS_SCHEMA = {
    "description": "One signal [samples], or a list of signals, each [samples] or [channels][samples]",
    "anyOf": [
        _NUMBERS,
        {"type": "array", "items": _NUMBERS, "minItems": 1},
        {"type": "array", "items": {"type": "array", "items": _NUMBERS, "minItems": 1}, "minItems": 1},
    ],
}


def one_signal(value: Any) -> np.ndarray:
    """Pydantic validator: one channel's samples (a flat list of numbers) → float32 ``[T]``."""
    if isinstance(value, list) and value and isinstance(value[0], list):
        raise ValueError("signal must be a flat list of numbers (one channel)")
    return arrays_from_json(value, "signal")[0]


_GEOMETRY_SCHEMA = {
    "type": "object",
    "required": ["balls", "ball_diameter_mm", "pitch_diameter_mm"],
    "properties": {
        "balls": {"type": "integer", "minimum": 3},
        "ball_diameter_mm": {"type": "number", "exclusiveMinimum": 0},
        "pitch_diameter_mm": {"type": "number", "exclusiveMinimum": 0},
        "contact_angle_deg": {"type": "number", "minimum": 0, "exclusiveMaximum": 90, "default": 0},
        "name": {"type": "string"},
    },
}
_BEARING_SCHEMA = {
    "description": "a catalogue name (GET /v1/bearings) or a geometry; default: the model's training bearing",
    "anyOf": [{"type": "string", "examples": ["SKF 6205"]}, _GEOMETRY_SCHEMA, {"type": "null"}],
}
# checked by service.machine.parse_bearing, so that an error names the part (bearing.balls, ...)
Bearing = Annotated[Any, WithJsonSchema(_BEARING_SCHEMA)]
RPM_DESCRIPTION = "shaft speed in rpm (30 to 60000); estimated from the signal when omitted"


def rpm_or_none(value: float | None) -> float | None:
    """Pydantic validator: ``None`` or a possible shaft speed."""
    return None if value is None else check_rpm(value)


Signals = Annotated[list[np.ndarray], PlainValidator(arrays_from_json), WithJsonSchema(_SIGNALS_SCHEMA)]
_SIGNAL_SCHEMA = {**_NUMBERS, "description": "samples of one channel"}
Signal = Annotated[np.ndarray, PlainValidator(one_signal), WithJsonSchema(_SIGNAL_SCHEMA)]
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
    sampling_rate: Annotated[SamplingRate, Field(strict=True)] | None = Field(
        default=None, description="required unless the asset has one"
    )
    model: str | None = Field(default=None, description="a loaded model's name; default model when omitted")
    window: int | None = Field(
        default=None, ge=1, strict=True, description="window length in samples at the model's rate"
    )
    hop: int | None = Field(
        default=None, ge=1, strict=True, description="samples between window starts at the model's rate"
    )
    channels: list[str] | None = Field(
        default=None, description="names of the rows of [channels][samples] signals (e.g. ['DE', 'FE'])"
    )
    include_slopes: bool = Field(
        default=False, strict=True, description="also return each window's APReLU slopes"
    )
    rpm: float | None = Field(default=None, strict=True, description=RPM_DESCRIPTION, examples=[1797])
    rpm_tolerance: float | None = Field(
        default=None, description="with rpm: rpm is a nominal speed known to within this many percent "
        "(above 0, below 50); the signal refines it", examples=[5],
    )
    rpm_range: list[float] | None = Field(
        default=None, description="[low, high] rpm the shaft speed lies in (instead of rpm); the signal "
        "refines it", examples=[[1400, 1800]],
    )
    bearing: Bearing = None
    asset: str | None = Field(
        default=None, max_length=200,
        description="store the diagnosis for this asset (id or name); its rpm, bearing and sampling rate "
        "are used where the request gives none",
    )
    measured_at: datetime | None = Field(
        default=None, description="when the signals were measured (stored with an asset); default: now"
    )

    @field_validator("rpm")
    @classmethod
    def _check_rpm(cls, value: float | None) -> float | None:
        return rpm_or_none(value)

    @field_validator("rpm_tolerance")
    @classmethod
    def _check_tolerance(cls, value: float | None) -> float | None:
        if value is not None:
            RpmRange.from_tolerance(1000.0, value)  # the percentage alone; the speed is checked as rpm
        return value

    @field_validator("rpm_range")
    @classmethod
    def _check_range(cls, value: list[float] | None) -> list[float] | None:
        if value is not None:
            RpmRange.from_bounds(value)
        return value


class ModelRef(BaseModel):
    name: str
    version: str


class WindowResult(BaseModel):
    start: int = Field(description="first sample of the window in the signal as sent")
    fault_type: str = Field(description="the window's most probable fault type")
    label: str = Field(description="the window's most probable class, or 'unknown' (unknown_score > 1)")
    confidence: float = Field(description="probability of the window's most probable class")
    probabilities: dict[str, float]
    unknown_score: float | None = Field(
        default=None, description="the window's unknown-condition score (1 = threshold); null: uncalibrated"
    )


class BearingOut(BaseModel):
    """A bearing in the API's form."""

    name: str | None
    balls: int
    ball_diameter_mm: float
    pitch_diameter_mm: float
    contact_angle_deg: float
    source: str | None = Field(description="where the geometry is published (catalogue entries)")


class MachineOut(BaseModel):
    """The machine context a verdict was reached with."""

    rpm: float
    rpm_source: str = Field(description="given | estimated (from the signal) | refined (a given range or "
                            "tolerance narrowed by the signal) | nominal (the model's default)")
    rpm_uncertainty: float | None = Field(default=None, description="one sigma of an estimated or refined "
                                          "speed, rpm")
    rpm_ambiguous: bool | None = Field(default=None, description="an octave or sub-harmonic of the "
                                       "estimated speed explains the signal nearly as well: send rpm")
    bearing: BearingOut
    bearing_source: str = Field(description="given | model (the model's training bearing)")
    defect_frequencies_hz: dict[str, float] = Field(description="shaft, bpfo, bpfi, bsf, ftf")
    rpm_estimate_accuracy: str | None = Field(
        default=None, description="when estimated: the measured accuracy for signals of this length"
    )


class QualityProblem(BaseModel):
    """One thing wrong with one channel of a signal."""

    kind: str = Field(description="too_short | non_finite | flat_line | dropout | clipping | dc_step | "
                      "spikes | no_machine")
    channel: int
    message: str


class SignalQualityOut(BaseModel):
    """The signal-quality gate's verdict (faultdx.diagnose.quality)."""

    ok: bool
    problems: list[QualityProblem]


class DefectLinesOut(BaseModel):
    """The recording's defect lines (faultdx.diagnose.confidence.recording_lines): a fault verdict needs
    some defect family's lines to stand out of the mean envelope spectrum of the signal's windows."""

    by_fault_type: dict[str, float] = Field(
        description="each family's mean peak over floor at harmonics 1-3 (ball: 2xBSF, inner race: BPFI, "
        "outer race: BPFO)")
    strongest: float = Field(description="the strongest family's")
    needed: float | None = Field(description="the level the model's confidence policy needs (lines_below)")
    stand_out: bool | None = Field(description="strongest >= needed; when false, faults are capped "
                                   "(unlined_fault)")


class SignalResult(BaseModel):
    fault_type: str = Field(
        description="the primary answer: most probable fault type (summed classes), 'unknown' when "
        "unknown_score > 1, or 'bad_signal' when the signal-quality gate refuses the signal"
    )
    confidence: float = Field(description="probability of closest_fault_type (= fault_type unless unknown)")
    unknown_score: float | None = Field(
        description="unknown-condition score, the median of the windows' (0: typical of the calibration "
        "data; above 1: unknown; the threshold flags a stated share of validation windows, see the model's "
        "ood.json); null when the model has no calibration"
    )
    closest_fault_type: str = Field(description="the network's most probable fault type, also when unknown")
    signal_quality: SignalQualityOut | None = Field(
        default=None, description="the signal-quality gate: when not ok, fault_type is 'bad_signal'"
    )
    defect_lines: DefectLinesOut | None = Field(
        default=None, description="whether a defect family's lines stand out of the recording (null: the "
        "model's policy does not gate on them, or the speed is unknown)"
    )
    type_probabilities: dict[str, float] = Field(description="probability of each fault type")
    label: str = Field(description="most probable class within fault_type")
    severity: str | None = Field(default=None, description="fault size of label (e.g. '0.014 in')")
    severity_note: str | None = Field(default=None, description="how far the severity carries over")
    evidence: dict[str, Any] | None = Field(
        default=None, description="{defect_frequency, hz}: the line the fault type shows at"
    )
    machine: MachineOut | None = None
    probabilities: dict[str, float] = Field(description="mean of the window probabilities")
    windows: list[WindowResult]
    slopes: dict[str, list[list[float]]] | None = Field(
        default=None, description="{layer: [[slope per channel] per window]}, when include_slopes"
    )
    slope_summary: dict[str, float] | None = Field(default=None, description="{layer: mean slope}")
    defect_frequencies_hz: dict[str, float] | None = Field(
        default=None, description="machine.defect_frequencies_hz (kept for older clients)"
    )


class DiagnoseResponse(BaseModel):
    model_config = ConfigDict(protected_namespaces=())

    model: ModelRef
    results: list[SignalResult]
    stored: dict[str, Any] | None = Field(
        default=None, description="with an asset: the stored diagnosis ids, zones and the alarms changed"
    )


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
    bearing: BearingOut = Field(description="the bearing assumed when a request names none (training rig's)")
    needs_context: bool = Field(description="whether the network reads the machine context (rpm, bearing)")


class ModelList(BaseModel):
    default: str
    models: list[ModelSummary]


class ModelDetail(ModelSummary):
    network: dict[str, Any] = Field(description="ResNet1dConfig")
    metrics: dict[str, Any]
    dataset: dict[str, Any]
    protocol: dict[str, Any]
    slope_layers: dict[str, int] = Field(description="{layer: channels} of the per-sample slopes")
    model_card: str | None


class BearingList(BaseModel):
    bearings: list[BearingOut]


class ErrorResponse(BaseModel):
    error: str
    field: str | None = None


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorResponse} for code in (400, 401, 404, 413, 415, 422)
}
