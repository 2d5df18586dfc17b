"""The service as deployed: a real ``faultdx serve`` (uvicorn) process on 127.0.0.1, driven over HTTP.

Two models are loaded (the served one is the default); /v1 JSON and file uploads, the Open Inference Protocol
through the unmodified ``tritonclient`` (binary and JSON), concurrent clients, bad inputs, the body limit.
"""

from __future__ import annotations

import io
import json
import socket
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest
import scipy.io
import scipy.io.wavfile

from faultdx.diagnose import Diagnoser
from tests.data_helpers import STANDIN, missing_data
from tests.service_support import (
    RATE,
    SHIPPED,
    WINDOW,
    make_model_dir,
    running_server,
    served_model_dir,
    tone,
)

MAX_WINDOWS = 64
MAX_BODY = 4 << 20  # the CWRU .mat files are about 3 MB


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    return served_model_dir(tmp_path_factory.mktemp("models"))


@pytest.fixture(scope="module")
def local(model_dir) -> Diagnoser:
    """The same model loaded in the test process: what the server must reproduce."""
    return Diagnoser.from_dir(model_dir)


@pytest.fixture(scope="module")
def server(model_dir, tmp_path_factory):
    relu = make_model_dir(
        tmp_path_factory.mktemp("models") / "tiny-relu", name="tiny-relu", activation="relu"
    )
    env = {"FAULTDX_MAX_WINDOWS": str(MAX_WINDOWS), "FAULTDX_MAX_BODY_BYTES": str(MAX_BODY)}
    with running_server(model_dir, relu, env=env) as url:
        yield url


@pytest.fixture(scope="module")
def client(server):
    with httpx.Client(base_url=server, timeout=30) as c:
        yield c


def post(client: httpx.Client, body: dict, path: str = "/v1/diagnose") -> httpx.Response:
    return client.post(path, json=body)


# -- health and models -------------------------------------------------------------------------------------
def test_health_ready_and_models(client, local) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz").json()
    assert ready["status"] == "ready" and ready["models"] == [local.name, "tiny-relu"]
    listing = client.get("/v1/models").json()
    assert listing["default"] == local.name
    first = listing["models"][0]
    assert first["default"] is True and first["classes"] == list(local.classes)
    assert first["window"] == WINDOW and first["sampling_rate"] == RATE and first["activation"] == "aprelu"
    detail = client.get(f"/v1/models/{local.name}").json()
    assert detail["model_card"] == local.model_card() and detail["model_card"]
    assert detail["slope_layers"] == local.slope_channels() and detail["network"]["activation"] == "aprelu"
    assert "metrics" in detail and detail["dataset"]["name"]
    missing = client.get("/v1/models/nope")
    assert missing.status_code == 404 and "nope" in missing.json()["error"]


# -- /v1/diagnose --------------------------------------------------------------------------------------------
def test_diagnose_reproduces_the_library(client, local) -> None:
    a, b = tone(1.0, seed=1), tone(0.5, seed=2) * 3
    r = post(client, {"signals": [a.tolist(), b.tolist()], "sampling_rate": RATE})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["model"] == {"name": local.name, "version": local.meta.version}
    expected = local.diagnose([a, b], RATE)
    for got, want in zip(body["results"], expected, strict=True):
        assert got["label"] == want.label and got["fault_type"] == want.fault_type
        probs = np.array([got["probabilities"][c] for c in local.classes])
        np.testing.assert_allclose(probs, want.probabilities, atol=1e-4)
        assert [w["start"] for w in got["windows"]] == want.start.tolist()
        assert [w["label"] for w in got["windows"]] == want.window_labels
        assert "slopes" not in got


def test_diagnose_resamples_and_returns_slopes(client, local) -> None:
    signal = tone(0.5, rate=48000, seed=7)
    r = post(
        client, {"signals": signal.tolist(), "sampling_rate": 48000, "include_slopes": True, "rpm": 1797}
    )
    assert r.status_code == 200, r.text
    [got] = r.json()["results"]
    [want] = local.diagnose([signal], 48000, include_slopes=True)
    assert [w["start"] for w in got["windows"]] == want.start.tolist()  # in 48 kHz samples
    assert set(got["slopes"]) == set(local.slope_channels())
    for layer, values in got["slopes"].items():
        np.testing.assert_allclose(np.array(values), want.slopes[layer], atol=1e-4)
        assert got["slope_summary"][layer] == pytest.approx(want.slope_summary[layer], abs=1e-4)
    assert got["defect_frequencies_hz"]["bpfi"] == pytest.approx(162.2, abs=0.5)  # SKF 6205 at 1797 rpm


def test_second_model_by_name(client) -> None:
    r = post(
        client,
        {"signals": tone(0.5).tolist(), "sampling_rate": RATE, "model": "tiny-relu", "include_slopes": True},
    )
    assert r.status_code == 200, r.text
    assert r.json()["model"]["name"] == "tiny-relu" and r.json()["results"][0]["slopes"] == {}


@pytest.mark.parametrize("fmt", ["csv", "npy", "wav", "mat", "parquet"])
def test_file_upload_equals_json(client, fmt) -> None:
    signal = tone(0.75, seed=11)
    data, extra = _encode(signal, fmt)
    r = client.post("/v1/diagnose/file", files={"file": (f"signal.{fmt}", data)}, data=extra)
    assert r.status_code == 200, r.text
    j = post(client, {"signals": signal.tolist(), "sampling_rate": RATE}).json()
    got, want = r.json()["results"][0], j["results"][0]
    assert got["label"] == want["label"]
    for c, p in want["probabilities"].items():
        assert got["probabilities"][c] == pytest.approx(p, abs=1e-4)


def _encode(signal: np.ndarray, fmt: str) -> tuple[bytes, dict]:
    buf = io.BytesIO()
    if fmt == "csv":
        pd.DataFrame({"DE": signal}).to_csv(buf, index=False, float_format="%.9g")
        return buf.getvalue(), {"sampling_rate": str(RATE)}
    if fmt == "npy":
        np.save(buf, signal)
        return buf.getvalue(), {"sampling_rate": str(RATE)}
    if fmt == "wav":  # 32-bit float WAV carries its own rate
        scipy.io.wavfile.write(buf, RATE, signal)
        return buf.getvalue(), {}
    if fmt == "mat":  # several channels: the model's DE channel is picked out, fs read from the file
        scipy.io.savemat(
            buf, {"X001_DE_time": signal[:, None], "X001_FE_time": signal[:, None] * 0, "fs": RATE}
        )
        return buf.getvalue(), {}
    pd.DataFrame({"DE": signal, "sampling_rate": RATE}).to_parquet(buf)
    return buf.getvalue(), {}


def test_real_cwru_file_upload(client, local) -> None:
    from faultdx.paths import data_dir

    path = data_dir() / "cwru" / "12k_drive_end" / "105.mat"  # inner race 0.007 in, 0 HP
    if not path.is_file():
        missing_data(f"the CWRU file {path}")
    # no rate sent: the reader knows CWRU file 105 is 12 kHz; no channel sent: the model's DE is picked
    r = client.post("/v1/diagnose/file", files={"file": ("105.mat", path.read_bytes())}, data={"hop": "2048"})
    assert r.status_code == 200, r.text
    [got] = r.json()["results"]
    assert len(got["windows"]) == 1 + (121265 - WINDOW) // 2048
    if local.path.resolve() == SHIPPED.resolve() and not STANDIN:  # the trained model knows the real file
        assert got["label"] == "inner_race_007"


# -- bad input: 4xx JSON naming the field, never 5xx ---------------------------------------------------------
GOOD = tone(0.5).tolist()


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"signals": [], "sampling_rate": RATE}, 422, "signals"),
        ({"signals": [[]], "sampling_rate": RATE}, 422, "signals"),
        ({"signals": ["a"] * 3000, "sampling_rate": RATE}, 422, "signals"),
        ({"signals": [None] * 3000, "sampling_rate": RATE}, 422, "signals"),
        ({"signals": {"x": 1}, "sampling_rate": RATE}, 422, "signals"),
        ({"signals": "1,2,3", "sampling_rate": RATE}, 422, "signals"),
        ({"signals": [[[[1.0] * 3000]]], "sampling_rate": RATE}, 422, "signals"),
        ({"signals": [[1.0] * 3000, [1.0, [2.0]]], "sampling_rate": RATE}, 422, "signals"),
        ({"signals": [1.0] * 100, "sampling_rate": RATE}, 422, "signals[0]"),
        ({"signals": [GOOD, [1.0] * 100], "sampling_rate": RATE}, 422, "signals[1]"),
        ({"signals": [1e39] * 3000, "sampling_rate": RATE}, 422, "signals[0]"),
        ({"signals": [1.0] * (WINDOW * (MAX_WINDOWS + 2)), "sampling_rate": RATE}, 413, "signals[0]"),
        ({"signals": GOOD}, 422, "sampling_rate"),
        ({"signals": GOOD, "sampling_rate": 0}, 422, "sampling_rate"),
        ({"signals": GOOD, "sampling_rate": -12000}, 422, "sampling_rate"),
        ({"signals": GOOD, "sampling_rate": 1e12}, 422, "sampling_rate"),
        ({"signals": GOOD, "sampling_rate": "fast"}, 422, "sampling_rate"),
        ({"signals": GOOD, "sampling_rate": None}, 422, "sampling_rate"),
        ({"signals": GOOD, "sampling_rate": RATE, "model": "nope"}, 422, "model"),
        ({"signals": GOOD, "sampling_rate": RATE, "window": 2}, 422, "window"),
        ({"signals": GOOD, "sampling_rate": RATE, "hop": 0}, 422, "hop"),
        ({"signals": GOOD, "sampling_rate": RATE, "include_slopes": "maybe"}, 422, "include_slopes"),
        ({"signals": GOOD, "sampling_rate": RATE, "channels": ["DE", "FE"]}, 422, "channels"),
        ({"signals": GOOD, "sampling_rate": RATE, "rpm": -5}, 422, "rpm"),
        ({"signals": GOOD, "sampling_rate": RATE, "sample_rate": 1}, 422, "sample_rate"),
        ([1, 2, 3], 422, None),
    ],
)
def test_bad_json_input(client, body, status, field) -> None:
    r = post(client, body)
    assert r.status_code == status, r.text
    error = r.json()
    assert error["error"] and "Traceback" not in r.text
    if field is not None:
        assert error["field"] == field and field.split("[")[0] in error["error"]


@pytest.mark.parametrize(
    ("raw", "content_type", "field"),
    [
        (b'{"signals": [NaN, 1, 2], "sampling_rate": 12000}', "application/json", "signals[0]"),
        (b'{"signals": [Infinity, 1, 2], "sampling_rate": 12000}', "application/json", "signals[0]"),
        (b'{"signals": [1, 2', "application/json", None),
        (b"\xff\xfe\x00", "application/json", None),
        (b"signals=1", "text/plain", None),
    ],
)
def test_bad_raw_bodies(client, raw, content_type, field) -> None:
    r = client.post("/v1/diagnose", content=raw, headers={"content-type": content_type})
    assert 400 <= r.status_code < 500, r.text
    assert r.json()["error"]
    if field is not None:
        assert r.json()["field"] == field


def test_bad_files(client) -> None:
    cases = [
        (("x.txt", b"1,2,3"), {"sampling_rate": "12000"}, "file"),
        (("x.npy", b"not numpy"), {"sampling_rate": "12000"}, "file"),
        (("x.csv", b""), {"sampling_rate": "12000"}, "file"),
        (("x.npy", _encode(np.zeros(100, np.float32), "npy")[0]), {"sampling_rate": "12000"}, "file"),
        (("x.npy", _encode(tone(0.5), "npy")[0]), {}, "sampling_rate"),
        (("x.npy", _encode(tone(0.5), "npy")[0]), {"sampling_rate": "5"}, "sampling_rate"),
        (("x.npy", _encode(tone(0.5), "npy")[0]), {"sampling_rate": "12000", "channel": "BA"}, "channel"),
    ]
    for file, data, field in cases:
        r = client.post("/v1/diagnose/file", files={"file": file}, data=data)
        assert r.status_code == 422, (file[0], r.text)
        assert r.json()["field"] == field, r.text
    r = client.post("/v1/diagnose/file", data={"sampling_rate": "12000"})
    assert r.status_code == 422 and r.json()["field"] == "file"


def test_body_over_the_limit_is_refused_before_it_is_read(server) -> None:
    host, port = server.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as s:
        # declare 100 MB and send none of it: the answer must come from the headers alone
        s.sendall(
            b"POST /v1/diagnose HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 100000000\r\n\r\n"
        )
        reply = b""
        while chunk := s.recv(65536):  # the server closes the connection after its answer
            reply += chunk
        reply = reply.decode()
    assert reply.startswith("HTTP/1.1 413")
    assert json.loads(reply.split("\r\n\r\n", 1)[1])["field"] == "body"


def test_streamed_body_over_the_limit(client) -> None:
    def chunks():
        for _ in range(100):  # 6.4 MB, no Content-Length
            yield b"[" + b"1.0," * 16_000

    r = client.post("/v1/diagnose", content=chunks(), headers={"content-type": "application/json"})
    assert r.status_code == 413 and r.json()["field"] == "body"
    r = client.post("/v2/models/tiny-relu/infer", content=chunks())
    assert r.status_code == 413


def test_unknown_routes_are_json(client) -> None:
    r = client.get("/v1/nothing")
    assert r.status_code == 404 and r.json()["error"]
    r = client.delete("/v1/diagnose")
    assert r.status_code == 405 and r.json()["error"]


# -- concurrency and micro-batching --------------------------------------------------------------------------
def test_concurrent_clients_each_get_their_own_result(server, local) -> None:
    signals = [tone(WINDOW / RATE * (1 + i % 3), seed=100 + i) * (1 + i) for i in range(64)]
    expected = local.diagnose(signals, RATE)

    def call(i: int) -> dict:
        with httpx.Client(base_url=server, timeout=60) as c:
            r = c.post("/v1/diagnose", json={"signals": signals[i].tolist(), "sampling_rate": RATE})
            assert r.status_code == 200, r.text
            return r.json()["results"][0]

    before = _metric(server, "faultdx_batch_requests_count")
    with ThreadPoolExecutor(32) as pool:
        results = list(pool.map(call, range(len(signals))))
    for got, want in zip(results, expected, strict=True):
        probs = np.array([[w["probabilities"][c] for c in local.classes] for w in got["windows"]])
        np.testing.assert_allclose(probs, want.window_probabilities, atol=1e-4)
    passes = _metric(server, "faultdx_batch_requests_count") - before
    assert passes < len(signals)  # some forward passes served several requests


def _metric(server: str, name: str, labels: str = "") -> float:
    text = httpx.get(server + "/metrics").text
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + "{") and labels in line or line.startswith(name + " "):
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_metrics(client, server, local) -> None:
    post(client, {"signals": GOOD, "sampling_rate": RATE})
    post(client, {"signals": GOOD})
    text = client.get("/metrics").text
    assert 'faultdx_http_requests_total{method="POST",route="/v1/diagnose",status="200"}' in text
    assert 'faultdx_http_requests_total{method="POST",route="/v1/diagnose",status="422"}' in text
    assert "faultdx_http_request_duration_seconds_bucket" in text
    assert _metric(server, "faultdx_batch_windows_count") > 0
    assert _metric(server, "faultdx_diagnoses_total", f'model="{local.name}"') > 0


# -- Open Inference Protocol through the unmodified tritonclient ---------------------------------------------
@pytest.fixture(scope="module")
def triton(server):
    import tritonclient.http as th

    client = th.InferenceServerClient(server.removeprefix("http://"))
    yield client
    client.close()


@pytest.mark.parametrize("binary", [True, False], ids=["binary", "json"])
def test_v2_infer_with_tritonclient(triton, client, local, binary) -> None:
    import tritonclient.http as th

    assert triton.is_server_live() and triton.is_server_ready() and triton.is_model_ready(local.name)
    assert "binary_tensor_data" in triton.get_server_metadata()["extensions"]
    meta = triton.get_model_metadata(local.name)
    assert meta["inputs"][0]["shape"] == [-1, WINDOW]
    layer = next(iter(local.slope_channels()))
    assert {"probabilities", "label", f"slopes.{layer}"} <= {o["name"] for o in meta["outputs"]}

    signal = tone(4 * WINDOW / RATE, seed=21)
    x = signal.reshape(4, WINDOW)
    inp = th.InferInput("signal", list(x.shape), "FP32")
    inp.set_data_from_numpy(x, binary_data=binary)
    outputs = [
        th.InferRequestedOutput(n, binary_data=binary) for n in ("probabilities", "label", f"slopes.{layer}")
    ]
    result = triton.infer(local.name, [inp], outputs=outputs, request_id="req-1")
    assert result.get_response()["id"] == "req-1"
    want = local.diagnose([signal], RATE, hop=WINDOW, include_slopes=True)[0]
    np.testing.assert_allclose(result.as_numpy("probabilities"), want.window_probabilities, atol=1e-5)
    labels = [v.decode() if isinstance(v, bytes) else v for v in result.as_numpy("label")]
    assert labels == want.window_labels
    np.testing.assert_allclose(result.as_numpy(f"slopes.{layer}"), want.slopes[layer], atol=1e-5)
    default = triton.infer(local.name, [inp])  # no outputs named: probabilities and label, in binary
    assert {o["name"] for o in default.get_response()["outputs"]} == {"probabilities", "label"}


def test_v2_errors_reach_tritonclient(triton, local) -> None:
    import tritonclient.http as th
    from tritonclient.utils import InferenceServerException

    def infer(x, datatype="FP32", outputs=None, model=local.name):
        inp = th.InferInput("signal", list(x.shape), datatype)
        inp.set_data_from_numpy(x)
        return triton.infer(model, [inp], outputs=outputs)

    cases = [
        (lambda: infer(np.zeros((2, 100), np.float32)), "400", "shape"),
        (lambda: infer(np.zeros((2, WINDOW), np.int32), "INT32"), "400", "datatype"),
        (lambda: infer(np.full((1, WINDOW), np.nan, np.float32)), "400", "NaN"),
        (lambda: infer(np.zeros((MAX_WINDOWS + 1, WINDOW), np.float32)), "400", "elements"),
        (
            lambda: infer(np.zeros((1, WINDOW), np.float32), outputs=[th.InferRequestedOutput("nope")]),
            "400",
            "nope",
        ),
        (lambda: infer(np.zeros((1, WINDOW), np.float32), model="nope"), "404", "nope"),
    ]
    for call, status, words in cases:
        with pytest.raises(InferenceServerException) as err:
            call()
        assert err.value.status() == status and words in err.value.message()
    assert not triton.is_model_ready("nope")


def test_v2_malformed_binary_requests(client, local) -> None:
    url = f"/v2/models/{local.name}/infer"
    x = np.zeros((1, WINDOW), "<f4").tobytes()

    def header(size: int) -> bytes:
        return json.dumps(
            {
                "inputs": [
                    {
                        "name": "signal",
                        "shape": [1, WINDOW],
                        "datatype": "FP32",
                        "parameters": {"binary_data_size": size},
                    }
                ]
            }
        ).encode()

    h = header(len(x))
    cases = [
        (h + x, {"Inference-Header-Content-Length": "abc"}),
        (h + x, {"Inference-Header-Content-Length": str(len(h) + len(x) + 10)}),
        (h + x[:-4], {"Inference-Header-Content-Length": str(len(h))}),
        (header(len(x) - 4) + x[:-4], {"Inference-Header-Content-Length": str(len(header(len(x) - 4)))}),
        (h + x + b"1234", {"Inference-Header-Content-Length": str(len(h))}),
        (b"{not json", {}),
        (
            json.dumps(
                {"inputs": [{"name": "x", "shape": [1, WINDOW], "datatype": "FP32", "data": [0] * WINDOW}]}
            ).encode(),
            {},
        ),
        (
            json.dumps(
                {"inputs": [{"name": "signal", "shape": [1, WINDOW], "datatype": "FP32", "data": ["a"]}]}
            ).encode(),
            {},
        ),
        (json.dumps({"inputs": []}).encode(), {}),
        (h + x, {"Inference-Header-Content-Length": str(len(h)), "Content-Encoding": "gzip"}),
    ]
    for body, headers in cases:
        r = client.post(url, content=body, headers=headers)
        assert 400 <= r.status_code < 500, (body[:80], r.text)
        assert r.json()["error"]
    ok = client.post(url, content=h + x, headers={"Inference-Header-Content-Length": str(len(h))})
    assert ok.status_code == 200 and ok.headers["content-type"].startswith("application/json")


def test_cors_is_off_unless_configured(client) -> None:
    preflight = {"Origin": "http://page.example", "Access-Control-Request-Method": "POST"}
    r = client.options("/v1/diagnose", headers=preflight)
    assert "access-control-allow-origin" not in r.headers
    r = client.get("/healthz", headers={"Origin": "http://page.example"})
    assert r.status_code == 200 and "access-control-allow-origin" not in r.headers
