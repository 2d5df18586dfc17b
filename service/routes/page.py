"""The inspection page (static files at ``/``) and the small helper endpoints it uses.

- ``GET /`` the page; ``GET /static/*`` its script and style (no CDN: everything is served from here).
- ``GET /v1/examples``: built-in example signals — the simulator's signal of every class, and the CWRU and
  MFPT files present in the dataset directory (``FAULTDX_DATA``) with their labels, speed and bearing.
- ``GET /v1/examples/{name}``: one example as JSON ``{signal, sampling_rate, label, rpm, ...}``, or with
  ``?format=file`` as a file to download (the publisher's original ``.mat``; ``.npy`` for simulated ones).
- ``POST /v1/envelope`` (JSON signal) and ``POST /v1/envelope/file`` (multipart upload): the envelope spectrum
  (the network front end's own, :func:`faultdx.nn.frontend.envelope_spectrum`, in multiples of its floor)
  with the bearing defect frequencies (BPFO, BPFI, BSF, FTF and harmonics) at the given shaft speed, for the
  model's bearing geometry unless another is named (a catalogue name or a geometry, parsed as /v1/diagnose
  parses it), plus a min/max preview of the waveform for plotting.
"""

from __future__ import annotations

import io
import math
from functools import partial
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from fastapi import APIRouter, Form
from fastapi.responses import FileResponse, Response
from fastapi.staticfiles import StaticFiles
from faultdx_service.deps import ModelsDep, SettingsDep
from faultdx_service.errors import ApiError
from faultdx_service.fastjson import FastJSONRoute
from faultdx_service.machine import parse_rpm
from faultdx_service.schemas import Bearing, SamplingRate, Signal, rpm_or_none
from faultdx_service.uploads import UploadField, read_upload
from pydantic import BaseModel, ConfigDict, Field, field_validator
from starlette.concurrency import run_in_threadpool

from faultdx.data.base import DatasetExample
from faultdx.data.bearing import BearingGeometry, defect_frequencies, parse_bearing
from faultdx.diagnose import Diagnoser, RequestBudget, check_sampling_rate
from faultdx.errors import InputError
from faultdx.nn.frontend import envelope_spectrum

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
WAVEFORM_POINTS = 1600  # min/max pairs in the waveform preview (about one per screen pixel)
MAX_SPECTRUM_POINTS = 4000  # longer spectra are max-pooled (keeps the peaks a defect line makes)
MIN_ENVELOPE_SAMPLES = 256

router = APIRouter()
router.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
api = APIRouter(prefix="/v1", tags=["page"], route_class=FastJSONRoute)  # key: faultdx_service.auth


@router.get("/", include_in_schema=False)
def index() -> FileResponse:
    """The inspection page."""
    return FileResponse(STATIC_DIR / "index.html", media_type="text/html")


# ------------------------------------------------------------------------------------------------- examples
class Example(BaseModel):
    """One built-in example signal (without its samples)."""

    name: str
    title: str
    group: str
    source: Literal["simulated", "dataset"]
    label: str
    fault_type: str
    sampling_rate: float
    rpm: float
    unit: str
    description: str
    bearing: str | None = None


class ExampleList(BaseModel):
    examples: list[Example]


class ExampleSignal(Example):
    """An example with its samples (1-D, at ``sampling_rate``)."""

    signal: list[float]


EXAMPLE_DATASETS = {  # registry name → options: every file at its own rate
    "synthetic": {},
    "cwru": {"set": "12k_drive_end", "sampling_rate": None},
    "mfpt": {},
}


def _examples() -> dict[str, DatasetExample]:
    """Every example by name: each registered dataset's own (simulated always, files where present)."""
    from faultdx.data.registry import dataset_names, get_dataset

    out: dict[str, DatasetExample] = {}
    for name in dataset_names():
        for example in get_dataset(name, **EXAMPLE_DATASETS.get(name, {})).examples():
            out[example.name] = example
    return out


def _described(example: DatasetExample) -> Example:
    return Example(
        name=example.name, title=example.title, group=example.group,
        source="dataset" if example.path is not None else "simulated", label=example.label,
        fault_type=example.fault_type, sampling_rate=example.sampling_rate, rpm=example.rpm,
        unit=example.unit, description=example.description, bearing=example.bearing,
    )


def _lookup(name: str) -> DatasetExample:
    examples = _examples()
    if name not in examples:
        raise ApiError(404, f"name: unknown example {name!r}; valid: {', '.join(examples)}", "name")
    return examples[name]


def _json_floats(values: np.ndarray) -> str:
    """A JSON array of float32 samples with 7 significant digits (float32 precision, half the bytes)."""
    return "[" + ",".join(f"{v:.7g}" for v in values.tolist()) + "]"


@api.get("/examples", response_model=ExampleList)
def list_examples() -> ExampleList:
    """Built-in example signals: every registered dataset's (simulated ones always, files present on disk)."""
    return ExampleList(examples=[_described(ex) for ex in _examples().values()])


@api.get(
    "/examples/{name}",
    response_model=ExampleSignal,
    responses={200: {"content": {"application/octet-stream": {}}}},
)
def get_example(name: str, format: Literal["json", "file"] = "json") -> Response:
    """One example's signal as JSON, or (``format=file``) the file itself (original ``.mat`` / ``.npy``)."""
    example = _lookup(name)
    if format == "file":
        if example.path is not None:
            return FileResponse(example.path, media_type="application/octet-stream",
                                filename=example.path.name)
        buf = io.BytesIO()
        np.save(buf, example.samples())
        return Response(buf.getvalue(), media_type="application/octet-stream",
                        headers={"Content-Disposition": f'attachment; filename="{name}.npy"'})
    head = _described(example).model_dump_json()[:-1]  # the metadata object, left open for the samples
    return Response(f'{head},"signal":{_json_floats(example.samples())}}}', media_type="application/json")


# ------------------------------------------------------------------------------------------------- envelope
class EnvelopeRequest(BaseModel):
    """A 1-D signal and the machine it came from."""

    model_config = ConfigDict(arbitrary_types_allowed=True, protected_namespaces=())

    signal: Signal
    sampling_rate: float = Field(description="Hz", allow_inf_nan=False, strict=True)
    rpm: float | None = Field(
        default=None, strict=True, description="shaft speed; without it no defect frequencies"
    )
    bearing: Bearing = None
    model: str | None = Field(default=None, description="whose bearing geometry to use (default model)")
    band: tuple[float, float] | None = Field(default=None, description="band-pass (low, high) Hz first")
    max_frequency: float | None = Field(
        default=None, gt=0, allow_inf_nan=False, description="Hz; default: past the last harmonic"
    )
    harmonics: int = Field(default=5, ge=1, le=20, strict=True)

    @field_validator("rpm")
    @classmethod
    def _check_rpm(cls, value: float | None) -> float | None:
        return rpm_or_none(value)


class DefectLines(BaseModel):
    hz: float
    harmonics: list[float]


class Waveform(BaseModel):
    """Min/max of the signal over ``len(min)`` equal time buckets spanning ``duration_s``."""

    duration_s: float
    min: list[float]
    max: list[float]


class EnvelopeResponse(BaseModel):
    sampling_rate: float
    samples: int
    rpm: float | None
    shaft_hz: float | None
    bearing: dict[str, Any]
    bearing_source: Literal["given", "model"]
    band: tuple[float, float] | None
    frequencies: list[float]
    amplitude: list[float]
    defects: dict[str, DefectLines] | None
    waveform: Waveform


def _geometry(bearing: BearingGeometry | None, diagnoser: Diagnoser) -> tuple[BearingGeometry, str]:
    """The requested bearing (already parsed), else the model's own (its training rig's)."""
    return (diagnoser.bearing, "model") if bearing is None else (bearing, "given")


def _max_pool(freqs: np.ndarray, amp: np.ndarray, points: int) -> tuple[np.ndarray, np.ndarray]:
    """At most ``points`` bins; each output bin is the largest of its group, at that peak's frequency."""
    if amp.size <= points:
        return freqs, amp
    group = math.ceil(amp.size / points)
    padded = np.pad(amp, (0, -amp.size % group), constant_values=-np.inf)  # the last block may be short
    blocks = padded.reshape(-1, group)
    pick = blocks.argmax(axis=1) + np.arange(blocks.shape[0]) * group
    return freqs[pick], amp[pick]


def _waveform(x: np.ndarray, sampling_rate: float) -> Waveform:
    edges = np.linspace(0, x.size, min(WAVEFORM_POINTS, x.size) + 1).astype(np.int64)[:-1]
    return Waveform(
        duration_s=x.size / sampling_rate,
        min=np.minimum.reduceat(x, edges).astype(float).tolist(),
        max=np.maximum.reduceat(x, edges).astype(float).tolist(),
    )


def envelope_report(
    x: np.ndarray,
    sampling_rate: float,
    *,
    rpm: float | None,
    geometry: BearingGeometry,
    bearing_source: str,
    band: tuple[float, float] | None = None,
    max_frequency: float | None = None,
    harmonics: int = 5,
) -> EnvelopeResponse:
    """Envelope spectrum of ``x [T]`` with the defect frequencies of ``geometry`` at ``rpm`` marked."""
    rate = check_sampling_rate(sampling_rate)
    rpm = parse_rpm(rpm)
    defects = None
    top = 1000.0
    if rpm is not None:
        lines = defect_frequencies(geometry, rpm / 60).as_dict()
        if not all(math.isfinite(v) for v in lines.values()):
            message = f"bearing: this geometry gives non-finite defect frequencies {lines}"
            raise ApiError(422, message, "bearing")
        defects = {k: DefectLines(hz=v, harmonics=[v * (i + 1) for i in range(harmonics)])
                   for k, v in lines.items()}
        top = max(500.0, 1.1 * harmonics * max(lines.values()))
    top = min(max_frequency or top, rate / 2)
    try:
        freqs, amp = envelope_spectrum(x, rate, band=band)
    except ValueError as err:
        raise ApiError(422, f"band: {err}" if band is not None else f"signal: {err}",
                       "band" if band is not None else "signal") from err
    keep = freqs <= top
    freqs, amp = _max_pool(freqs[keep], amp[keep], MAX_SPECTRUM_POINTS)
    return EnvelopeResponse(
        sampling_rate=rate,
        samples=int(x.size),
        rpm=rpm,
        shaft_hz=None if rpm is None else rpm / 60,
        bearing=geometry.as_request(),
        bearing_source=bearing_source,
        band=band,
        frequencies=freqs.astype(float).tolist(),
        amplitude=amp.astype(float).tolist(),
        defects=defects,
        waveform=_waveform(x, rate),
    )


def _validated(signal: np.ndarray, field: str) -> np.ndarray:
    from faultdx.data.readers import validate_signal

    try:
        return validate_signal(signal, min_samples=MIN_ENVELOPE_SAMPLES)
    except InputError as err:
        raise ApiError(err.status, f"{field}: {err}", field) from err


@api.post("/envelope", response_model=EnvelopeResponse)
def envelope(req: EnvelopeRequest, models: ModelsDep, settings: SettingsDep) -> EnvelopeResponse:
    """Envelope spectrum of one signal, with BPFO/BPFI/BSF/FTF and harmonics at ``rpm`` for the bearing."""
    geometry, source = _geometry(parse_bearing(req.bearing), models.get(req.model).diagnoser)
    RequestBudget(settings.max_samples).charge_decoded(req.signal.size, "signal")
    x = _validated(req.signal.reshape(1, -1), "signal")[0]
    return envelope_report(x, req.sampling_rate, rpm=req.rpm, geometry=geometry, bearing_source=source,
                           band=req.band, max_frequency=req.max_frequency, harmonics=req.harmonics)


@api.post("/envelope/file", response_model=EnvelopeResponse)
async def envelope_file(
    file: UploadField,
    models: ModelsDep,
    settings: SettingsDep,
    sampling_rate: Annotated[SamplingRate | None, Form(description="Hz, if the file does not say")] = None,
    rpm: Annotated[float | None, Form(description="shaft speed")] = None,
    channel: Annotated[str | None, Form(description="channel name or index (default: the model's)")] = None,
    bearing: Annotated[
        str | None, Form(description="catalogue name or geometry as a JSON object (default: the model's)")
    ] = None,
    model: Annotated[str | None, Form()] = None,
    harmonics: Annotated[int, Form(ge=1, le=20)] = 5,
    max_frequency: Annotated[float | None, Form(gt=0, allow_inf_nan=False)] = None,
    band_low: Annotated[float | None, Form(description="band-pass low edge, Hz (with band_high)")] = None,
    band_high: Annotated[float | None, Form(description="band-pass high edge, Hz (with band_low)")] = None,
) -> EnvelopeResponse:
    """``POST /v1/envelope`` for an uploaded file, read as ``POST /v1/diagnose/file`` reads it."""
    if (band_low is None) != (band_high is None):
        field = "band_high" if band_high is None else "band_low"
        raise ApiError(422, f"{field}: give both band_low and band_high, or neither", field)
    band = None if band_low is None or band_high is None else (band_low, band_high)
    diagnoser = models.get(model).diagnoser
    geometry, source = _geometry(parse_bearing(bearing), diagnoser)
    upload = await read_upload(file, settings, model_channels=diagnoser.channels[:1],
                               sampling_rate=sampling_rate, channel=channel, min_samples=MIN_ENVELOPE_SAMPLES)
    report = partial(envelope_report, upload.signal[0], upload.sampling_rate, rpm=rpm, geometry=geometry,
                     bearing_source=source, band=band, harmonics=harmonics, max_frequency=max_frequency)
    return await run_in_threadpool(report)


router.include_router(api)
