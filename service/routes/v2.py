"""Open Inference Protocol (KServe V2 / Triton HTTP/REST) over the loaded models.

Model ``<name>``: input ``signal``, FP32 ``[N, window]`` (or ``[N, channels, window]``) raw windows at the
model's sampling rate (standardised here per window, as in training). Outputs: ``probabilities`` FP32 ``[N,
K]``, ``label`` BYTES ``[N]`` (``unknown`` for a window beyond the unknown-condition threshold), for a model
with an unknown-condition calibration ``unknown_score`` FP32 ``[N]`` (per window; 1 = threshold) and, only
when asked for by name, ``slopes.<layer>`` FP32 ``[N, C_layer]`` per APReLU layer. Without an ``outputs``
list the response holds ``probabilities``, ``label`` and ``unknown_score`` (when calibrated). The response's
``parameters.unknown_score`` is the median over the request's windows (null without a calibration);
``parameters.signal_ok`` / ``signal_problems`` are the signal-quality gate's verdict on the windows laid end
to end (every ``label`` is ``bad_signal`` when it refuses them).

Machine context: request ``parameters`` ``"rpm"`` (shaft speed) and ``"bearing"`` (a catalogue name, or a
geometry object as in /v1); without ``rpm`` it is estimated from the windows laid end to end, without
``bearing`` the model's own is used; when the speed can be neither given nor estimated and the network does
not read it, the model's nominal speed (``rpm_source: "nominal"``). The response's ``parameters`` say which
(``rpm``, ``rpm_source``, ``bearing``, ``bearing_source``). The windows are standardised and given their
context by :meth:`faultdx.diagnose.Diagnoser.prepare_windows`, the path every route shares; the answer is
the :class:`~faultdx.diagnose.Diagnosis` of those windows (its window labels, its unknown score and machine
context in :meth:`~faultdx.diagnose.Diagnosis.as_row`'s rounding), as /v1 answers.
"""

from __future__ import annotations

from functools import partial

import numpy as np
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from faultdx_service.deps import ModelsDep, ServedModel, SettingsDep
from faultdx_service.errors import ApiError
from faultdx_service.fastjson import INLINE_BYTES, check_numbers
from faultdx_service.machine import parse_bearing, parse_rpm
from faultdx_service.oip import HEADER, RequestedOutput, Tensor, encode_response, parse_request
from faultdx_service.settings import Settings
from faultdx_service.telemetry import WINDOWS
from starlette.concurrency import run_in_threadpool

from faultdx import __version__
from faultdx.diagnose import RequestBudget

INLINE_SAMPLES = 1 << 16  # smaller requests are standardised on the event loop, larger ones in a thread

INPUT = "signal"
SLOPES = "slopes."
DEFAULT_OUTPUTS = ("probabilities", "label")
UNKNOWN_SCORE = "unknown_score"

open_router = APIRouter(prefix="/v2", tags=["v2"])  # health: no API key
router = APIRouter(prefix="/v2", tags=["v2"])

_INFER_BODY = {
    "required": True,
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "required": ["inputs"],
                "properties": {
                    "id": {"type": "string"},
                    "parameters": {"type": "object"},
                    "inputs": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["name", "shape", "datatype"],
                            "properties": {
                                "name": {"type": "string", "example": INPUT},
                                "shape": {"type": "array", "items": {"type": "integer"}},
                                "datatype": {"type": "string", "example": "FP32"},
                                "parameters": {"type": "object"},
                                "data": {"type": "array"},
                            },
                        },
                    },
                    "outputs": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["name"],
                            "properties": {"name": {"type": "string"}, "parameters": {"type": "object"}},
                        },
                    },
                },
            }
        },
        "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
    },
}


@open_router.get("/health/live")
async def live() -> dict[str, bool]:
    return {"live": True}


@open_router.get("/health/ready", responses={503: {"description": "models still loading"}})
async def ready(request: Request) -> JSONResponse:
    is_ready = getattr(request.app.state, "models", None) is not None
    return JSONResponse({"ready": is_ready}, status_code=200 if is_ready else 503)


@router.get("")
async def server_metadata() -> dict:
    return {"name": "faultdx", "version": __version__, "extensions": ["binary_tensor_data"]}


def _served(models: ModelsDep, name: str, version: str | None) -> ServedModel:
    served = models.get(name, field="model_name", status=404)
    if version is not None and version != served.diagnoser.meta.version:
        raise ApiError(
            404,
            f"model {name!r} has version {served.diagnoser.meta.version!r}, not {version!r}",
            "model_version",
        )
    return served


def _metadata(served: ServedModel) -> dict:
    d = served.diagnoser
    c = len(d.channels)
    shape = [-1, d.window] if c == 1 else [-1, c, d.window]
    outputs = [
        {"name": "probabilities", "datatype": "FP32", "shape": [-1, len(d.classes)]},
        {"name": "label", "datatype": "BYTES", "shape": [-1]},
    ] + ([{"name": UNKNOWN_SCORE, "datatype": "FP32", "shape": [-1]}] if d.ood is not None else []) + [
        {"name": SLOPES + layer, "datatype": "FP32", "shape": [-1, channels]}
        for layer, channels in d.slope_channels().items()
    ]
    return {
        "name": d.name,
        "versions": [d.meta.version],
        "platform": "pytorch_safetensors",
        "inputs": [{"name": INPUT, "datatype": "FP32", "shape": shape}],
        "outputs": outputs,
        "parameters": {
            "classes": list(d.classes),
            "sampling_rate": d.sampling_rate,
            "channels": list(d.channels),
        },
    }


@router.get("/models/{name}")
async def model_metadata(name: str, models: ModelsDep) -> dict:
    return _metadata(_served(models, name, None))


@router.get("/models/{name}/versions/{version}")
async def model_version_metadata(name: str, version: str, models: ModelsDep) -> dict:
    return _metadata(_served(models, name, version))


@router.get("/models/{name}/ready")
async def model_ready(name: str, models: ModelsDep) -> dict:
    _served(models, name, None)
    return {"name": name, "ready": True}


@router.get("/models/{name}/versions/{version}/ready")
async def model_version_ready(name: str, version: str, models: ModelsDep) -> dict:
    _served(models, name, version)
    return {"name": name, "ready": True}


@router.post("/models/{name}/infer", openapi_extra={"requestBody": _INFER_BODY})
async def infer(name: str, request: Request, models: ModelsDep, settings: SettingsDep) -> Response:
    """Inference on raw windows; JSON or binary tensors (binary tensor data extension)."""
    return await _infer(_served(models, name, None), request, settings)


@router.post("/models/{name}/versions/{version}/infer", openapi_extra={"requestBody": _INFER_BODY})
async def infer_version(
    name: str, version: str, request: Request, models: ModelsDep, settings: SettingsDep
) -> Response:
    return await _infer(_served(models, name, version), request, settings)


async def _infer(served: ServedModel, request: Request, settings: Settings) -> Response:
    encoding = request.headers.get("content-encoding", "identity").lower()
    if encoding != "identity":
        raise ApiError(
            415,
            f"Content-Encoding {encoding!r} is not supported; send the body uncompressed",
            "Content-Encoding",
        )
    d = served.diagnoser
    body = await request.body()
    header = request.headers.get(HEADER)
    max_elements = min(settings.max_windows * len(d.channels) * d.window, settings.max_samples)
    check_numbers(body[: int(header)] if header and header.isdigit() else body, max_elements, status=400)
    parse = partial(parse_request, body, header, max_elements)
    parsed = await run_in_threadpool(parse) if len(body) > INLINE_BYTES else parse()
    raw = _raw_windows(served, parsed.inputs, settings.max_windows)
    rpm = parse_rpm(parsed.parameters.get("rpm"), "parameters.rpm")
    bearing = parse_bearing(parsed.parameters.get("bearing"), "parameters.bearing")
    budget = RequestBudget(settings.max_samples, settings.max_windows)
    prepare = partial(d.prepare_windows, raw, rpm=rpm, bearing=bearing, budget=budget, field="inputs[0]")
    windows = await run_in_threadpool(prepare) if raw.size > INLINE_SAMPLES else prepare()
    x, context = windows.x, windows.context
    defaults = (*DEFAULT_OUTPUTS, UNKNOWN_SCORE) if d.ood is not None else DEFAULT_OUTPUTS
    outputs = parsed.outputs or [RequestedOutput(n, parsed.binary_output) for n in defaults]
    valid = [*defaults, *(SLOPES + layer for layer in d.slope_channels())]
    for out in outputs:
        if out.name not in valid:
            raise ApiError(
                400, f"unknown output {out.name!r}; model {d.name!r} has {', '.join(valid)}", "outputs"
            )
        out.binary = out.binary or parsed.binary_output
    include_slopes = any(out.name.startswith(SLOPES) for out in outputs)
    probs, slopes, unknown, _ = await served.batcher.submit(x, context, include_slopes)
    WINDOWS.labels(served.name).inc(len(x))
    # labels and the unknown policy from one place; no fault-type verdict is sent, so no envelope backing
    diagnosis = d.aggregate(windows, probs, slopes, unknown, verdict=False)
    tensors = {
        "probabilities": probs.astype(np.float32),
        "label": np.array(diagnosis.window_labels, dtype=object),
        **({} if unknown is None else {UNKNOWN_SCORE: unknown.astype(np.float32)}),
        **{SLOPES + k: v.astype(np.float32) for k, v in slopes.items()},
    }
    context = diagnosis.context_fields()  # as_row's fields and rounding, without a verdict
    body_out, headers = encode_response(
        [(out, tensors[out.name]) for out in outputs],
        model_name=d.name,
        model_version=d.meta.version,
        request_id=parsed.id,
        parameters={k: context[k] for k in ("rpm", "rpm_source", "bearing", "bearing_source", "unknown_score",
                                            "signal_ok", "signal_problems")},
    )
    return Response(body_out, headers=headers)


def _raw_windows(served: ServedModel, inputs: list[Tensor], max_windows: int) -> np.ndarray:
    """The ``signal`` input as ``[N, C, W]`` windows (400 naming what does not fit)."""
    d = served.diagnoser
    if len(inputs) != 1 or inputs[0].name != INPUT:
        raise ApiError(
            400,
            f"inputs: model {d.name!r} takes exactly one input named {INPUT!r}, got "
            f"{[t.name for t in inputs]}",
            "inputs",
        )
    tensor = inputs[0]
    c, w = len(d.channels), d.window
    shape = tensor.shape
    if not ((len(shape) == 2 and c == 1 and shape[1] == w) or (len(shape) == 3 and shape[1:] == [c, w])):
        want = f"[N, {w}]" if c == 1 else f"[N, {c}, {w}]"
        raise ApiError(
            400,
            f"inputs[0].shape must be {want} (windows of the model's length), got {shape}",
            "inputs[0].shape",
        )
    if not 1 <= shape[0] <= max_windows:
        raise ApiError(
            400, f"inputs[0].shape: N must be from 1 to {max_windows}, got {shape[0]}", "inputs[0].shape"
        )
    if not np.isfinite(tensor.data).all():
        raise ApiError(400, "inputs[0]: the tensor holds NaN or Inf values", "inputs[0].data")
    return tensor.data.reshape(shape[0], c, w)
