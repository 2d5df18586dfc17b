"""``POST /v1/diagnose`` (JSON signals) and ``POST /v1/diagnose/file`` (an uploaded signal file).

Both go through the Diagnoser's own steps — windows (resample, frame, standardise; machine context: rpm given
or estimated, bearing named, given or the model's) → network → aggregate — with the network step handed to
the model's micro-batcher so that concurrent requests share forward passes. The primary answer per signal is
its fault type and that type's probability; the class within the type gives the severity.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Annotated, Any

import numpy as np
from fastapi import APIRouter, Form, Header
from fastapi.responses import JSONResponse
from faultdx_service.deps import ModelsDep, ServedModel, SettingsDep
from faultdx_service.errors import ApiError
from faultdx_service.fastjson import FastJSONResponse, FastJSONRoute
from faultdx_service.machine import parse_bearing, parse_range_form, parse_speed
from faultdx_service.monitoring import StoreDep, call, record
from faultdx_service.schemas import (
    ERROR_RESPONSES,
    RPM_DESCRIPTION,
    DiagnoseRequest,
    DiagnoseResponse,
    SamplingRate,
)
from faultdx_service.telemetry import DIAGNOSES, WINDOWS
from faultdx_service.uploads import UploadField, read_upload
from starlette.concurrency import run_in_threadpool

from faultdx.context import RpmRange
from faultdx.context.accuracy import rpm_estimate_note
from faultdx.data.bearing import BearingGeometry
from faultdx.diagnose import Diagnoser, Diagnosis, RequestBudget, Windows, check_sampling_rate
from faultdx.errors import InputError
from faultdx.monitor.recording import request_hash

router = APIRouter(prefix="/v1", tags=["diagnose"], route_class=FastJSONRoute)
INLINE_SAMPLES = 1 << 16  # requests that decode and frame fewer samples are windowed on the event loop
INLINE_WINDOWS = 256  # answers about more windows are built and rendered in a worker thread
Keep = Callable[[list[Diagnosis], dict[str, Any]], Awaitable[dict[str, Any]]]  # stores, says what it stored


@dataclass(frozen=True)
class DiagnoseInput:
    """What to diagnose: the signals, their rate, and the options every endpoint shares."""

    signals: Sequence[np.ndarray]
    sampling_rate: float
    window: int | None = None
    hop: int | None = None
    channels: Sequence[str] | None = None
    include_slopes: bool = False
    rpm: float | RpmRange | None = None
    bearing: BearingGeometry | None = None
    field: str = "signals"


@router.post("/diagnose", response_model=DiagnoseResponse, responses=ERROR_RESPONSES)
async def diagnose(
    body: DiagnoseRequest,
    models: ModelsDep,
    settings: SettingsDep,
    store: StoreDep,
    idempotency_key: Annotated[str | None, Header(
        max_length=200, description="with an asset: a retried request with the same key is stored once"
    )] = None,
) -> JSONResponse:
    """Diagnose one or more signals of one machine (``rpm``, ``bearing``): per signal the most probable fault
    type and its probability, the class within it (severity), the evidence and the machine context used.

    With ``asset``, the asset's rpm, bearing and sampling rate fill in what the request leaves out, and the
    diagnoses are stored with the signals' condition indicators and zone, and the asset's alarms updated,
    before the answer (``stored``) is sent."""
    served = models.get(body.model)
    asset = None if body.asset is None else await call(store, lambda s: s.asset(body.asset))
    context = {} if asset is None else asset.model_dump(mode="json")
    rate = body.sampling_rate if body.sampling_rate is not None else context.get("sampling_rate")
    if rate is None:
        raise ApiError(422, "sampling_rate: required (the request and its asset give none)", "sampling_rate")
    speed_given = any(v is not None for v in (body.rpm, body.rpm_tolerance, body.rpm_range))
    rpm = parse_speed(body.rpm, body.rpm_tolerance, body.rpm_range) if speed_given else context.get("rpm")
    bearing = body.bearing if body.bearing is not None else context.get("bearing")
    inputs = DiagnoseInput(body.signals, rate, body.window, body.hop, body.channels, body.include_slopes,
                           rpm, parse_bearing(bearing))
    keep = None
    if asset is not None:
        async def keep(diagnoses: list[Diagnosis], payload: dict[str, Any]) -> dict[str, Any]:
            return await record(store, asset.id, diagnoses, inputs.signals, rate, payload["model"],
                                measured_at=body.measured_at, idempotency_key=idempotency_key,
                                request_hash=request_hash(inputs.signals, rate, **body.model_dump(
                                    mode="json", exclude={"signals", "sampling_rate"})),
                                diagnoser=served.diagnoser, results=payload["results"])
    return await _diagnose(served, inputs, RequestBudget(settings.max_samples, settings.max_windows), keep)


@router.post("/diagnose/file", response_model=DiagnoseResponse, responses=ERROR_RESPONSES)
async def diagnose_file(
    models: ModelsDep,
    settings: SettingsDep,
    file: UploadField,
    sampling_rate: Annotated[SamplingRate | None, Form()] = None,
    model: Annotated[str | None, Form()] = None,
    window: Annotated[int | None, Form(ge=1)] = None,
    hop: Annotated[int | None, Form(ge=1)] = None,
    channel: Annotated[
        str | None, Form(description="channel name or index inside the file (e.g. DE)")
    ] = None,
    include_slopes: Annotated[bool, Form()] = False,
    rpm: Annotated[float | None, Form(description=RPM_DESCRIPTION)] = None,
    rpm_tolerance: Annotated[float | None, Form(
        description="with rpm: a nominal speed known to within this many percent (above 0, below 50)"
    )] = None,
    rpm_range: Annotated[str | None, Form(
        description="'low,high' rpm the speed lies in (instead of rpm)"
    )] = None,
    bearing: Annotated[
        str | None, Form(description="a catalogue name (GET /v1/bearings) or a geometry as a JSON object")
    ] = None,
) -> JSONResponse:
    """Diagnose an uploaded signal file, read once by the data layer's reader (its channels; its rate if any).

    A multi-channel file given to a one-channel model without ``channel`` is read for the model's channel
    (``DE`` picks ``X105_DE_time`` out of a CWRU file).
    """
    served = models.get(model)
    speed, geometry = parse_speed(rpm, rpm_tolerance, parse_range_form(rpm_range)), parse_bearing(bearing)
    wanted = served.diagnoser.channels
    upload = await read_upload(file, settings, model_channels=wanted, sampling_rate=sampling_rate,
                               channel=channel)
    inputs = DiagnoseInput([upload.signal], upload.sampling_rate, window, hop, upload.row_names,
                           include_slopes, speed, geometry, field="file")
    return await _diagnose(served, inputs, RequestBudget(settings.max_samples, settings.max_windows))


async def _diagnose(
    served: ServedModel, inputs: DiagnoseInput, budget: RequestBudget, keep: Keep | None = None
) -> JSONResponse:
    diagnoser = served.diagnoser
    prepare = partial(_windows, served, inputs, budget)
    large = _output_samples(diagnoser, inputs) > INLINE_SAMPLES
    prepared = await run_in_threadpool(prepare) if large else prepare()
    x = prepared[0].x if len(prepared) == 1 else np.concatenate([w.x for w in prepared])
    context = prepared[0].context if len(prepared) == 1 else np.concatenate([w.context for w in prepared])
    probs, slopes, unknown, features, *backing = await served.batcher.submit(
        x, context, inputs.include_slopes, include_backing=diagnoser.gates_on_envelope)
    envelope = tuple(backing) if backing and backing[0] is not None else None
    diagnoses = diagnoser.split(prepared, probs, slopes if inputs.include_slopes else None, unknown, envelope,
                                features)
    WINDOWS.labels(served.name).inc(len(x))
    for d in diagnoses:
        DIAGNOSES.labels(served.name, d.label).inc()
    seconds = [s.shape[-1] / inputs.sampling_rate for s in inputs.signals]
    describe = partial(_results, diagnoses, seconds)
    results = await run_in_threadpool(describe) if len(x) > INLINE_WINDOWS else describe()
    payload = {"model": {"name": served.name, "version": diagnoser.meta.version}, "results": results}
    if keep is not None:
        payload["stored"] = await keep(diagnoses, payload)
    if len(x) > INLINE_WINDOWS:  # thousands of windows' probabilities: rendered off the event loop too
        return await run_in_threadpool(FastJSONResponse, payload)
    return FastJSONResponse(payload)


def _results(diagnoses: list[Diagnosis], seconds: list[float]) -> list[dict[str, Any]]:
    """Each signal's answer: :meth:`~faultdx.diagnose.Diagnosis.as_dict`, an estimated speed with the
    measured accuracy of speed estimation on signals of its length."""
    return [d.as_dict(rpm_note=rpm_estimate_note(d.machine, t))
            for d, t in zip(diagnoses, seconds, strict=True)]


def _output_samples(diagnoser: Diagnoser, inputs: DiagnoseInput) -> int:
    """Samples the request decodes plus those its windows will hold: what decides inline or thread (a
    small input with a small hop makes a large output). Bad parameters count 0: refused inline."""
    try:
        window, hop = diagnoser.check_window_hop(inputs.window, inputs.hop)
        rate = check_sampling_rate(inputs.sampling_rate)
    except InputError:
        return 0
    width = len(diagnoser.channels) * window
    return sum(s.size + diagnoser.window_count(s.shape[-1], rate, window, hop) * width
               for s in inputs.signals)


def _windows(served: ServedModel, inputs: DiagnoseInput, budget: RequestBudget) -> list[Windows]:
    return [
        served.diagnoser.windows(
            signal, inputs.sampling_rate, window=inputs.window, hop=inputs.hop, channels=inputs.channels,
            budget=budget, field=f"{inputs.field}[{i}]" if inputs.field == "signals" else inputs.field,
            rpm=inputs.rpm, bearing=inputs.bearing,
        )
        for i, signal in enumerate(inputs.signals)
    ]
