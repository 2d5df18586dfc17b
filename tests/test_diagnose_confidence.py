"""Confidence on machines never seen: the temperature of a model directory's confidence.json, the answer
"uncertain" when no defect family stands out, window agreement, and CWRU sizes only on the CWRU rig."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from faultdx.context import MachineContext
from faultdx.data.base import CWRU_10_CLASSES
from faultdx.data.bearing import SKF_6205, catalogue
from faultdx.diagnose import Diagnoser
from faultdx.diagnose.confidence import (
    ConfidencePolicy,
    load_confidence,
    save_confidence,
)
from faultdx.diagnose.result import Diagnosis
from faultdx.paths import PROJECT_ROOT

INNER_014 = CWRU_10_CLASSES.index("inner_race_014")


def _diagnosis(probs: list[float], machine: MachineContext | None, policy=ConfidencePolicy()) -> Diagnosis:
    window = np.asarray(probs, dtype=np.float32)[None]
    return Diagnosis(CWRU_10_CLASSES, np.repeat(window, 4, axis=0), np.arange(4), machine=machine,
                     training_rig="cwru", policy=policy)


def _inner_014(p: float) -> list[float]:
    probs = [(1 - p) / 9] * 10
    probs[INNER_014] = p
    return probs


def test_a_cwru_size_only_on_the_cwru_rig_elsewhere_the_evidence_level() -> None:
    cwru = MachineContext(1772.0, SKF_6205)
    assert _diagnosis(_inner_014(0.95), cwru).severity == "0.014 in"
    mfpt = MachineContext(1500.0, catalogue()["MFPT NICE"])
    other = _diagnosis(_inner_014(0.95), mfpt)
    assert other.fault_type == "inner_race" and other.severity == "high evidence"
    assert "only on the CWRU rig" in other.severity_note
    slow_6205 = MachineContext(900.0, SKF_6205)  # the HIT rigs: the CWRU bearing at another speed
    assert _diagnosis(_inner_014(0.75), slow_6205).severity == "medium evidence"
    assert _diagnosis([1.0] + [0.0] * 9, mfpt).severity is None  # normal


def test_uncertain_when_abnormal_but_no_fault_type_stands_out() -> None:
    spread = [0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1]  # ball 0.3, inner 0.3, outer 0.3
    policy = ConfidencePolicy(uncertain_below=0.6)
    d = _diagnosis(spread, MachineContext(1772.0, SKF_6205), policy)
    assert d.fault_type == "uncertain" and d.label == "uncertain"
    assert d.closest_fault_type == "ball" and d.severity is None and d.evidence is None
    answer = d.as_dict(windows=False)
    assert answer["fault_type"] == "uncertain" and answer["closest_fault_type"] == "ball"
    assert _diagnosis(spread, None).fault_type == "ball"  # without the rule: the leading type
    clear = _diagnosis(_inner_014(0.8), None, policy)
    assert clear.fault_type == "inner_race" and clear.as_dict(windows=False)["window_agreement"] == 1.0


def test_a_bad_confidence_file_is_refused_with_its_path(tmp_path) -> None:
    assert load_confidence(tmp_path) == ConfidencePolicy()
    (tmp_path / "confidence.json").write_text('{"temperature": -1}')
    with pytest.raises(ValueError, match="confidence.json"):
        load_confidence(tmp_path)
    (tmp_path / "confidence.json").write_text('{"temperature": 2, "uncertain_below": 1.5}')
    with pytest.raises(ValueError, match="uncertain_below"):
        load_confidence(tmp_path)


def test_the_diagnoser_divides_the_logits_by_the_stored_temperature(tmp_path) -> None:
    model = tmp_path / "model"
    shutil.copytree(PROJECT_ROOT / "models" / "hybrid-aprelu", model)
    (model / "confidence.json").unlink(missing_ok=True)
    signal = np.random.default_rng(0).standard_normal(12000).astype(np.float32)
    plain = Diagnoser.from_dir(model).diagnose(signal, 12000.0, rpm=1772.0)[0]
    save_confidence(model, ConfidencePolicy(temperature=2.0, source="test"))
    warm = Diagnoser.from_dir(model)
    assert warm.confidence.temperature == 2.0
    soft = warm.diagnose(signal, 12000.0, rpm=1772.0)[0]
    logits = np.log(plain.window_probabilities.astype(np.float64))
    expected = np.exp(logits / 2.0)
    expected /= expected.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(soft.window_probabilities, expected, atol=1e-5)
    assert soft.window_probabilities.max() < plain.window_probabilities.max()
