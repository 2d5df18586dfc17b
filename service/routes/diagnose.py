"""``POST /v1/diagnose`` (JSON signals) and ``POST /v1/diagnose/file`` (an uploaded signal file).

Both go through the Diagnoser's own steps — windows (resample, frame, standardise) → network → aggregate —
with the network step handed to the model's micro-batcher so that concurrent requests share forward passes.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import Annotated, Any

import numpy as np
from fastapi import APIRouter, File, Form, UploadFile
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from faultdx.diagnose import Diagnosis, Windows
from service.deps import ModelsDep, ServedModel, SettingsDep
from service.errors import ApiError
from service.fastjson import FastJSONResponse, FastJSONRoute
from service.schemas import ERROR_RESPONSES, DiagnoseRequest, DiagnoseResponse, SamplingRate
from service.telemetry import DIAGNOSES, WINDOWS

router = APIRouter(prefix="/v1", tags=["diagnose"], route_class=FastJSONRoute)
INLINE_SAMPLES = 1 << 16  # smaller inputs are windowed on the event loop; larger ones in a thread
DECIMALS = 6


@router.post("/diagnose", response_model=DiagnoseResponse, responses=ERROR_RESPONSES)
async def diagnose(body: DiagnoseRequest, models: ModelsDep, settings: SettingsDep) -> JSONResponse:
    """Diagnose one or more signals; a signal's verdict is the argmax of its mean window probabilities."""
    served = models.get(body.model)
    return await _diagnose(
        served,
        body.signals,
        body.sampling_rate,
        window=body.window,
        hop=body.hop,
        channels=body.channels,
        include_slopes=body.include_slopes,
        rpm=body.rpm,
        max_windows=settings.max_windows,
        field="signals",
    )


@router.post("/diagnose/file", response_model=DiagnoseResponse, responses=ERROR_RESPONSES)
async def diagnose_file(
    models: ModelsDep,
    settings: SettingsDep,
    file: Annotated[UploadFile, File(description="a .csv, .npy, .wav, .mat or .parquet signal file")],
    sampling_rate: Annotated[SamplingRate | None, Form()] = None,
    model: Annotated[str | None, Form()] = None,
    window: Annotated[int | None, Form(ge=1)] = None,
    hop: Annotated[int | None, Form(ge=1)] = None,
    channel: Annotated[
        str | None, Form(description="channel name or index inside the file (e.g. DE)")
    ] = None,
    include_slopes: Annotated[bool, Form()] = False,
    rpm: Annotated[float | None, Form(gt=0, le=100_000)] = None,
) -> JSONResponse:
    """Diagnose an uploaded signal file, read by the data layer's readers (its channels; its rate if any).

    A multi-channel file given to a one-channel model without ``channel`` is read for the model's channel
    (``DE`` picks ``X105_DE_time`` out of a CWRU file).
    """
    served = models.get(model)
    data, name = await file.read(), file.filename or "upload"
    picked: str | int | None = int(channel) if channel is not None and channel.isdigit() else channel
    signal_file = await _read(data, name, sampling_rate, picked)
    wanted = served.diagnoser.channels
    if picked is None and len(wanted) == 1 and signal_file.signal.shape[0] > 1:
        signal_file = await _read(data, name, sampling_rate, wanted[0])  # e.g. the DE channel of a .mat
    if signal_file.sampling_rate is None:
        raise ApiError(
            422,
            "sampling_rate: the file does not state its sampling rate; send sampling_rate",
            "sampling_rate",
        )
    signal = signal_file.signal
    names = signal_file.channels if signal.shape[0] != len(wanted) else None
    return await _diagnose(
        served,
        [signal],
        signal_file.sampling_rate,
        window=window,
        hop=hop,
        channels=names,
        include_slopes=include_slopes,
        rpm=rpm,
        max_windows=settings.max_windows,
        field="file",
    )


async def _read(data: bytes, filename: str, sampling_rate: float | None, channel: str | int | None):
    """The data layer's reader, in a thread; its errors (``SignalFileError``) become 422 naming ``file``."""
    from faultdx.data.readers import read_signal

    reader = partial(read_signal, data, filename=filename, sampling_rate=sampling_rate, channel=channel)
    try:
        return await run_in_threadpool(reader)
    except ValueError as err:
        field = "channel" if channel is not None and "channel" in str(err) else "file"
        raise ApiError(422, f"{field}: {err}", field) from err


async def _diagnose(
    served: ServedModel,
    signals: Sequence[np.ndarray],
    sampling_rate: float,
    *,
    window: int | None,
    hop: int | None,
    channels: Sequence[str] | None,
    include_slopes: bool,
    rpm: float | None,
    max_windows: int,
    field: str,
) -> JSONResponse:
    diagnoser = served.diagnoser
    prepare = partial(_windows, served, signals, sampling_rate, window, hop, channels, max_windows, field)
    large = sum(s.size for s in signals) > INLINE_SAMPLES
    prepared = await run_in_threadpool(prepare) if large else prepare()
    x = prepared[0].x if len(prepared) == 1 else np.concatenate([w.x for w in prepared])
    probs, slopes = await served.batcher.submit(x, include_slopes)
    diagnoses = diagnoser.split(prepared, probs, slopes if include_slopes else None)
    WINDOWS.labels(served.name).inc(len(x))
    for d in diagnoses:
        DIAGNOSES.labels(served.name, d.label).inc()
    defects = _defect_frequencies(diagnoser.meta.bearing, rpm)
    results = [_result(d, defects) for d in diagnoses]
    return FastJSONResponse(
        {"model": {"name": served.name, "version": diagnoser.meta.version}, "results": results}
    )


def _windows(
    served: ServedModel,
    signals: Sequence[np.ndarray],
    sampling_rate: float,
    window: int | None,
    hop: int | None,
    channels: Sequence[str] | None,
    max_windows: int,
    field: str,
) -> list[Windows]:
    out: list[Windows] = []
    left = max_windows
    for i, signal in enumerate(signals):
        name = f"{field}[{i}]" if field == "signals" else field
        w = served.diagnoser.windows(
            signal, sampling_rate, window=window, hop=hop, channels=channels, max_windows=left, field=name
        )
        left -= len(w.x)
        out.append(w)
    return out


def _result(d: Diagnosis, defects: dict[str, float] | None) -> dict[str, Any]:
    classes = d.classes
    window_probs = np.round(d.window_probabilities.astype(np.float64), DECIMALS)
    best = window_probs.argmax(axis=1)
    windows = [
        {
            "start": int(s),
            "label": classes[k],
            "confidence": float(p[k]),
            "probabilities": dict(zip(classes, p.tolist(), strict=True)),
        }
        for s, k, p in zip(d.start.tolist(), best.tolist(), window_probs, strict=True)
    ]
    mean = np.round(d.probabilities.astype(np.float64), DECIMALS)
    out: dict[str, Any] = {
        "label": d.label,
        "fault_type": d.fault_type,
        "confidence": round(d.confidence, DECIMALS),
        "probabilities": dict(zip(classes, mean.tolist(), strict=True)),
        "windows": windows,
    }
    if d.slopes is not None:
        out["slopes"] = {k: np.round(v.astype(np.float64), DECIMALS).tolist() for k, v in d.slopes.items()}
        out["slope_summary"] = {k: round(v, DECIMALS) for k, v in (d.slope_summary or {}).items()}
    if defects is not None:
        out["defect_frequencies_hz"] = defects
    return out


def _defect_frequencies(bearing: dict[str, Any] | None, rpm: float | None) -> dict[str, float] | None:
    """BPFO/BPFI/BSF/FTF of the model's bearing at ``rpm`` (None without an rpm or a known geometry)."""
    if rpm is None or not bearing:
        return None
    from dataclasses import fields

    from faultdx.data.bearing import BearingGeometry, defect_frequencies

    known = {f.name for f in fields(BearingGeometry)}
    try:
        geometry = BearingGeometry(**{k: v for k, v in bearing.items() if k in known})
    except (TypeError, ValueError):
        return None
    return {k: round(float(v), 3) for k, v in defect_frequencies(geometry, rpm / 60.0).as_dict().items()}
