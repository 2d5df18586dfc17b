"""Bounded work per request and finite answers: the sample budget on every route (after decoding and after
framing), framing off the event loop by output size, non-finite inputs refused, outputs always RFC 8259 JSON,
and models with NaN weights refused at start."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from fastapi.testclient import TestClient
from faultdx_service.main import create_app
from faultdx_service.settings import Settings

from faultdx.diagnose import Diagnoser
from faultdx.modeldir import CheckpointError
from tests.service_support import RATE, WINDOW, make_model_dir, tone

MAX_SAMPLES = 1 << 18  # small enough for fast tests, large enough for the window x hop case to be legal


def _no_constants(name: str) -> None:
    raise AssertionError(f"bare {name} in a JSON answer (not RFC 8259)")


def strict_json(text: str):
    """``json.loads`` that fails on NaN / Infinity tokens."""
    return json.loads(text, parse_constant=_no_constants)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    return make_model_dir(tmp_path_factory.mktemp("models") / "tiny-aprelu")


@pytest.fixture(scope="module")
def client(model_dir):
    settings = Settings(model=[str(model_dir)], api_key=None, trace=False, max_samples=MAX_SAMPLES)
    with TestClient(create_app(settings)) as c:
        yield c


def test_window_hop_amplification_is_refused_naming_window_hop_and_budget(client) -> None:
    body = {"signals": tone(20479 / RATE).tolist(), "sampling_rate": RATE, "window": 16384, "hop": 1,
            "rpm": 1797}
    r = client.post("/v1/diagnose", json=body)
    assert r.status_code == 413, r.text
    error = r.json()["error"]
    assert "window 16384" in error and "hop 1 " in error and str(MAX_SAMPLES) in error
    assert r.json()["field"] == "signals[0]"
    body["hop"] = 1024  # the same request with a sane hop fits
    assert client.post("/v1/diagnose", json=body).status_code == 200


def test_the_budget_is_summed_over_a_request_s_signals(client) -> None:
    one = tone(MAX_SAMPLES / RATE)[: MAX_SAMPLES // 2 + 10].tolist()
    r = client.post("/v1/diagnose", json={"signals": [one, one], "sampling_rate": RATE, "rpm": 1797})
    assert r.status_code == 413 and r.json()["field"] == "signals[1]", r.text


def test_envelope_json_has_a_sample_limit(client) -> None:
    many = np.zeros(MAX_SAMPLES + 4096, np.float32)
    r = client.post("/v1/envelope", json={"signal": many.tolist(), "sampling_rate": RATE})
    assert r.status_code == 413 and "FAULTDX_MAX_SAMPLES" in r.json()["error"], r.text  # counted, not parsed
    just_over = tone(1.0)[:1].repeat(MAX_SAMPLES + 10)
    r = client.post("/v1/envelope", json={"signal": just_over.tolist(), "sampling_rate": RATE})
    assert r.status_code == 413 and r.json()["field"] == "signal", r.text


def test_envelope_file_has_a_sample_limit(client) -> None:
    import io

    buf = io.BytesIO()
    np.save(buf, np.zeros(MAX_SAMPLES + 1, np.float32))
    r = client.post("/v1/envelope/file", files={"file": ("big.npy", buf.getvalue())},
                    data={"sampling_rate": str(RATE)})
    assert r.status_code == 413 and r.json()["field"] == "file", r.text


def test_v2_counts_its_windows_against_the_budget(client, model_dir) -> None:
    n = MAX_SAMPLES // WINDOW + 1
    head = json.dumps({"inputs": [{"name": "signal", "shape": [n, WINDOW], "datatype": "FP32",
                                   "parameters": {"binary_data_size": n * WINDOW * 4}}],
                       "parameters": {"rpm": 1797}}).encode()
    r = client.post("/v2/models/tiny-aprelu/infer", content=head + bytes(n * WINDOW * 4),
                    headers={"Inference-Header-Content-Length": str(len(head))})
    assert r.status_code in (400, 413) and str(MAX_SAMPLES) in r.json()["error"], r.text


def test_large_outputs_are_framed_off_the_event_loop(client, monkeypatch) -> None:
    import asyncio

    where = []
    original = Diagnoser.windows

    def spy(self, *args, **kwargs):
        try:
            asyncio.get_running_loop()
            where.append("loop")
        except RuntimeError:
            where.append("thread")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Diagnoser, "windows", spy)
    small_input = tone(3 * WINDOW / RATE).tolist()  # 6,144 samples: tiny, but hop 64 frames 65 windows
    client.post("/v1/diagnose", json={"signals": small_input, "sampling_rate": RATE, "rpm": 1797})
    r = client.post("/v1/diagnose", json={"signals": small_input, "sampling_rate": RATE, "rpm": 1797,
                                          "hop": 64})
    assert r.status_code == 200 and where == ["loop", "thread"], (r.text, where)


@pytest.mark.parametrize("rate", [RATE, 48000])
def test_samples_near_the_float32_limit_give_finite_json(client, rate) -> None:
    huge = np.tile([3e38, -3e38, 1e38, -2e38], rate // 4).tolist()
    r = client.post("/v1/diagnose", json={"signals": huge, "sampling_rate": rate, "rpm": 1797,
                                          "include_slopes": True})
    assert r.status_code == 200, r.text
    result = strict_json(r.text)["results"][0]
    assert 0 < result["confidence"] <= 1 and all(np.isfinite(list(result["probabilities"].values())))
    r = client.post("/v1/envelope", json={"signal": huge, "sampling_rate": rate, "rpm": 1797})
    assert r.status_code == 200 and strict_json(r.text)["amplitude"], r.text


def test_v2_samples_near_the_float32_limit_give_finite_json(client) -> None:
    huge = np.tile(np.float32([3e38, -3e38]), WINDOW // 2)
    body = {"inputs": [{"name": "signal", "shape": [1, WINDOW], "datatype": "FP32", "data": huge.tolist()}],
            "parameters": {"rpm": 1797}}
    r = client.post("/v2/models/tiny-aprelu/infer", json=body)
    assert r.status_code == 200, r.text
    probs = strict_json(r.text)["outputs"][0]["data"]
    assert np.isfinite(probs).all() and abs(sum(probs) - 1) < 1e-4


@pytest.mark.parametrize("value", ["NaN", "Infinity", "1e39"])
def test_non_finite_samples_are_refused_naming_the_field(client, value) -> None:
    samples = ",".join(["0.5"] * 3000 + [value] + ["0.25"] * 3000)
    body = f'{{"signals": [[{samples}], [{samples}]], "sampling_rate": {RATE}, "rpm": 1797}}'
    r = client.post("/v1/diagnose", content=body, headers={"content-type": "application/json"})
    assert r.status_code == 422 and r.json()["field"] == "signals[0]", r.text
    r = client.post("/v1/envelope", content=f'{{"signal": [{samples}], "sampling_rate": {RATE}}}',
                    headers={"content-type": "application/json"})
    assert r.status_code == 422 and r.json()["field"] == "signal", r.text


def test_a_model_with_nan_weights_is_refused_and_never_ready(tmp_path) -> None:
    from safetensors.torch import load_file, save_file

    path = make_model_dir(tmp_path / "broken")
    state = load_file(str(path / "model.safetensors"))
    save_file({k: torch.full_like(v, float("nan")) if v.is_floating_point() else v for k, v in state.items()},
              str(path / "model.safetensors"))
    app = create_app(Settings(model=[str(path)], api_key=None, trace=False))
    with pytest.raises(CheckpointError, match="NaN or Inf"), TestClient(app):
        pass
    assert TestClient(app).get("/readyz").status_code == 503
