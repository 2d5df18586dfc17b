"""The one metrics module: accuracy, macro-F1 and ECE against hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest

from faultdx.train.metrics import accuracy, classification_report, expected_calibration_error, macro_f1


def test_macro_f1_averages_the_classes_present_in_the_truth() -> None:
    truth = np.array([0, 0, 1, 1, 2])
    predicted = np.array([0, 1, 1, 1, 3])  # class 3 is never true: left out of the mean
    f1 = [2 * 1 / (1 + 2), 2 * 2 / (3 + 2), 0.0]
    assert macro_f1(truth, predicted) == pytest.approx(np.mean(f1))
    assert accuracy(truth, predicted) == pytest.approx(3 / 5)
    report = classification_report(truth, predicted, ("a", "b", "c", "d"))
    assert report.macro_f1 == pytest.approx(np.mean(f1))
    assert report.accuracy == pytest.approx(3 / 5)


def test_ece_is_zero_when_confidence_matches_accuracy_and_large_when_overconfident() -> None:
    # 10 windows at confidence 0.8, 8 of them right: calibrated
    probs = np.tile([0.8, 0.2], (10, 1))
    truth = np.array([0] * 8 + [1] * 2)
    assert expected_calibration_error(probs, truth) == pytest.approx(0.0)
    # the same confidence, half right: a gap of 0.3
    assert expected_calibration_error(probs, np.array([0] * 5 + [1] * 5)) == pytest.approx(0.3)
    # two bins weighted by their share of windows
    probs2 = np.array([[0.95, 0.05]] * 4 + [[0.6, 0.4]] * 4)
    truth2 = np.array([0, 0, 0, 0, 0, 0, 1, 1])  # bin 0.9: 4/4 right (gap 0.05); bin 0.6: 2/4 (gap 0.1)
    assert expected_calibration_error(probs2, truth2) == pytest.approx(0.5 * 0.05 + 0.5 * 0.1)
