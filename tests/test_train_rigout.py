"""Protocol rig-out: its folds hold each real rig out, and its figures (specificity, recall, calibration
cross-fitted on the other folds, risk-coverage) against hand-made predictions."""

from __future__ import annotations

import numpy as np
import pytest

from faultdx.data.base import FAULT_TYPES, WindowSet
from faultdx.train.metrics import expected_calibration_error
from faultdx.train.protocols import PROTOCOLS, RECIPES, fold_config
from faultdx.train.rigout import (
    figures,
    fit_temperature,
    risk_coverage,
    score_rig_out,
    summarise_rows,
    with_temperature,
)

N, BALL, INNER, OUTER = (FAULT_TYPES.index(t) for t in FAULT_TYPES)


def test_every_real_rig_is_held_out_once_and_never_trained_on() -> None:
    folds = PROTOCOLS["rig-out"].folds
    assert [f.name for f in folds] == ["cwru", "mfpt", "hit_mfs", "hit_self_built"]
    for fold in folds:
        config = fold_config({}, fold, recipe=RECIPES["hybrid-aprelu"])
        tested = config.split.test_data
        trained = [(m.name, m.options.get("rig")) for m in config.data.mix]
        assert config.split.protocol == "rig" and config.data.name == "simulated"
        assert (tested.name, tested.options.get("rig")) not in trained
        assert len(trained) == 3 and all(m.options["sampling_rate"] == 12000 for m in config.data.mix)


def _windows(truth: list[int], recording: list[int]) -> WindowSet:
    n = len(truth)
    keys = tuple(f"r{i}" for i in set(recording))
    return WindowSet(x=np.zeros((n, 1, 8), np.float32), y=np.full(n, -1), recording=np.asarray(recording),
                     start=np.zeros(n, np.int64), classes=FAULT_TYPES, keys=keys, sampling_rate=12000.0,
                     fault_type=np.asarray(truth), context=np.ones((n, 5), np.float32))


def test_figures_count_healthy_windows_called_normal_and_faults_found() -> None:
    truth = np.array([N, N, N, N, INNER, INNER, OUTER, OUTER])
    probs = np.eye(4)[[N, N, N, BALL, INNER, OUTER, OUTER, OUTER]] * 0.7 + 0.075
    out = figures(probs, truth, np.array([0, 0, 1, 1, 2, 2, 3, 3]))
    assert out["specificity"] == pytest.approx(0.75)
    assert out["fault_recall"] == pytest.approx(1.0)  # a fault called the wrong fault is still found
    assert out["recall"] == {"inner_race": 0.5, "outer_race": 1.0}
    assert out["type_accuracy"] == pytest.approx(6 / 8)
    assert out["recordings"] == 4 and out["sure_share"] == 0.0


def test_temperature_is_recovered_and_cross_fitted_on_the_other_folds_only() -> None:
    rng = np.random.default_rng(0)
    true_logits = rng.normal(size=(4000, 4)) * 2.0
    truth = np.array([rng.choice(4, p=p) for p in with_temperature(true_logits, 1.0)])
    overconfident = np.log(with_temperature(true_logits * 3.0, 1.0))  # the model's logits, 3x too sure
    assert fit_temperature(overconfident, truth) == pytest.approx(3.0, rel=0.1)
    # fold b overconfident, fold a calibrated: a's temperature comes from b, b's from a (never itself)
    w = {"a": _windows(list(truth[:2000]), [0] * 2000), "b": _windows(list(truth[2000:]), [0] * 2000)}
    predictions = {("a", 0): {"last/rpm": np.log(with_temperature(true_logits[:2000], 1.0))},
                   ("b", 0): {"last/rpm": overconfident[2000:]}}
    rows = {r["fold"]: r for r in score_rig_out(predictions, w)}
    assert rows["a"]["temperature"] == pytest.approx(3.0, rel=0.1)
    assert rows["b"]["temperature"] == pytest.approx(1.0, rel=0.1)
    assert rows["b"]["ece_temperature"] == pytest.approx(rows["b"]["ece"], abs=0.02)
    # both folds overconfident alike: each one's temperature, fitted on the other, repairs it
    predictions[("a", 0)] = {"last/rpm": overconfident[:2000]}
    rows = {r["fold"]: r for r in score_rig_out(predictions, w)}
    for row in rows.values():
        assert row["temperature"] == pytest.approx(3.0, rel=0.1)
        assert row["ece_temperature"] < row["ece"] / 2
    summary = summarise_rows(list(rows.values()))
    assert summary["b"]["last"]["rpm"]["temperature"]["n"] == 1


def test_risk_coverage_answers_the_most_confident_windows_first() -> None:
    probs = np.array([[0.9, 0.1], [0.8, 0.2], [0.6, 0.4], [0.55, 0.45]] * 5)
    truth = np.array([0, 0, 1, 1] * 5)  # the confident half is right, the rest wrong
    table = {row["coverage"]: row["accuracy"] for row in risk_coverage(probs, truth)}
    assert table[1.0] == pytest.approx(0.5) and table[0.5] == pytest.approx(1.0)


def test_a_normal_bias_moves_the_healthy_windows_a_model_calls_faulty_back_to_normal() -> None:
    from faultdx.train.rigout import fit_normal_bias, with_normal_bias

    # healthy windows lean to ball by 1 nat, faulty ones to their fault by 3: a shift in (1, 3) separates them
    healthy = np.log(with_temperature(np.array([[0.0, 1.0, 0.0, 0.0]] * 50), 1.0))
    faulty = np.log(with_temperature(np.array([[0.0, 0.0, 3.0, 0.0]] * 50), 1.0))
    log_probs = np.concatenate([healthy, faulty])
    truth = np.array([N] * 50 + [INNER] * 50)
    bias = fit_normal_bias(log_probs, truth)
    assert 1.0 < bias < 3.0
    shifted = with_normal_bias(log_probs, bias).argmax(axis=1)
    assert (shifted[:50] == N).all() and (shifted[50:] == INNER).all()
    assert fit_normal_bias(faulty, truth[50:]) == 0.0  # no healthy window: nothing to fit


def _sure(kind: int, n: int) -> np.ndarray:
    """Log-probabilities of ``n`` windows sure (0.97) of fault type ``kind``."""
    probs = np.full((n, 4), 0.01)
    probs[:, kind] = 0.97
    return np.log(probs)


def test_the_policy_keeps_a_sure_window_only_where_the_envelope_backs_it() -> None:
    # 40 windows of inner race called inner race (the envelope agrees), 20 of ball called inner race (the
    # envelope sees no inner-race line): sure and wrong without the gate, capped under sure with it
    truth = np.array([INNER] * 40 + [BALL] * 20)
    w = {"a": _windows(list(truth), [0] * 40 + [1] * 20)}
    envelope = np.log(np.where(np.arange(60)[:, None] < 40, [0.02, 0.02, 0.94, 0.02], [0.7, 0.1, 0.1, 0.1]))
    row, = score_rig_out({("a", 0): {"last/rpm": _sure(INNER, 60)}}, w, {"a": {"rpm": envelope}})
    assert row["sure_share"] == 1.0 and row["sure_accuracy"] == pytest.approx(40 / 60)
    assert row["sure_share_calibrated"] == pytest.approx(40 / 60) and row["sure_accuracy_calibrated"] == 1.0
    # a cap under sure, not a fix: the wrong windows still say 0.89 (ECE = 2/3 x 0.03 + 1/3 x 0.89)
    assert row["ece_calibrated"] == pytest.approx(2 / 3 * 0.03 + 1 / 3 * 0.89, abs=1e-3)
    assert row["recordings_answered"] == 1.0 and row["answered_recordings_right"] == pytest.approx(0.5)
    assert score_rig_out({("a", 0): {"last/rpm": _sure(INNER, 60)}}, w)[0]["sure_accuracy_calibrated"] < 1


def test_a_recording_whose_windows_disagree_is_not_answered() -> None:
    from faultdx.train.rigout import RULES, recording_verdicts

    probs = np.exp(np.concatenate([_sure(INNER, 5), _sure(OUTER, 5), _sure(OUTER, 10)]))
    truth = np.array([OUTER] * 20)
    out = recording_verdicts(probs, truth, np.array([0] * 10 + [1] * 10), RULES)  # recording 0: 50 / 50
    assert out == {"recordings_answered": 0.5, "recordings_right_calibrated": 0.5,
                   "answered_recordings_right": 1.0}


def test_the_shipped_policy_keeps_a_temperature_only_where_cross_fitted_it_helped(tmp_path) -> None:
    import json

    from faultdx.diagnose.confidence import load_confidence
    from faultdx.train.rigout import RULES, confidence_policy, write_confidence_policy

    worse = [{"selection": "last", "variant": "rpm", "ece": 0.05, "ece_temperature": 0.10}] * 3
    better = [{"selection": "last", "variant": "rpm", "ece": 0.10, "ece_temperature": 0.05}] * 3
    assert confidence_policy(worse, 1.7, "x").temperature == 1.0
    policy = confidence_policy(better + worse[:1], 1.7, "x")
    assert policy.temperature == 1.7 and policy.backing == RULES.backing
    results = tmp_path / "rig_out.json"
    results.write_text(json.dumps({"commit": "abc1234", "data": {"confidence_policy": policy.as_dict()}}))
    written = write_confidence_policy(tmp_path, results)
    assert load_confidence(tmp_path) == written and "abc1234" in written.source
    results.write_text(json.dumps({"data": {}}))
    with pytest.raises(ValueError, match="confidence_policy"):
        write_confidence_policy(tmp_path, results)


def test_cached_predictions_read_at_another_speed_are_dropped(tmp_path) -> None:
    from faultdx.train.rigout import _cached_log_probs

    path = tmp_path / "rigout_predictions.npz"
    log_probs = {k: np.zeros((3, 4)) for k in ("best/rpm", "best/no_rpm", "last/rpm", "last/no_rpm")}
    np.savez(path, speed=np.array([1.0, 1.0, np.nan]), **log_probs)
    assert len(_cached_log_probs(path, np.array([1.0, 1.0, np.nan]))) == 4
    assert sorted(_cached_log_probs(path, np.array([1.0, 1.02, np.nan]))) == ["best/rpm", "last/rpm"]
    np.savez(path, **log_probs)  # an older cache: the speed it was read at is unknown
    assert sorted(_cached_log_probs(path, np.ones(3))) == ["best/rpm", "last/rpm"]


def test_vector_scaling_recovers_a_per_type_scale_and_bias() -> None:
    from faultdx.train.rigout import fit_vector_scaling, with_vector_scaling

    rng = np.random.default_rng(1)
    true_logits = rng.normal(size=(4000, 4)) * 2.0
    truth = np.array([rng.choice(4, p=p) for p in with_temperature(true_logits, 1.0)])
    skewed = true_logits * 2.0 + np.array([0.0, 1.5, 0.0, -1.0])  # overconfident, leaning to ball
    scaling = fit_vector_scaling(skewed, truth)
    assert scaling[0] == pytest.approx(0.5, abs=0.08)
    assert scaling[1][1] - scaling[1][0] == pytest.approx(-0.75, abs=0.25)
    repaired = with_vector_scaling(skewed, scaling)
    assert expected_calibration_error(repaired, truth) < expected_calibration_error(
        with_temperature(skewed, 1.0), truth) / 2
    np.testing.assert_allclose(fit_vector_scaling(skewed[:0], truth[:0]), [[1] * 4, [0] * 4])


def test_the_answer_calls_a_recording_faulty_only_where_its_defect_lines_stand_out() -> None:
    # two healthy recordings the network calls inner race (no lines: 1.1), one inner-race recording with lines
    truth = np.array([N] * 20 + [INNER] * 10)
    w = {"a": _windows(list(truth), [0] * 10 + [1] * 10 + [2] * 10)}
    lines = np.array([[1.1, 1.1, 1.0]] * 20 + [[1.0, 3.0, 1.0]] * 10)
    row, = score_rig_out({("a", 0): {"last/rpm": _sure(INNER, 30)}}, w,
                         lines={"a": {"rpm": {"recording": lines, "excerpt": lines}}})
    assert row["specificity"] == 0.0 and row["fault_recall"] == 1.0  # the network alone
    assert row["specificity_calibrated"] == 1.0 and row["fault_recall_calibrated"] == 1.0
    assert row["specificity_excerpt"] == 1.0 and row["type_accuracy_calibrated"] == 1.0


def test_lines_are_read_per_recording_and_per_excerpt_at_the_recordings_speed() -> None:
    from faultdx.context import MachineContext
    from faultdx.data.bearing import SKF_6205
    from faultdx.train.rigout import lines_by_window

    rate, rpm, width = 12000.0, 1772.0, 2048
    bpfo = MachineContext(rpm, SKF_6205).frequencies()["bpfo"]
    t = np.arange(int(4 * rate)) / rate
    rng = np.random.default_rng(0)
    impacts = 0.3 * rng.standard_normal(t.size) + 2.0 * (np.sin(2 * np.pi * bpfo * t) > 0.995) * np.sin(
        2 * np.pi * 3500 * t)
    noise = rng.standard_normal(t.size)
    starts = np.arange(0, t.size - width + 1, 1024)
    x = np.stack([s[i : i + width] for s in (impacts, noise) for i in starts])[:, None].astype(np.float32)
    n = len(starts)
    context = np.repeat(MachineContext(rpm, SKF_6205).vector(rate)[None], 2 * n, axis=0)
    windows = WindowSet(x=x, y=np.full(2 * n, -1), recording=np.repeat([0, 1], n),
                        start=np.tile(starts, 2).astype(np.int64), classes=FAULT_TYPES, keys=("o", "n"),
                        sampling_rate=rate, fault_type=np.repeat([OUTER, N], n), context=context)
    whole = lines_by_window(windows, context)
    assert whole.shape == (2 * n, 3)
    assert len(np.unique(whole[:n, 2])) == 1 and len(np.unique(whole[n:, 2])) == 1  # one per recording
    assert whole[0, 2] >= 1.5 > whole[-1].max()
    excerpt = lines_by_window(windows, context, 1.0)
    assert 3 <= len(np.unique(excerpt[:n, 2])) <= 4  # 4 s of windows: about four 1 s excerpts
    assert (excerpt[:n, 2] >= 1.5).all()
