"""`faultdx compare` planning and summary, and the metrics behind every table."""

from __future__ import annotations

import json

import numpy as np
import pytest

from faultdx.train.compare import RunSpec, plan_runs, run_config, summarise
from faultdx.train.config import load_config
from faultdx.train.metrics import classification_report, confusion_matrix


def test_plan_covers_activations_seeds_and_every_held_out_load():
    specs = plan_runs(["relu", "aprelu"], [0, 1, 2], [0], [0.0, 1.0, 2.0, 3.0])
    time_runs = [s for s in specs if s.kind == "time"]
    cross = [s for s in specs if s.kind == "cross"]
    assert len(time_runs) == 6 and len(cross) == 8
    assert {s.test_condition for s in cross} == {0.0, 1.0, 2.0, 3.0}
    assert len({s.name for s in specs}) == len(specs)


def test_cross_load_run_trains_on_three_loads_without_the_normal_class(tmp_path):
    base = load_config(None, ["data.hop=1024"])
    config = run_config(base, RunSpec("cross", "prelu", 2, 1.0), tmp_path, [0.0, 1.0, 2.0, 3.0])
    assert config.split.protocol == "condition"
    assert config.split.train_conditions == [0.0, 2.0, 3.0] and config.split.test_conditions == [1.0]
    assert config.data.exclude_classes == ["normal"]
    assert (config.model.activation, config.seed, config.data.hop) == ("prelu", 2, 1024)
    same = run_config(base, RunSpec("time", "prelu", 2), tmp_path, [0.0, 1.0, 2.0, 3.0])
    assert same.split.protocol == "time" and same.data.exclude_classes == []


def _fake_run(root, spec: RunSpec, best: float, last: float, noisy: float) -> None:
    run = root / spec.name
    run.mkdir(parents=True)
    test = {
        "best": {"accuracy": best, "accuracy_snr_-4dB": noisy},
        "last": {"accuracy": last, "accuracy_snr_-4dB": noisy - 0.01},
    }
    (run / "test.json").write_text(json.dumps(test))
    (run / "metrics.jsonl").write_text(json.dumps({"epoch": 1, "elapsed_s": 90.0}) + "\n")


def test_summary_is_mean_and_std_over_seeds(tmp_path):
    specs = plan_runs(["relu", "aprelu"], [0, 1], [0], [0.0, 1.0, 2.0, 3.0])
    for spec in specs:
        if spec.kind == "time":
            best = {"relu": [0.90, 0.92], "aprelu": [0.99, 1.00]}[spec.activation][spec.seed]
            _fake_run(tmp_path, spec, best, best - 0.02, best - 0.10)
        elif spec.activation == "aprelu" and spec.test_condition != 3.0:
            _fake_run(tmp_path, spec, 0.95, 0.94, 0.5)  # one fold missing: no cross-load figure yet
        elif spec.activation == "relu":
            _fake_run(tmp_path, spec, 0.80 + 0.04 * spec.test_condition, 0.80, 0.5)
    table = summarise(tmp_path, specs)
    relu = next(line for line in table.splitlines() if line.startswith("| relu"))
    aprelu = next(line for line in table.splitlines() if line.startswith("| aprelu"))
    assert "| clean best | -4 dB best | cross-load best | clean last |" in table
    assert relu.split(" | ")[1] == f"91.00 ± {100 * np.std([0.90, 0.92], ddof=1):.2f}"
    assert relu.split(" | ")[3] == "86.00 (n=1)"  # mean of 80, 84, 88, 92 over the four held-out loads
    assert aprelu.split(" | ")[1] == f"99.50 ± {100 * np.std([0.99, 1.0], ddof=1):.2f}"
    assert aprelu.split(" | ")[3] == "–"
    assert "| relu | 80.00 (n=1) | 84.00 (n=1) | 88.00 (n=1) | 92.00 (n=1) |" in table


def test_confusion_and_report_match_hand_counts():
    y_true = np.array([0, 0, 1, 1, 2, 2])
    y_pred = np.array([0, 1, 1, 1, 2, 0])
    cm = confusion_matrix(y_true, y_pred, 4)
    assert cm.tolist() == [[1, 1, 0, 0], [0, 2, 0, 0], [1, 0, 1, 0], [0, 0, 0, 0]]
    report = classification_report(y_true, y_pred, ("a", "b", "c", "d"))
    assert report.accuracy == pytest.approx(4 / 6)
    assert report.precision[:3] == pytest.approx([0.5, 2 / 3, 1.0])
    assert report.recall[:3] == pytest.approx([0.5, 1.0, 0.5])
    f1 = [0.5, 0.8, 2 / 3]
    assert report.macro_f1 == pytest.approx(np.mean(f1))  # class d has no samples: left out
    assert np.isnan(report.recall[3])
    assert report.as_dict()["per_class"]["d"]["recall"] is None
    with pytest.raises(ValueError, match="no samples"):
        classification_report(np.array([], dtype=int), np.array([], dtype=int), ("a", "b"))
