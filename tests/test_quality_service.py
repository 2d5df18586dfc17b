"""The signal-quality gate through the service: broken signals answer ``bad_signal`` on /v1 and /v2, with
the network's answer kept in ``closest_fault_type`` and the problems named; a working signal is untouched."""

from __future__ import annotations

import numpy as np
import pytest

from faultdx.data.base import FAULT_TYPES
from faultdx.data.synthetic import simulate
from tests.service_support import RATE, WINDOW, app_client, make_model_dir


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    with app_client(make_model_dir(tmp_path_factory.mktemp("models") / "tiny-aprelu"), api_key=None) as c:
        yield c


MACHINE = simulate("outer_race", duration_s=1.0, rpm=1797.0, seed=2).astype(np.float64)


def broken(kind: str) -> np.ndarray:
    peak = np.abs(MACHINE).max()
    if kind == "white_noise":
        return np.std(MACHINE) * np.random.default_rng(0).standard_normal(MACHINE.size)
    if kind == "flat_line":
        return np.zeros_like(MACHINE)
    if kind == "clipping":
        return np.clip(MACHINE, -0.2 * peak, 0.2 * peak)
    y = MACHINE.copy()  # dropout: the middle third reads zero
    y[y.size // 3: 2 * y.size // 3] = 0.0
    return y


def diagnose(client, signal: np.ndarray) -> dict:
    body = {"signals": [signal.round(6).tolist()], "sampling_rate": RATE, "rpm": 1797}
    r = client.post("/v1/diagnose", json=body)
    assert r.status_code == 200, r.text
    return r.json()["results"][0]


def test_a_working_signal_passes_the_gate(client) -> None:
    result = diagnose(client, MACHINE)
    assert result["signal_quality"] == {"ok": True, "problems": []}
    assert result["fault_type"] in FAULT_TYPES


@pytest.mark.parametrize("kind, problem", [
    ("white_noise", "no_machine"), ("flat_line", "flat_line"), ("clipping", "clipping"),
    ("dropout", "dropout"),
])
def test_broken_signals_answer_bad_signal(client, kind: str, problem: str) -> None:
    result = diagnose(client, broken(kind))
    assert result["fault_type"] == "bad_signal"
    assert result["label"] == "bad_signal"
    assert result["closest_fault_type"] in FAULT_TYPES  # the network's answer, kept beside
    assert result["signal_quality"]["ok"] is False
    assert problem in {p["kind"] for p in result["signal_quality"]["problems"]}
    assert {w["fault_type"] for w in result["windows"]} == {"bad_signal"}
    assert result["evidence"] is None and result["severity"] is None


def test_v2_labels_bad_windows(client) -> None:
    n = MACHINE.size // WINDOW
    for signal, ok in ((MACHINE, True), (broken("flat_line"), False)):
        x = signal[: n * WINDOW].astype(np.float32)
        inputs = [{"name": "signal", "shape": [n, WINDOW], "datatype": "FP32", "data": x.tolist()}]
        r = client.post("/v2/models/tiny-aprelu/infer", json={"inputs": inputs, "parameters": {"rpm": 1797}})
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["parameters"]["signal_ok"] is ok
        labels = {o["name"]: o for o in body["outputs"]}["label"]["data"]
        assert (set(labels) == {"bad_signal"}) is not ok


def test_the_cli_says_bad_signal_and_why(tmp_path) -> None:
    import json

    from typer.testing import CliRunner

    from faultdx.cli import app

    model_dir = make_model_dir(tmp_path / "tiny-aprelu")
    path = tmp_path / "dead.npy"
    np.save(path, broken("flat_line").astype(np.float32))
    args = ["diagnose", str(path), "--model", str(model_dir), "--rate", str(RATE), "--rpm", "1797"]
    table = CliRunner().invoke(app, args)
    assert table.exit_code == 0, table.output
    assert "bad_signal" in table.output and "refused: flat_line" in table.output
    [answer] = json.loads(CliRunner().invoke(app, [*args, "--json"]).output)
    assert answer["fault_type"] == "bad_signal" and answer["signal_quality"]["ok"] is False


def test_an_asset_history_keeps_bad_signals_and_raises_a_sensor_alarm(tmp_path) -> None:
    model_dir = make_model_dir(tmp_path / "tiny-aprelu")
    url = f"sqlite:///{tmp_path / 'monitor.sqlite'}"
    with app_client(model_dir, database_url=url, api_key=None) as client:
        asset = {"name": "pump", "bearing": "SKF 6205", "rpm": 1797, "sampling_rate": RATE,
                 "alarm_repeat_n": 2, "alarm_repeat_m": 3}
        made = client.post("/v1/assets", json=asset)
        assert made.status_code == 201, made.text
        dead = np.zeros(int(RATE)).tolist()
        for day in (1, 2):
            r = client.post("/v1/diagnose", json={"signals": [dead], "asset": "pump",
                                                  "measured_at": f"2026-03-0{day}T10:00:00Z"})
            assert r.status_code == 200, r.text
            assert r.json()["results"][0]["fault_type"] == "bad_signal"
        kinds = {(a["kind"], a["key"]) for a in client.get("/v1/alarms").json()["alarms"]}
        assert ("sensor", "bad_signal") in kinds
        assert not any(kind == "fault" for kind, _ in kinds)
        latest = client.get("/v1/assets/pump/diagnoses", params={"limit": 1}).json()["items"][0]
        assert latest["fault_type"] == "bad_signal"
