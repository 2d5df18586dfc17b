"""The unknown-condition score: calibration to a false-alarm rate, storage in the model directory, the
"unknown" verdict, and its place in the library, CLI and API answers. Tiny models, synthetic windows."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from fastapi.testclient import TestClient
from faultdx_service.main import create_app
from faultdx_service.settings import Settings
from safetensors.torch import load_file, save_file
from typer.testing import CliRunner

from faultdx.cli import app
from faultdx.data.base import CWRU_10_CLASSES, WindowSet
from faultdx.data.windows import standardize
from faultdx.diagnose import Diagnoser, Diagnosis
from faultdx.modeldir import OOD_CONFIG_FILE, OOD_WEIGHTS_FILE, WEIGHTS_FILE, load_model_dir, save_model_dir
from faultdx.nn.resnet1d import ResNet1d, preset_config
from faultdx.ood import (
    METHODS,
    PARTS,
    UNKNOWN,
    calibrate,
    load_calibration,
    network_outputs,
    save_calibration,
    threshold_at,
)
from faultdx.train.prepare import PreparedData
from tests.service_support import RATE, make_model_dir, tone

TONE_WINDOW = 512


def _tones(n: int, freq: float, rng: np.random.Generator) -> np.ndarray:
    """``[n, 1, 512]`` noisy tones near ``freq`` Hz with random phase."""
    t = np.arange(TONE_WINDOW) / RATE
    f = freq * (1 + 0.03 * rng.uniform(-1, 1, (n, 1)))
    x = np.sin(2 * np.pi * f * t + rng.uniform(0, 2 * np.pi, (n, 1))) + 0.3 * rng.standard_normal((n, t.size))
    return standardize(x[:, None, :].astype(np.float32))


@pytest.fixture(scope="module")
def tone_model() -> tuple[ResNet1d, np.ndarray]:
    """A tiny network trained (30 steps) to tell a 157 Hz tone from a 1100 Hz one; its training windows."""
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    x = np.concatenate([_tones(64, 157, rng), _tones(64, 1100, rng)])
    y = torch.tensor([0] * 64 + [1] * 64)
    config = preset_config("small", num_classes=2, widths=(8, 16, 16), stem_channels=8, depths=(1, 1, 1))
    model = ResNet1d(config)
    opt = torch.optim.Adam(model.parameters(), 3e-3)
    xs = torch.from_numpy(x)
    for _ in range(30):
        i = torch.randint(0, len(xs), (32,))
        loss = torch.nn.functional.cross_entropy(model(xs[i]), y[i])
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model.eval(), x


def _random_outputs(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    features = torch.randn(n, 6, generator=g) + 3 * torch.randint(0, 3, (n, 1), generator=g)
    logits = torch.randn(n, 3, generator=g) * 2
    return logits, features


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize(("n", "rate"), [(1000, 0.01), (537, 0.05), (200, 0.001)])
def test_calibration_flags_the_target_share_of_its_own_windows(method: str, n: int, rate: float) -> None:
    fit, cal = _random_outputs(3000, 0), _random_outputs(n, 1)
    c = calibrate(fit, cal, method=method, target_rate=rate)
    scores = c.score(*cal)
    assert (scores > 1).sum() == math.floor(rate * n)  # distinct scores: exactly floor(rate * N) flagged
    assert c.info["calibration_flagged_rate"] == pytest.approx(math.floor(rate * n) / n)
    assert float(np.median(scores)) == pytest.approx(0.0, abs=1e-5)  # normalised: the median is 0
    assert c.needs_features == (method != "energy") and (method == "combined") == bool(c.parts)


def test_threshold_refuses_an_impossible_rate() -> None:
    with pytest.raises(ValueError, match="false-alarm rate"):
        threshold_at(np.arange(10.0), 1.0)
    assert threshold_at(np.arange(10.0), 0.0) == 9.0  # nothing above the largest


def test_a_trained_network_scores_noise_above_its_own_signals(tone_model) -> None:
    model, train_x = tone_model
    rng = np.random.default_rng(1)
    calibration = np.concatenate([_tones(100, 157, rng), _tones(100, 1100, rng)])
    held_out = np.concatenate([_tones(50, 157, rng), _tones(50, 1100, rng)])
    noise = standardize(rng.standard_normal((100, 1, TONE_WINDOW)).astype(np.float32))
    c = calibrate(network_outputs(model, train_x, None), network_outputs(model, calibration, None))
    familiar = c.score(*network_outputs(model, held_out, None))
    strange = c.score(*network_outputs(model, noise, None))
    assert (familiar > 1).mean() <= 0.05  # held-out windows of the same kind: near the 1 % target
    assert np.median(strange) > 1 and (strange > 1).mean() > 0.9  # white noise: flagged


def _calibrate_dir(path: Path, seed: int = 0) -> None:
    """Calibrate a (tiny, untrained) model directory on tones, as ``calibrate-ood`` would."""
    model = load_model_dir(path).model
    rng = np.random.default_rng(seed)
    fit = np.concatenate([tone(0.2, seed=s)[None, None, :2048] for s in range(40)]) * rng.uniform(0.5, 2)
    cal = np.concatenate([tone(0.2, seed=100 + s)[None, None, :2048] for s in range(40)])
    calibration = calibrate(network_outputs(model, standardize(fit), None),
                            network_outputs(model, standardize(cal), None), target_rate=0.05,
                            info={"data": {"config": "tones"}})
    save_calibration(path, calibration)


def test_a_model_dir_without_calibration_loads_with_none(tmp_path) -> None:
    d = Diagnoser.from_dir(make_model_dir(tmp_path / "plain"))
    assert d.ood is None
    [diagnosis] = d.diagnose([tone(1.0)], RATE, rpm=1797)
    assert diagnosis.unknown_score is None and diagnosis.window_unknown is None
    assert diagnosis.fault_type == diagnosis.closest_fault_type != UNKNOWN


def test_calibration_round_trip_through_the_model_dir(tmp_path) -> None:
    path = make_model_dir(tmp_path / "cal", card="# card\n")
    before = {p.name: p.read_bytes() for p in path.iterdir()}
    _calibrate_dir(path)
    assert {p.name: p.read_bytes() for p in path.iterdir() if p.name in before} == before  # kept as they were
    meta = json.loads((path / OOD_CONFIG_FILE).read_text())
    assert meta["method"] == "combined" and meta["target_rate"] == 0.05 and set(meta["parts"]) == set(PARTS)
    assert meta["data"]["config"] == "tones"
    loaded = load_calibration(path)
    stored = load_file(str(path / OOD_WEIGHTS_FILE))
    assert torch.equal(loaded.class_means, stored["class_means"]) and loaded.threshold == meta["threshold"]
    assert loaded.parts == {k: (v["center"], v["threshold"]) for k, v in meta["parts"].items()}

    d = Diagnoser.from_dir(path)
    x = standardize(np.stack([tone(0.2, seed=7)[None, :2048], np.zeros((1, 2048), np.float32)]))
    logits, features = network_outputs(d.model, x, None)
    expected = loaded.score(logits, features)
    np.testing.assert_allclose(d.predict_windows(x).unknown, expected, rtol=1e-5)
    np.testing.assert_allclose(d.predict_windows(x, include_slopes=True).unknown, expected, rtol=1e-5)
    traced = Diagnoser.from_dir(path, trace=True)
    assert traced.traced
    np.testing.assert_allclose(traced.predict_windows(x).unknown, expected, atol=1e-3)
    _calibrate_dir(path, seed=1)  # replaced, not added to
    assert sorted(p.name for p in path.iterdir()) == sorted([*before, OOD_CONFIG_FILE, OOD_WEIGHTS_FILE])


def test_a_calibration_of_other_weights_is_ignored(tmp_path) -> None:
    path = make_model_dir(tmp_path / "stale")
    _calibrate_dir(path)
    state = load_file(str(path / WEIGHTS_FILE))
    changed = {k: v + 1e-3 if v.is_floating_point() else v for k, v in state.items()}
    save_file(changed, str(path / WEIGHTS_FILE))
    assert load_calibration(path) is None
    loaded = load_model_dir(path)
    save_model_dir(path, loaded.model, loaded.meta.model_dump())  # new weights: the calibration is dropped
    assert not (path / OOD_CONFIG_FILE).exists() and Diagnoser.from_dir(path).ood is None


def test_above_the_threshold_the_verdict_is_unknown() -> None:
    classes = tuple(CWRU_10_CLASSES)
    probs = np.zeros((3, len(classes)), np.float32)
    probs[:, classes.index("inner_race_014")] = 1.0

    def verdict(scores: list[float]) -> Diagnosis:
        return Diagnosis(classes, probs, np.arange(3), window_unknown=np.array(scores, np.float32))

    unknown = verdict([2.0, 1.5, 0.3])  # median 1.5
    assert unknown.is_unknown and unknown.unknown_score == pytest.approx(1.5)
    assert unknown.fault_type == unknown.label == UNKNOWN and unknown.closest_fault_type == "inner_race"
    assert unknown.severity is None and unknown.evidence is None and unknown.confidence == 1.0
    assert unknown.window_labels == [UNKNOWN, UNKNOWN, "inner_race_014"]
    assert unknown.window_fault_types == [UNKNOWN, UNKNOWN, "inner_race"]
    known = verdict([2.0, 0.5, 0.3])  # one odd window does not flip the signal (median rule)
    assert not known.is_unknown and known.fault_type == "inner_race" and known.label == "inner_race_014"


def test_calibrate_model_dir_uses_the_training_and_validation_splits(tmp_path) -> None:
    from faultdx.train.calibrate import calibrate_model_dir
    from faultdx.train.config import load_config

    path = make_model_dir(tmp_path / "splits")

    def split(n: int, seed: int) -> WindowSet:
        x = np.stack([tone(0.2, seed=seed + i)[None, :2048] for i in range(n)])
        context = np.tile(np.array([[0.0025, 0.0089, 0.0135, 0.0059, 0.001]], np.float32), (n, 1))
        context[0] = np.nan  # a window of unknown context is left out
        y = np.zeros(n, np.int64)
        y[1] = -1  # a window of no class of the model's (a simulated machine): left out unless windows="all"
        return WindowSet(x=x, y=y, recording=np.zeros(n, np.int64), start=np.arange(n),
                         classes=CWRU_10_CLASSES, keys=("k",), sampling_rate=RATE, context=context)

    data = PreparedData({"train": split(80, 0), "val": split(101, 500)}, CWRU_10_CLASSES, RATE, [], {})
    result = calibrate_model_dir(path, load_config(), config_name="test", target_rate=0.02,
                                 max_fit_windows=60, windows="labelled", data=data)
    assert result.info["fit_windows"] == 60 and result.info["calibration_windows"] == 99
    assert result.info["calibration_flagged_rate"] == 1 / 99  # floor(0.02 * 99) windows
    assert load_calibration(path).threshold == result.threshold
    every = calibrate_model_dir(path, load_config(), config_name="test", target_rate=0.02, data=data)
    assert every.info["calibration_windows"] == 100 and every.info["calibration_flagged_rate"] == 0.02
    assert load_calibration(path).info["data"]["windows"] == "all"
    data.classes = ("a", "b")
    with pytest.raises(ValueError, match="classes"):
        calibrate_model_dir(path, load_config(), config_name="test", data=data)


@pytest.mark.parametrize(
    ("args", "option"),
    [(["--method", "knn"], "--method"), (["--target-rate", "0.7"], "--target-rate"),
     (["--max-fit-windows", "3"], "--max-fit-windows"), (["--windows", "some"], "--windows")],
)
def test_calibrate_ood_refuses_bad_options(tmp_path, args: list[str], option: str) -> None:
    path = make_model_dir(tmp_path / "cli")
    result = CliRunner().invoke(app, ["model", "calibrate-ood", str(path), "--data", "x.yaml", *args])
    assert result.exit_code == 2 and option in result.output


@pytest.fixture(scope="module")
def calibrated_dir(tmp_path_factory) -> Path:
    path = make_model_dir(tmp_path_factory.mktemp("models") / "tiny-calibrated")
    _calibrate_dir(path)
    return path


@pytest.mark.parametrize("calibrated", [True, False])
def test_api_answers_carry_the_unknown_score(tmp_path, calibrated_dir, calibrated: bool) -> None:
    path = calibrated_dir if calibrated else make_model_dir(tmp_path / "tiny-plain")
    settings = Settings(model=[str(path)], api_key=None, log_json=False)
    signal = tone(1.0)  # passes the signal-quality gate, so the unknown score decides (a dropout would not)
    with TestClient(create_app(settings)) as client:
        body = {"signals": [signal.tolist()], "sampling_rate": RATE, "rpm": 1797}
        r = client.post("/v1/diagnose", json=body)
        assert r.status_code == 200, r.text
        [result] = r.json()["results"]
        windows = result["windows"]
        name = r.json()["model"]["name"]
        raw = np.stack([signal[:2048], signal[-2048:]])
        infer = {"inputs": [{"name": "signal", "shape": [2, 2048], "datatype": "FP32",
                             "data": raw.ravel().tolist()}], "parameters": {"rpm": 1797}}
        v2 = client.post(f"/v2/models/{name}/infer", json=infer)
        assert v2.status_code == 200, v2.text
        outputs = {o["name"]: o for o in v2.json()["outputs"]}
        metadata = client.get(f"/v2/models/{name}").json()
    if not calibrated:
        assert result["unknown_score"] is None and all(w["unknown_score"] is None for w in windows)
        assert v2.json()["parameters"]["unknown_score"] is None and "unknown_score" not in outputs
        return
    assert result["signal_quality"]["ok"], result["signal_quality"]
    scores = [w["unknown_score"] for w in windows]
    assert math.isfinite(result["unknown_score"]) and all(math.isfinite(s) for s in scores)
    assert result["unknown_score"] == pytest.approx(float(np.median(scores)), abs=1e-3)
    assert (result["fault_type"] == UNKNOWN) == (result["unknown_score"] > 1)
    assert [w["label"] == UNKNOWN for w in windows] == [s > 1 for s in scores]
    window_scores = outputs["unknown_score"]["data"]
    assert len(window_scores) == 2 and all(math.isfinite(s) for s in window_scores)
    median = float(np.median(window_scores))
    assert v2.json()["parameters"]["unknown_score"] == pytest.approx(median, abs=1e-3)
    assert [lab == UNKNOWN for lab in outputs["label"]["data"]] == [s > 1 for s in window_scores]
    assert {"name": "unknown_score", "datatype": "FP32", "shape": [-1]} in metadata["outputs"]


def test_cli_diagnose_prints_the_unknown_score(tmp_path, calibrated_dir) -> None:
    file = tmp_path / "signal.npy"
    np.save(file, tone(1.0))
    args = ["diagnose", str(file), "--model", str(calibrated_dir), "--rate", str(RATE), "--rpm", "1797"]
    result = CliRunner().invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    [verdict] = json.loads(result.output)
    assert math.isfinite(verdict["unknown_score"]) and verdict["closest_fault_type"] != UNKNOWN
    table = CliRunner().invoke(app, args)
    assert "unknown" in table.output.splitlines()[0] and f"{verdict['unknown_score']:.2f}" in table.output


def test_the_ood_results_render_as_a_table() -> None:
    from faultdx.results_render import RENDERERS, render_ood

    def figures(auroc: float | None, flagged: float) -> dict:
        return {"windows": 10, "auroc": auroc, "flagged": flagged, "signals": 2, "signals_flagged": flagged,
                "type_accuracy": None if auroc else 0.9, "type_accuracy_kept": 1.0}

    methods = {m: {"sets": {"in distribution": figures(None, 0.01), "noise only": figures(0.987654, 0.5)}}
               for m in ("combined", "energy")}
    payload = {"commit": "abc", "command": "bench/ood_eval.py", "date": "2026-12-02", "machine": {}, "data": {
        "target_rate": 0.01,
        "models": [{"name": "m", "trained": "shipped", "note": "a note", "methods": methods,
                    "training": {"epochs": 3, "seconds": 90.0, "threads": 1}}]}}
    lines = render_ood(payload).splitlines()
    assert RENDERERS["ood"] is render_ood
    header = "| windows | n | combined AUROC | combined flagged | energy AUROC | energy flagged | right |"
    assert header in lines
    assert "| in distribution | 10 (2 signals) | – | 1.0 / 1 % | – | 1.0 / 1 % | 90.0 / 100.0 % |" in lines
    assert "| noise only | 10 (2 signals) | 0.988 | 50.0 / 50 % | 0.988 | 50.0 / 50 % | – |" in lines
    assert "Trained for 3 epochs in 1.5 min on 1 CPU thread(s)." in lines
