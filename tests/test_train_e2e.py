"""A tiny real-CWRU run end to end: `faultdx train` -> run folder -> `faultdx evaluate` -> load the model."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from faultdx.cli import app
from faultdx.modeldir import load_model_dir
from tests.data_helpers import isolated_cache  # noqa: F401  (autouse fixture: temp decoded-array cache)
from tests.train_helpers import BASE_CONFIG, needs_cwru, tiny_overrides

pytestmark = needs_cwru


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    args = ["train", "--config", str(BASE_CONFIG), "--epochs", "3", "--no-progress"]
    for item in tiny_overrides(out, "tiny"):
        args += ["--set", item]
    result = CliRunner().invoke(app, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return out / "tiny", result.output


def test_run_folder_holds_config_metrics_models_and_curves(tiny_run):
    run, output = tiny_run
    assert "epoch 3/3" in output and "test (used once)" in output
    for name in ("run.yaml", "metrics.jsonl", "curves.png", "test.json", "best", "last", "state"):
        assert (run / name).exists(), name
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in records] == [1, 2, 3]
    assert records[-1]["train_loss"] < records[0]["train_loss"]
    best_epoch = max(records, key=lambda r: r["score"])["epoch"]
    best = load_model_dir(run / "best")
    last = load_model_dir(run / "last")
    assert best.meta.protocol["epoch"] == best_epoch and best.meta.protocol["selection"] == "best_on_val"
    assert last.meta.protocol["epoch"] == 3 and last.meta.protocol["selection"] == "last"
    assert best.meta.metrics["val"]["val_acc"] > 0.3  # three tiny epochs: well above the 10 % of chance
    assert best.meta.sampling_rate == 12000 and best.meta.window == 2048 and best.meta.channels == ["DE"]
    assert best.meta.classes[0] == "normal" and len(best.meta.classes) == 10
    files = {f.file: f.sha256 for f in best.meta.dataset.files}
    assert len(files) == 37 and all(sha and len(sha) == 64 for sha in files.values())
    assert "cwru/normal_baseline/97.mat" in files
    assert best.meta.bearing is not None and best.meta.bearing["balls"] == 9


def test_evaluate_reproduces_the_runs_test_figures(tiny_run, tmp_path):
    run, _ = tiny_run
    result = CliRunner().invoke(app, ["evaluate", str(run), "--out", str(tmp_path / "eval")])
    assert result.exit_code == 0, result.output
    report = (tmp_path / "eval" / "report.md").read_text()
    for heading in ("| accuracy |", "| macro-F1 |", "## Per class", "| SNR (dB) | -6 | -4 |", "trained on"):
        assert heading in report
    metrics = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    test = json.loads((run / "test.json").read_text())["best"]
    assert metrics["accuracy"] == pytest.approx(test["type_accuracy"], abs=1e-6)  # evaluate scores fault type
    assert metrics["snr_sweep"]["-4"] == pytest.approx(test["type_accuracy_snr_-4dB"], abs=1e-6)
    assert metrics["test_windows"] == test["windows"]
    assert set(metrics["by_condition"]["all (time split)"]) == {"0", "1", "2", "3"}
    confusion = (tmp_path / "eval" / "confusion.csv").read_text().splitlines()
    assert len(confusion) == 5  # normal, ball, inner race, outer race
    assert sum(int(v) for line in confusion[1:] for v in line.split(",")[1:]) == test["windows"]
    for picture in ("confusion.png", "snr_sweep.png"):
        assert (tmp_path / "eval" / picture).read_bytes()[:4] == b"\x89PNG"


def test_evaluate_unknown_target_is_a_clear_error():
    result = CliRunner().invoke(app, ["evaluate", "no-such-model"])
    assert result.exit_code == 2
    assert "no model 'no-such-model'" in result.output


def test_evaluate_writes_under_runs_not_into_the_models_folder(tiny_run, tmp_path, monkeypatch):
    run, _ = tiny_run
    monkeypatch.setenv("FAULTDX_RUNS", str(tmp_path / "runs"))
    result = CliRunner().invoke(app, ["evaluate", str(run)])
    assert result.exit_code == 0, result.output
    name = load_model_dir(run / "best").meta.name
    assert (tmp_path / "runs" / "eval" / name / "report.md").is_file()
    assert not list(run.parent.glob("eval-*"))


def test_train_help_names_each_default():
    result = CliRunner().invoke(app, ["train", "--help"], env={"COLUMNS": "300"})
    for default in ("data.name; default: cwru", "out_dir; default: runs", "epochs; default: "):
        assert default in result.output
