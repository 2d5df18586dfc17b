"""Machine context (rpm, bearing) through every interface of the service: /v1 JSON and file form, /v2
parameters, /v1/bearings, /v1/models/{name}; bad values are 422 naming the field.

In-process app with a small untrained network that reads the context (defect-spectrum front end), so that a
different rpm or bearing must change the answer and the service must reproduce the library.
"""

from __future__ import annotations

import io
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from fastapi.testclient import TestClient
from faultdx_service.main import create_app
from faultdx_service.settings import Settings

from faultdx.data.base import CWRU_10_CLASSES, FAULT_TYPES
from faultdx.data.bearing import MFPT_NICE, SKF_6205, defect_frequencies
from faultdx.diagnose import Diagnoser
from faultdx.modeldir import save_model_dir
from faultdx.nn import ResNet1d, preset_config
from tests.service_support import RATE, WINDOW, tone

GEOMETRY = {"balls": 8, "ball_diameter_mm": 7.94, "pitch_diameter_mm": 33.5, "contact_angle_deg": 0}


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    config = preset_config("small", frontend="defect_spectrum", widths=(8, 16, 16), stem_channels=8)
    meta = {
        "name": "ctx-test",
        "classes": list(CWRU_10_CLASSES),
        "window": WINDOW,
        "hop": WINDOW,
        "sampling_rate": RATE,
        "channels": ["DE"],
        "dataset": {"name": "cwru"},
        "bearing": SKF_6205.as_request(),
    }
    return save_model_dir(tmp_path_factory.mktemp("models") / "ctx-test", ResNet1d(config).eval(), meta)


@pytest.fixture(scope="module")
def local(model_dir) -> Diagnoser:
    return Diagnoser.from_dir(model_dir)


@pytest.fixture(scope="module")
def client(model_dir):
    settings = Settings(model=[str(model_dir)], api_key=None, log_json=False, trace=False)
    with TestClient(create_app(settings)) as c:
        yield c


SIGNAL = tone(1.0, seed=3)


def diagnose(client, **extra):
    return client.post("/v1/diagnose", json={"signals": SIGNAL.tolist(), "sampling_rate": RATE, **extra})


def probs(result: dict) -> np.ndarray:
    return np.array(list(result["probabilities"].values()))


def test_the_model_says_it_reads_the_context_and_its_default_bearing(client):
    detail = client.get("/v1/models/ctx-test").json()
    assert detail["needs_context"] is True
    assert detail["bearing"]["name"] == "SKF 6205" and detail["bearing"]["balls"] == 9
    assert client.get("/v1/models").json()["models"][0]["needs_context"] is True


def test_bearings_lists_the_catalogue_with_sources(client):
    bearings = {b["name"]: b for b in client.get("/v1/bearings").json()["bearings"]}
    for name in ("SKF 6205", "SKF 6203", "MFPT NICE"):
        assert bearings[name]["source"] and bearings[name]["balls"] >= 3
        assert bearings[name]["ball_diameter_mm"] < bearings[name]["pitch_diameter_mm"]


def test_rpm_and_named_bearing_reach_the_network(client, local):
    r = diagnose(client, rpm=1730.0, bearing="MFPT NICE")
    assert r.status_code == 200, r.text
    [got] = r.json()["results"]
    [want] = local.diagnose([SIGNAL], RATE, rpm=1730.0, bearing="MFPT NICE")
    np.testing.assert_allclose(probs(got), want.probabilities, atol=1e-5)
    assert got["fault_type"] == want.fault_type
    assert got["confidence"] == pytest.approx(want.confidence, abs=1e-5)
    assert set(got["type_probabilities"]) == set(FAULT_TYPES)
    assert sum(got["type_probabilities"].values()) == pytest.approx(1.0, abs=1e-4)
    machine = got["machine"]
    assert (machine["rpm"], machine["rpm_source"], machine["bearing_source"]) == (1730.0, "given", "given")
    assert machine["bearing"]["name"] == "MFPT NICE" and "rpm_estimate_accuracy" not in machine
    bpfi = defect_frequencies(MFPT_NICE, 1730.0 / 60).bpfi
    assert machine["defect_frequencies_hz"]["bpfi"] == pytest.approx(bpfi, abs=1e-3)
    assert got["defect_frequencies_hz"] == machine["defect_frequencies_hz"]
    assert all(w["fault_type"] in FAULT_TYPES for w in got["windows"])
    assert (got["severity"] is None) == (got["severity_note"] is None)
    if got["fault_type"] != "normal":
        assert got["evidence"]["defect_frequency"] in ("BPFO", "BPFI", "2xBSF")
    other = diagnose(client, rpm=3500.0, bearing="MFPT NICE").json()["results"][0]
    assert not np.allclose(probs(other), probs(got), atol=1e-6)  # the context changes the answer


def test_bearing_as_a_geometry_object(client, local):
    r = diagnose(client, rpm=1730.0, bearing={**GEOMETRY, "name": "my pump"})
    assert r.status_code == 200, r.text
    [got] = r.json()["results"]
    [want] = local.diagnose([SIGNAL], RATE, rpm=1730.0, bearing=GEOMETRY)
    np.testing.assert_allclose(probs(got), want.probabilities, atol=1e-5)
    bearing = got["machine"]["bearing"]
    assert bearing["name"] == "my pump" and bearing["balls"] == 8 and bearing["pitch_diameter_mm"] == 33.5
    ratio = 7.94 / 33.5
    assert got["machine"]["defect_frequencies_hz"]["bpfo"] == pytest.approx(4 * 1730 / 60 * (1 - ratio), 1e-3)


def test_without_rpm_it_is_estimated_and_its_accuracy_stated(client, local):
    r = diagnose(client)
    assert r.status_code == 200, r.text
    machine = r.json()["results"][0]["machine"]
    [want] = local.diagnose([SIGNAL], RATE)
    assert machine["rpm_source"] == "estimated" and machine["bearing_source"] == "model"
    assert machine["rpm"] == pytest.approx(want.machine.rpm, abs=0.1)
    accuracy = machine["rpm_estimate_accuracy"]
    assert accuracy is None or ("±2 %" in accuracy and "1 s" in accuracy)


def test_rpm_accuracy_is_null_without_the_measurement(monkeypatch):
    from faultdx.context import accuracy

    monkeypatch.setattr(accuracy, "_speed_results", lambda: None)
    assert accuracy.rpm_accuracy(1.0) is None
    assert accuracy.length_group(0.2) == "0.25s" and accuracy.length_group(10.0) == "1s"


BAD = [
    ({"rpm": 0}, "rpm"),
    ({"rpm": -1730}, "rpm"),
    ({"rpm": float("nan")}, "rpm"),
    ({"rpm": float("inf")}, "rpm"),
    ({"rpm": 1e9}, "rpm"),
    ({"rpm": "fast"}, "rpm"),
    ({"bearing": "SKF 9999"}, "bearing"),
    ({"bearing": 6205}, "bearing"),
    ({"bearing": {**GEOMETRY, "balls": 0}}, "bearing.balls"),
    ({"bearing": {**GEOMETRY, "balls": 8.5}}, "bearing.balls"),
    ({"bearing": {**GEOMETRY, "ball_diameter_mm": 40.0}}, "bearing.ball_diameter_mm"),
    ({"bearing": {**GEOMETRY, "ball_diameter_mm": -1}}, "bearing.ball_diameter_mm"),
    ({"bearing": {**GEOMETRY, "pitch_diameter_mm": "big"}}, "bearing.pitch_diameter_mm"),
    ({"bearing": {**GEOMETRY, "contact_angle_deg": -5}}, "bearing.contact_angle_deg"),
    ({"bearing": {"balls": 8}}, "bearing"),
]


@pytest.mark.parametrize(("change", "field"), BAD)
def test_impossible_context_is_422_naming_the_field(client, change, field):
    body = json.dumps({"signals": SIGNAL[:4096].tolist(), "sampling_rate": RATE, **change})  # NaN allowed
    r = client.post("/v1/diagnose", content=body, headers={"Content-Type": "application/json"})
    assert r.status_code == 422, r.text
    assert r.json()["field"] == field and field.split(".")[0] in r.json()["error"]


def npy(x: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, x)
    return buf.getvalue()


def test_file_form_takes_rpm_and_bearing(client, local):
    files = {"file": ("x.npy", npy(SIGNAL))}
    form = {"sampling_rate": str(RATE), "rpm": "1500", "bearing": "MFPT NICE"}
    r = client.post("/v1/diagnose/file", files=files, data=form)
    assert r.status_code == 200, r.text
    [got] = r.json()["results"]
    [want] = local.diagnose([SIGNAL], RATE, rpm=1500.0, bearing="MFPT NICE")
    np.testing.assert_allclose(probs(got), want.probabilities, atol=1e-5)
    assert got["machine"]["bearing"]["name"] == "MFPT NICE" and got["machine"]["rpm"] == 1500
    form["bearing"] = json.dumps(GEOMETRY)
    geometry = client.post("/v1/diagnose/file", files=files, data=form).json()["results"][0]
    assert geometry["machine"]["bearing"]["balls"] == 8
    for change, field in [
        ({"rpm": "nan"}, "rpm"),
        ({"rpm": "-3"}, "rpm"),
        ({"bearing": "nope"}, "bearing"),
        ({"bearing": "{not json"}, "bearing"),
        ({"bearing": json.dumps({**GEOMETRY, "balls": 0})}, "bearing.balls"),
    ]:
        bad = client.post("/v1/diagnose/file", files=files, data={**form, **change})
        assert bad.status_code == 422 and bad.json()["field"] == field, bad.text


def test_v2_takes_rpm_and_bearing_as_parameters(client, local):
    x = SIGNAL[: 4 * WINDOW].reshape(4, WINDOW)
    url = "/v2/models/ctx-test/infer"
    inputs = [{"name": "signal", "shape": [4, WINDOW], "datatype": "FP32", "data": x.ravel().tolist()}]
    body = {"inputs": inputs, "parameters": {"rpm": 1730, "bearing": "SKF 6203"}}
    r = client.post(url, json=body)
    assert r.status_code == 200, r.text
    out = {o["name"]: o for o in r.json()["outputs"]}
    got = np.array(out["probabilities"]["data"]).reshape(4, -1)
    [want] = local.diagnose([x.ravel()], RATE, hop=WINDOW, rpm=1730.0, bearing="SKF 6203")
    np.testing.assert_allclose(got, want.window_probabilities, atol=1e-5)
    params = r.json()["parameters"]
    assert params == {"rpm": 1730.0, "rpm_source": "given", "bearing": "SKF 6203", "bearing_source": "given",
                      "unknown_score": None,  # an uncalibrated model
                      "signal_ok": True, "signal_problems": ""}
    geometry = client.post(url, json={"inputs": inputs, "parameters": {"rpm": 1730, "bearing": GEOMETRY}})
    assert geometry.status_code == 200 and geometry.json()["parameters"]["bearing"] == "custom"
    estimated = client.post(url, json={"inputs": inputs}).json()["parameters"]
    assert estimated["rpm_source"] == "estimated" and estimated["bearing_source"] == "model"
    for params, field in [
        ({"rpm": -1}, "parameters.rpm"),
        ({"rpm": 1730, "bearing": "nope"}, "parameters.bearing"),
        ({"rpm": 1730, "bearing": {**GEOMETRY, "contact_angle_deg": -1}},
         "parameters.bearing.contact_angle_deg"),
    ]:
        bad = client.post(url, json={"inputs": inputs, "parameters": params})
        assert bad.status_code == 422 and bad.json()["field"] == field, bad.text


def test_envelope_takes_the_same_bearing_forms(client):
    x = SIGNAL.tolist()
    body = {"signal": x, "sampling_rate": RATE, "rpm": 1500, "bearing": GEOMETRY}
    env = client.post("/v1/envelope", json=body).json()
    assert env["bearing"]["balls"] == 8 and env["bearing_source"] == "given"
    ratio = 7.94 / 33.5
    assert env["defects"]["bpfo"]["hz"] == pytest.approx(4 * 25 * (1 - ratio))
    files = {"file": ("x.npy", npy(SIGNAL))}
    form = {"sampling_rate": str(RATE), "rpm": "1500", "bearing": json.dumps(GEOMETRY)}
    assert client.post("/v1/envelope/file", files=files, data=form).json()["bearing"]["balls"] == 8
    bad = client.post("/v1/envelope/file", files=files, data={**form, "bearing": "nope"})
    assert bad.status_code == 422 and bad.json()["field"] == "bearing"
    assert math.isfinite(env["shaft_hz"])
