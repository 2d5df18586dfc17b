"""Both ends of the path, written once: a file read for a model (read_for_model), a bearing parsed
(parse_bearing), a Diagnosis turned into output (as_dict / as_row / as_record, one rounding policy), and a
speed nobody gave reported as "nominal" in /v2."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from faultdx_service.main import create_app
from faultdx_service.settings import Settings

from faultdx.data.bearing import SKF_6205, BearingError, parse_bearing
from faultdx.diagnose import Diagnoser
from faultdx.diagnose.reading import read_for_model
from faultdx.diagnose.result import PROBABILITY_DECIMALS, SCORE_DECIMALS
from faultdx.errors import InputError
from tests.service_support import RATE, make_model_dir, tone

GEOMETRY = {"balls": 8, "ball_diameter_mm": 7.94, "pitch_diameter_mm": 33.5}


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    return make_model_dir(tmp_path_factory.mktemp("models") / "tiny-aprelu")


@pytest.fixture(scope="module")
def diagnoser(model_dir) -> Diagnoser:
    return Diagnoser.from_dir(model_dir)


def decimals(value: float) -> int:
    text = repr(float(value))
    return 0 if "." not in text or "e" in text else len(text.split(".")[1].rstrip("0"))


def test_the_three_forms_say_the_same_in_one_rounding(diagnoser) -> None:
    [d] = diagnoser.diagnose(tone(1.0, seed=2), RATE, rpm=1750.0, bearing="SKF 6205")
    api, row, record = d.as_dict(), d.as_row(), d.as_record()
    assert api["fault_type"] == row["fault_type"] == record["fault_type"] == d.fault_type
    assert api["label"] == row["label"] == record["label"] == d.label
    assert api["confidence"] == row["confidence"] == record["confidence"]
    assert api["confidence"] == pytest.approx(d.confidence, abs=10**-PROBABILITY_DECIMALS)
    assert api["type_probabilities"] == record["type_probabilities"]
    assert {f"p_{k}": v for k, v in api["type_probabilities"].items()} == {
        k: v for k, v in row.items() if k.startswith("p_")}
    for value in (*api["type_probabilities"].values(), *api["probabilities"].values()):
        assert decimals(value) <= PROBABILITY_DECIMALS
    assert row["verdict"] == {"normal": "healthy"}.get(d.fault_type, "fault")
    assert (row["rpm"], row["rpm_source"], row["bearing"], row["bearing_source"]) == (
        1750.0, "given", "SKF 6205", "given")
    assert api["machine"]["rpm"] == record["rpm"] == 1750.0
    assert api["defect_frequencies_hz"] == record["defect_frequencies"]
    assert len(api["windows"]) == row["windows"] == len(d.start)
    assert [w["label"] for w in api["windows"]] == d.window_labels
    assert "windows" not in d.as_dict(windows=False)
    json.dumps(api), json.dumps(row), json.dumps(record)  # JSON-ready as they are


def test_an_estimated_speed_is_rounded_and_carries_its_note(diagnoser) -> None:
    [d] = diagnoser.diagnose(tone(1.0, seed=2), RATE)
    assert d.machine.rpm_source == "estimated"
    machine = d.as_dict(rpm_note="within 2 %")["machine"]
    assert machine["rpm"] == round(d.machine.rpm, 1) == d.as_row()["rpm"] == d.as_record()["rpm"]
    assert machine["rpm_estimate_accuracy"] == "within 2 %"


def test_unknown_scores_are_rounded_alike(diagnoser) -> None:
    [d] = diagnoser.diagnose(tone(1.0, seed=2), RATE, rpm=1750.0)
    flagged = type(d)(d.classes, d.window_probabilities, d.start, machine=d.machine,
                      window_unknown=np.full(len(d.start), 1.234567, dtype=np.float32))
    api, row, record = flagged.as_dict(), flagged.as_row(), flagged.as_record()
    assert api["unknown_score"] == row["unknown_score"] == record["unknown_score"] == round(1.234567, 4)
    assert decimals(api["windows"][0]["unknown_score"]) <= SCORE_DECIMALS
    assert (api["fault_type"], row["verdict"], row["unknown_flag"]) == ("unknown", "unknown", True)


def test_a_speed_nobody_gave_or_could_estimate_is_nominal(diagnoser) -> None:
    short = tone(0.09, seed=1)[None, None, :1024]  # 0.085 s: too short to estimate, and the net ignores it
    windows = diagnoser.prepare_windows(short)
    assert windows.machine.rpm_source == "nominal" and windows.machine.bearing_source == "model"
    given = diagnoser.prepare_windows(short, rpm=1730.0)
    assert (given.machine.rpm, given.machine.rpm_source) == (1730.0, "given")


def test_v2_reports_a_nominal_speed_as_nominal(tmp_path) -> None:
    model = make_model_dir(tmp_path / "short-window")
    config = json.loads((model / "config.json").read_text())
    (model / "config.json").write_text(json.dumps({**config, "window": 1024, "hop": 1024}))
    x = tone(0.09, seed=1)[:1024]
    inputs = [{"name": "signal", "shape": [1, 1024], "datatype": "FP32", "data": x.tolist()}]
    settings = Settings(model=[str(model)], api_key=None, log_json=False, trace=False)
    with TestClient(create_app(settings)) as client:
        url = "/v2/models/tiny-aprelu/infer"
        nominal = client.post(url, json={"inputs": inputs})
        given = client.post(url, json={"inputs": inputs, "parameters": {"rpm": 1730}})
    assert nominal.status_code == 200, nominal.text
    assert nominal.json()["parameters"]["rpm_source"] == "nominal"
    assert given.json()["parameters"]["rpm_source"] == "given"


def test_read_for_model_picks_the_model_channel_and_needs_a_rate(tmp_path) -> None:
    csv = tmp_path / "two.csv"
    signal = tone(0.5, seed=4)
    csv.write_text("FE,DE\n" + "\n".join(f"{-v},{v}" for v in signal))
    read = read_for_model(csv, ("DE",), sampling_rate=RATE)
    assert read.channels == ("DE",) and read.row_names is None and read.sampling_rate == RATE
    np.testing.assert_allclose(read.signal[0], signal, rtol=1e-6)
    with pytest.raises(InputError, match="does not state its sampling rate; give --rate") as err:
        read_for_model(csv, ("DE",), hints={"sampling_rate": "--rate"})
    assert err.value.field == "sampling_rate"
    with pytest.raises(InputError, match=r"2 channels \(FE, DE\).*none is the model's 'X'") as err:
        read_for_model(csv, ("X",), sampling_rate=RATE)
    assert err.value.field == "channel"
    both = read_for_model(csv, ("DE", "FE"), sampling_rate=RATE)
    assert both.row_names is None and both.signal.shape[0] == 2
    assert read_for_model(csv, ("DE",), sampling_rate=RATE, channel="0").channels == ("FE",)
    with pytest.raises(InputError) as err:
        read_for_model(b"not,numbers\nx,y\n", ("DE",), filename="bad.csv", sampling_rate=RATE)
    assert err.value.field == "file"


@pytest.mark.parametrize(("value", "name"), [
    ("SKF 6205", "SKF 6205"), (" SKF 6205 ", "SKF 6205"), (SKF_6205, "SKF 6205"), (GEOMETRY, ""),
    (json.dumps({**GEOMETRY, "name": "pump"}), "pump"),
])
def test_one_bearing_parser_takes_every_form(value, name) -> None:
    assert parse_bearing(value).name == name


@pytest.mark.parametrize(("value", "field"), [
    ("SKF 9999", "bearing"), ("{oops", "bearing"), ({**GEOMETRY, "balls": 0}, "bearing.balls"),
    (json.dumps({**GEOMETRY, "pitch_diameter_mm": "x"}), "bearing.pitch_diameter_mm"), (7, "bearing"),
])
def test_bearing_errors_name_the_field(value, field) -> None:
    with pytest.raises(BearingError) as err:
        parse_bearing(value)
    assert err.value.field == field and err.value.status == 422


def test_no_bearing_is_the_model_s_own() -> None:
    assert parse_bearing(None) is None and parse_bearing("  ") is None
