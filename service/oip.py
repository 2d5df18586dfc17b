"""Open Inference Protocol (KServe V2 / Triton HTTP/REST) tensors, with the binary tensor data extension.

A request body is a JSON object, optionally followed by raw tensor bytes; the
``Inference-Header-Content-Length`` header then gives the JSON's length, and each input that carries
``"parameters": {"binary_data_size": n}`` takes the next ``n`` bytes (little-endian, row-major). An output
is returned as binary when its request asks ``"binary_data": true`` or the request's parameters say
``"binary_data_output": true``; a response with any binary output gets the same header. ``BYTES`` elements
are a 4-byte little-endian length followed by the bytes. This module only (de)serialises; ``routes/v2.py``
decides what the tensors mean.
"""

from __future__ import annotations

import json
import math
import struct
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pydantic_core
from faultdx_service.errors import ApiError

HEADER = "Inference-Header-Content-Length"
NUMPY_TYPES = {"FP32": np.dtype("<f4"), "FP64": np.dtype("<f8"), "FP16": np.dtype("<f2")}
MAX_DIMS = 8


@dataclass
class Tensor:
    """One decoded input tensor."""

    name: str
    datatype: str
    shape: list[int]
    data: np.ndarray  # flat, float


@dataclass
class RequestedOutput:
    name: str
    binary: bool


@dataclass
class InferRequest:
    id: str | None
    inputs: list[Tensor]
    outputs: list[RequestedOutput] | None  # None: the model's default outputs
    binary_output: bool  # request-level ``binary_data_output``
    parameters: dict[str, Any] = field(default_factory=dict)


def bad(message: str, field: str | None = None) -> ApiError:
    return ApiError(400, message, field)


def parse_request(body: bytes, header_length: str | None, max_elements: int) -> InferRequest:
    """Decode an inference request (JSON, or JSON + binary tensors); 400 naming the problem otherwise."""
    if header_length is None:
        head, rest = body, b""
    else:
        try:
            n = int(header_length)
        except ValueError:
            raise bad(f"{HEADER} must be an integer, got {header_length!r}", HEADER) from None
        if not 0 < n <= len(body):
            raise bad(f"{HEADER}={n} does not fit a body of {len(body)} bytes", HEADER)
        head, rest = body[:n], body[n:]
    try:  # pydantic-core: a nesting limit instead of Python's RecursionError on [[[[...]]]]
        request = pydantic_core.from_json(head, allow_inf_nan=True)
    except ValueError as err:
        raise bad(f"the inference request is not valid JSON: {err}") from None
    if not isinstance(request, dict):
        raise bad("the inference request must be a JSON object")
    parameters = _dict(request.get("parameters"), "parameters")
    raw_inputs = request.get("inputs")
    if not isinstance(raw_inputs, list) or not raw_inputs:
        raise bad("inputs: a non-empty list of input tensors is required", "inputs")
    inputs, offset = [], 0
    for i, raw in enumerate(raw_inputs):
        tensor, offset = _parse_input(raw, f"inputs[{i}]", rest, offset, max_elements)
        inputs.append(tensor)
    if offset != len(rest):
        raise bad(
            f"{len(rest) - offset} bytes of binary data follow the inputs but no input claims them", HEADER
        )
    outputs = None
    if "outputs" in request:
        raw_outputs = request["outputs"]
        if not isinstance(raw_outputs, list):
            raise bad("outputs must be a list", "outputs")
        outputs = [_parse_output(o, f"outputs[{i}]") for i, o in enumerate(raw_outputs)]
    request_id = request.get("id")
    if request_id is not None and not isinstance(request_id, str):
        raise bad("id must be a string", "id")
    binary_output = parameters.get("binary_data_output", False)
    if not isinstance(binary_output, bool):
        raise bad("parameters.binary_data_output must be true or false", "parameters.binary_data_output")
    return InferRequest(request_id, inputs, outputs, binary_output, parameters)


def _dict(value: Any, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise bad(f"{where} must be a JSON object", where)
    return value


def _parse_input(raw: Any, where: str, rest: bytes, offset: int, max_elements: int) -> tuple[Tensor, int]:
    if not isinstance(raw, dict):
        raise bad(f"{where} must be a JSON object", where)
    name, datatype, shape = raw.get("name"), raw.get("datatype"), raw.get("shape")
    if not isinstance(name, str):
        raise bad(f"{where}.name must be a string", f"{where}.name")
    if datatype not in NUMPY_TYPES:
        raise bad(
            f"{where}.datatype must be one of {', '.join(NUMPY_TYPES)} (FP32 preferred), got {datatype!r}",
            f"{where}.datatype",
        )
    if (
        not isinstance(shape, list)
        or not 1 <= len(shape) <= MAX_DIMS
        or any(not isinstance(d, int) or isinstance(d, bool) or d < 0 for d in shape)
    ):
        raise bad(
            f"{where}.shape must be a list of 1 to {MAX_DIMS} non-negative integers, got {shape!r}",
            f"{where}.shape",
        )
    count = math.prod(shape)
    if count > max_elements:
        raise bad(f"{where}.shape {shape} holds {count} elements; at most {max_elements}", f"{where}.shape")
    dtype = NUMPY_TYPES[datatype]
    size = _dict(raw.get("parameters"), f"{where}.parameters").get("binary_data_size")
    if size is not None:
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise bad(
                f"{where}.parameters.binary_data_size must be a non-negative integer", f"{where}.parameters"
            )
        if size != count * dtype.itemsize:
            raise bad(
                f"{where}: binary_data_size {size} != {count} {datatype} elements × {dtype.itemsize} bytes",
                f"{where}.parameters",
            )
        if offset + size > len(rest):
            raise bad(
                f"{where}: binary_data_size {size} runs past the end of the body", f"{where}.parameters"
            )
        data = np.frombuffer(rest, dtype=dtype, count=count, offset=offset)
        offset += size
    else:
        data = _json_data(raw.get("data"), where, count)
    return Tensor(name, datatype, list(shape), data.astype(np.float32, copy=False)), offset


def _json_data(values: Any, where: str, count: int) -> np.ndarray:
    if values is None:
        raise bad(
            f"{where}: give the tensor as data or as binary (parameters.binary_data_size)", f"{where}.data"
        )
    if not isinstance(values, list):
        raise bad(f"{where}.data must be a list of numbers", f"{where}.data")
    try:
        array = np.asarray(values)
    except ValueError:
        raise bad(f"{where}.data is not a rectangular list of numbers", f"{where}.data") from None
    if array.dtype.kind not in "fiu":
        raise bad(f"{where}.data must hold only numbers", f"{where}.data")
    if array.size != count:
        raise bad(f"{where}.data has {array.size} elements but shape says {count}", f"{where}.data")
    with np.errstate(over="ignore"):
        return array.reshape(-1).astype(np.float32)


def _parse_output(raw: Any, where: str) -> RequestedOutput:
    if not isinstance(raw, dict) or not isinstance(raw.get("name"), str):
        raise bad(f"{where} must be an object with a name", where)
    parameters = _dict(raw.get("parameters"), f"{where}.parameters")
    if parameters.get("classification"):
        raise bad(f"{where}: the classification extension is not supported; ask for 'label'", where)
    binary = parameters.get("binary_data", False)
    if not isinstance(binary, bool):
        raise bad(f"{where}.parameters.binary_data must be true or false", f"{where}.parameters")
    return RequestedOutput(raw["name"], binary)


def encode_response(
    outputs: list[tuple[RequestedOutput, np.ndarray]],
    *,
    model_name: str,
    model_version: str,
    request_id: str | None,
    parameters: dict[str, str | float | bool | None] | None = None,
) -> tuple[bytes, dict[str, str]]:
    """The response body and headers: JSON for JSON outputs, JSON + bytes when any output is binary."""
    described, chunks = [], []
    for requested, array in outputs:
        datatype = "BYTES" if array.dtype.kind in "OUS" else "FP32"
        entry: dict[str, Any] = {"name": requested.name, "datatype": datatype, "shape": list(array.shape)}
        if requested.binary:
            raw = (
                _bytes_tensor(array) if datatype == "BYTES" else np.ascontiguousarray(array, "<f4").tobytes()
            )
            entry["parameters"] = {"binary_data_size": len(raw)}
            chunks.append(raw)
        else:
            flat = array.reshape(-1)
            entry["data"] = (
                [str(v) for v in flat] if datatype == "BYTES" else flat.astype(np.float64).tolist()
            )
        described.append(entry)
    head: dict[str, Any] = {"model_name": model_name, "model_version": model_version, "outputs": described}
    if request_id is not None:
        head["id"] = request_id
    if parameters:
        head["parameters"] = parameters
    header = json.dumps(head, allow_nan=False).encode()  # RFC 8259: a NaN here is a bug, not an answer
    if not chunks:
        return header, {"content-type": "application/json"}
    return header + b"".join(chunks), {"content-type": "application/octet-stream", HEADER: str(len(header))}


def _bytes_tensor(array: np.ndarray) -> bytes:
    parts = []
    for value in array.reshape(-1):
        data = value if isinstance(value, bytes) else str(value).encode()
        parts.append(struct.pack("<I", len(data)) + data)
    return b"".join(parts)
