"""The inspection page's static files and helper endpoints (/v1/examples, /v1/envelope[/file]).

In-process app (``faultdx_service.main.create_app``) with a small randomly initialised APReLU model saved as
a real
model directory: these tests are about the page's endpoints, not the shipped model's accuracy.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from fastapi.testclient import TestClient
from faultdx_service.main import create_app
from faultdx_service.routes.page import STATIC_DIR, _max_pool
from faultdx_service.settings import Settings

from faultdx.data.base import CWRU_10_CLASSES
from faultdx.data.bearing import SKF_6203, SKF_6205, defect_frequencies
from faultdx.data.catalogue import cwru_file
from faultdx.data.synthetic import simulate
from faultdx.modeldir import save_model_dir
from faultdx.nn import ResNet1d, preset_config
from faultdx.nn.frontend import envelope_spectrum
from tests.data_helpers import needs_real_data

CWRU_DIR = Path(os.environ.get("FAULTDX_DATA", "data")) / "cwru"
needs_cwru = pytest.mark.skipif(
    not (CWRU_DIR / "12k_drive_end" / "105.mat").is_file(),
    reason="needs the CWRU files: set FAULTDX_DATA to the data root (CI sets it to ../shared/data)",
)
RPM = 1797.0


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("models") / "page-test-aprelu"
    meta = {
        "name": "page-test-aprelu",
        "classes": list(CWRU_10_CLASSES),
        "window": 2048,
        "hop": 2048,
        "sampling_rate": 12000,
        "channels": ["DE"],
        "dataset": {"name": "synthetic"},
        "bearing": SKF_6205.as_dict(),
    }
    return save_model_dir(path, ResNet1d(preset_config("small")), meta)


def make_client(model_dir: Path, **settings) -> TestClient:
    settings = {"api_key": None, "log_json": False, **settings}  # explicit, not what the environment holds
    return TestClient(create_app(Settings(model=[str(model_dir)], **settings)))


@pytest.fixture(scope="module")
def client(model_dir):
    with make_client(model_dir) as c:
        yield c


def error_of(resp, status: int, field: str) -> str:
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert body["field"] == field, body
    assert body["error"].startswith(field), body  # the message names the field first
    return body["error"]


# ---------------------------------------------------------------------------------------------- static page
def test_page_and_assets_are_served_without_any_external_reference(client):
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    for element in ('id="heatmap"', 'id="envelope"', 'id="waveform"', 'id="file-input"', "static/app.js"):
        assert element in page.text
    for name, kind in (("app.js", "javascript"), ("common.js", "javascript"), ("style.css", "text/css")):
        asset = client.get(f"/static/{name}")
        assert asset.status_code == 200 and kind in asset.headers["content-type"]
    # both pages load the shared client module (palette, API key, helpers) before their own script
    for url, script in (("/", "static/app.js"), ("/assets", "static/assets.js")):
        html = client.get(url).text
        assert -1 < html.find('src="static/common.js"') < html.find(f'src="{script}"'), url
    # offline plants: nothing may come from a CDN or any other host
    for path in STATIC_DIR.glob("*.*"):
        if path.suffix in (".html", ".js", ".css"):
            text = path.read_text(encoding="utf-8")
            assert not re.search(
                r"""(src|href)\s*=\s*["']?(https?:)?//|url\(\s*["']?(https?:)?//|@import""", text
            ), path
            assert not re.search(r"""fetch\(\s*["'`]https?:""", text), path
    assert client.get("/static/../pyproject.toml").status_code == 404


def test_page_has_the_bearing_selector_and_sends_the_machine_context(client):
    page = client.get("/").text
    for element in ('id="bearing-select"', 'id="bearing-balls"', 'id="bearing-pitch"', 'id="machine-info"',
                    'id="envelope-verdict"', 'id="rpm-input"'):
        assert element in page
    script = client.get("/static/app.js").text
    assert "/v1/bearings" in script and "bearingValue()" in script
    assert 'model: "envelope"' in script  # the envelope reference's verdict, when that model is loaded
    names = {b["name"] for b in client.get("/v1/bearings").json()["bearings"]}
    examples = client.get("/v1/examples").json()["examples"]
    assert all(e["bearing"] in names and e["rpm"] > 0 for e in examples)  # what the selector is set to


# ------------------------------------------------------------------------------------------------- examples
def test_examples_without_dataset_are_the_simulated_classes(model_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("FAULTDX_DATA", str(tmp_path))
    with make_client(model_dir) as c:
        examples = c.get("/v1/examples").json()["examples"]
    assert [e["name"] for e in examples] == [f"sim-{label}" for label in CWRU_10_CLASSES]
    assert all(
        e["source"] == "simulated" and e["sampling_rate"] == 12000 and e["rpm"] == RPM for e in examples
    )


@needs_cwru
def test_examples_list_the_cwru_files_present_with_their_labels(client):
    examples = {e["name"]: e for e in client.get("/v1/examples").json()["examples"]}
    present = sorted(p.stem for p in (CWRU_DIR / "12k_drive_end").glob("*.mat"))
    present += sorted(p.stem for p in (CWRU_DIR / "normal_baseline").glob("*.mat"))
    assert {n for n in examples if n.startswith("cwru-")} == {f"cwru-{n}" for n in present}
    assert {f"sim-{label}" for label in CWRU_10_CLASSES} <= set(examples)
    ir = examples["cwru-105"]
    assert (ir["label"], ir["fault_type"], ir["sampling_rate"], ir["rpm"]) == (
        "inner_race_007",
        "inner_race",
        12000,
        1797,
    )
    normal = examples["cwru-97"]
    assert (normal["label"], normal["sampling_rate"]) == ("normal", 48000)  # the baseline is a 48 kHz record
    assert examples["cwru-234"]["label"] == "outer_race_021"
    assert examples["cwru-118"]["rpm"] == cwru_file(118).file_rpm == 1796
    mfpt = examples.get("mfpt-InnerRaceFault_vload_1")
    if (CWRU_DIR.parent / "mfpt" / "InnerRaceFault_vload_1.mat").is_file():
        assert mfpt is not None
        assert (mfpt["label"], mfpt["sampling_rate"], mfpt["rpm"]) == ("inner_race", 48828, 1500)
        assert mfpt["bearing"] == "MFPT NICE"


def test_simulated_example_is_the_simulator_signal(client):
    body = client.get("/v1/examples/sim-inner_race_007").json()
    expected = simulate("inner_race_007", duration_s=2.0, sampling_rate=12000, rpm=RPM, seed=0)
    assert (body["label"], body["sampling_rate"], body["rpm"]) == ("inner_race_007", 12000, RPM)
    np.testing.assert_allclose(np.asarray(body["signal"], dtype=np.float32), expected, rtol=2e-6, atol=1e-9)
    download = client.get("/v1/examples/sim-inner_race_007", params={"format": "file"})
    assert (
        download.status_code == 200
        and 'filename="sim-inner_race_007.npy"' in download.headers["content-disposition"]
    )
    np.testing.assert_array_equal(np.load(io.BytesIO(download.content), allow_pickle=False), expected)


@needs_cwru
@needs_real_data  # the publisher's checksums
def test_cwru_example_is_the_drive_end_column_and_downloads_the_original_bytes(client):
    from scipy.io import loadmat

    body = client.get("/v1/examples/cwru-105").json()
    column = loadmat(CWRU_DIR / "12k_drive_end" / "105.mat")["X105_DE_time"].reshape(-1).astype(np.float32)
    np.testing.assert_allclose(np.asarray(body["signal"], dtype=np.float32), column, rtol=2e-6, atol=1e-9)
    raw = client.get("/v1/examples/cwru-105", params={"format": "file"})
    assert raw.status_code == 200
    assert hashlib.sha256(raw.content).hexdigest() == cwru_file(105).sha256


def test_unknown_example_is_404_listing_the_valid_names(client):
    message = error_of(client.get("/v1/examples/nope"), 404, "name")
    assert "'nope'" in message and "sim-normal" in message
    assert client.get("/v1/examples/sim-normal", params={"format": "xml"}).status_code == 422


# ------------------------------------------------------------------------------------------------- envelope
def modulated(f_mod: float, rate: float = 12000.0, seconds: float = 2.0) -> np.ndarray:
    """A 3 kHz resonance ringing at ``f_mod`` impacts per second (the textbook envelope test signal)."""
    t = np.arange(int(rate * seconds)) / rate
    return ((1 + 0.8 * np.cos(2 * np.pi * f_mod * t)) * np.sin(2 * np.pi * 3000 * t)).astype(np.float32)


def test_envelope_finds_the_modulation_and_marks_the_models_bearing_lines(client):
    lines = defect_frequencies(SKF_6205, RPM / 60)
    x = modulated(lines.bpfi)
    resp = client.post("/v1/envelope", json={"signal": x.tolist(), "sampling_rate": 12000, "rpm": RPM})
    assert resp.status_code == 200, resp.text
    env = resp.json()
    assert env["bearing_source"] == "model" and env["bearing"]["name"] == "SKF 6205"
    assert env["shaft_hz"] == pytest.approx(RPM / 60)
    for key, hz in lines.as_dict().items():
        assert env["defects"][key]["hz"] == pytest.approx(hz)
        assert env["defects"][key]["harmonics"] == pytest.approx([hz * k for k in range(1, 6)])
    f, a = np.asarray(env["frequencies"]), np.asarray(env["amplitude"])
    assert f[-1] >= 5 * lines.bpfi  # the fifth BPFI harmonic is on the plot
    peak = f[np.argmax(np.where(f > 5, a, 0))]
    assert abs(peak - lines.bpfi) <= 0.5 + 1e-9  # one bin of a 2 s record
    assert env["waveform"]["duration_s"] == pytest.approx(2.0)
    assert min(env["waveform"]["min"]) == pytest.approx(float(x.min()))
    assert max(env["waveform"]["max"]) == pytest.approx(float(x.max()))
    assert len(env["waveform"]["min"]) == len(env["waveform"]["max"]) <= 1600


def test_envelope_bearing_can_be_named_or_given(client):
    x = modulated(100.0).tolist()
    named = client.post(
        "/v1/envelope", json={"signal": x, "sampling_rate": 12000, "rpm": 1500, "bearing": "SKF 6203"}
    )
    assert named.status_code == 200 and named.json()["bearing_source"] == "given"
    assert named.json()["defects"]["bpfo"]["hz"] == pytest.approx(defect_frequencies(SKF_6203, 25.0).bpfo)
    geometry = {"balls": 8, "ball_diameter_mm": 7.5, "pitch_diameter_mm": 33.5, "contact_angle_deg": 15}
    given = client.post(
        "/v1/envelope", json={"signal": x, "sampling_rate": 12000, "rpm": 1500, "bearing": geometry}
    )
    ratio = 7.5 / 33.5 * math.cos(math.radians(15))
    assert given.json()["defects"]["bpfi"]["hz"] == pytest.approx(4 * 25.0 * (1 + ratio))
    message = error_of(
        client.post("/v1/envelope", json={"signal": x, "sampling_rate": 12000, "bearing": "XYZ"}),
        422,
        "bearing",
    )
    assert "SKF 6205" in message
    no_rpm = client.post("/v1/envelope", json={"signal": x, "sampling_rate": 12000}).json()
    assert no_rpm["defects"] is None and no_rpm["frequencies"][-1] <= 1000


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"signal": [0.1, float("nan")] * 300}, "signal"),
        ({"signal": [0.1, 0.2, 0.3]}, "signal"),
        ({"signal": []}, "signal"),
        ({"sampling_rate": 0}, "sampling_rate"),
        ({"sampling_rate": "fast"}, "sampling_rate"),
        ({"rpm": -5}, "rpm"),
        ({"band": [5000, 100]}, "band"),
        ({"model": "nope"}, "model"),
        ({"harmonics": 0}, "harmonics"),
        ({"rpm": float("inf")}, "rpm"),
        ({"max_frequency": float("nan")}, "max_frequency"),
        ({"bearing": {"balls": 9, "ball_diameter_mm": 1e-300, "pitch_diameter_mm": 1e300}}, "bearing"),
        ({"bearing": {"balls": 9, "ball_diameter_mm": 5.0, "pitch_diameter_mm": float("inf")}},
         "bearing.pitch_diameter_mm"),
        ({"bearing": {"balls": 9, "ball_diameter_mm": 50.0, "pitch_diameter_mm": 40.0}},
         "bearing.ball_diameter_mm"),
        ({"bearing": {"balls": 0, "ball_diameter_mm": 5.0, "pitch_diameter_mm": 40.0}}, "bearing.balls"),
        ({"bearing": {"n_balls": 9, "ball_diameter": 5.0, "pitch_diameter": 40.0}}, "bearing"),
    ],
)
def test_envelope_rejects_bad_input_naming_the_field(client, change, field):
    body = {"signal": modulated(100.0).tolist(), "sampling_rate": 12000, "rpm": RPM, **change}
    content = json.dumps(body)  # allows NaN, which Python's JSON parser (and so the service) accepts
    error_of(
        client.post("/v1/envelope", content=content, headers={"Content-Type": "application/json"}), 422, field
    )


def test_envelope_file_reports_the_same_bad_file_message_as_diagnose_file(client):
    files = {"file": ("broken.mat", b"this is not a MATLAB file", "application/octet-stream")}
    ours = error_of(
        client.post("/v1/envelope/file", files=files, data={"sampling_rate": "12000"}), 422, "file"
    )
    theirs = client.post("/v1/diagnose/file", files=files, data={"sampling_rate": "12000"}).json()["error"]
    assert ours == theirs and "broken.mat" in ours
    no_rate = client.post("/v1/envelope/file", files={"file": ("x.npy", npy_bytes(modulated(100.0)))})
    assert "sampling rate" in error_of(no_rate, 422, "sampling_rate")


@needs_cwru
@pytest.mark.parametrize(("number", "line"), [(105, "bpfi"), (130, "bpfo")])
def test_real_cwru_fault_shows_at_its_defect_frequency(client, number, line):
    data = (CWRU_DIR / "12k_drive_end" / f"{number}.mat").read_bytes()
    resp = client.post(
        "/v1/envelope/file",
        files={"file": (f"{number}.mat", data)},
        data={"sampling_rate": "12000", "rpm": "1797"},
    )
    assert resp.status_code == 200, resp.text
    env = resp.json()
    assert env["samples"] == cwru_file(number).samples
    f, a = np.asarray(env["frequencies"]), np.asarray(env["amplitude"])
    band = (f > 5) & (f < 500)
    peak = f[band][np.argmax(a[band])]
    assert abs(peak - env["defects"][line]["hz"]) < 0.02 * env["defects"][line]["hz"], (
        peak,
        env["defects"][line],
    )


def test_max_pool_keeps_every_peak():
    freqs = np.arange(10_001) * 0.1
    amp = np.zeros_like(freqs)
    amp[[1234, 5678, 9999]] = [3.0, 2.0, 1.0]
    f, a = _max_pool(freqs, amp, 4000)
    assert len(f) <= 4000
    assert sorted(a[a > 0].tolist()) == [1.0, 2.0, 3.0]
    assert set(np.round(f[a > 0], 6)) == {123.4, 567.8, 999.9}


def test_page_helpers_need_the_api_key_when_one_is_set(model_dir):
    with make_client(model_dir, api_key="s3cret") as c:
        assert c.get("/").status_code == 200 and c.get("/static/app.js").status_code == 200
        error_of(c.get("/v1/examples"), 401, "X-API-Key")
        assert c.get("/v1/examples", headers={"X-API-Key": "s3cret"}).status_code == 200
        body = {"signal": modulated(100.0).tolist(), "sampling_rate": 12000}
        assert c.post("/v1/envelope", json=body).status_code == 401
        assert c.post("/v1/envelope", json=body, headers={"X-API-Key": "s3cret"}).status_code == 200


def test_envelope_band_pass_is_applied_and_checked(client):
    t = np.arange(24000) / 12000.0
    low_carrier = (1 + 0.8 * np.cos(2 * np.pi * 37 * t)) * np.sin(2 * np.pi * 1000 * t)  # outside the band
    x = (modulated(100.0) + low_carrier).astype(np.float32)
    files = {"file": ("x.npy", npy_bytes(x))}
    full = client.post("/v1/envelope/file", files=files, data={"sampling_rate": "12000"}).json()
    form = {"sampling_rate": "12000", "band_low": "2500", "band_high": "3500"}
    banded = client.post("/v1/envelope/file", files=files, data=form).json()
    assert full["band"] is None and banded["band"] == [2500, 3500]
    body = {"signal": x.tolist(), "sampling_rate": 12000, "band": [2500, 3500]}
    via_json = client.post("/v1/envelope", json=body)
    np.testing.assert_allclose(via_json.json()["amplitude"], banded["amplitude"], rtol=1e-5, atol=1e-9)

    def line(env: dict, hz: float) -> float:
        f, a = np.asarray(env["frequencies"]), np.asarray(env["amplitude"])
        return float(a[np.argmin(np.abs(f - hz))])

    assert line(full, 37.0) > 1e3 and line(full, 100.0) > 1e3  # both modulations without a band
    assert line(banded, 100.0) > 1e3 and line(banded, 37.0) < 1e-3 * line(full, 37.0)  # only the band's
    half = client.post("/v1/envelope/file", files=files, data={"sampling_rate": "12000", "band_low": "2500"})
    error_of(half, 422, "band_high")


def test_envelope_is_the_network_front_ends_spectrum(client):
    """The page plots the numbers the network's front end and the envelope model read, not its own."""
    x = simulate("outer_race_014", duration_s=1.0, rpm=RPM, seed=2)
    body = {"signal": x.tolist(), "sampling_rate": 12000, "rpm": RPM, "band": [2000, 5000]}
    env = client.post("/v1/envelope", json=body).json()
    freqs, amplitude = envelope_spectrum(x, 12000, band=(2000, 5000))
    shown = len(env["frequencies"])  # up to the last harmonic on the plot: fewer bins than the max-pool keeps
    assert 100 < shown < 4000
    np.testing.assert_allclose(env["frequencies"], freqs[:shown])
    np.testing.assert_allclose(env["amplitude"], amplitude[:shown], rtol=1e-9)
    bpfo = env["defects"]["bpfo"]["hz"]
    assert abs(freqs[5:shown][np.argmax(amplitude[5:shown])] - bpfo) < 0.02 * bpfo


def npy_bytes(x: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, x)
    return buf.getvalue()
