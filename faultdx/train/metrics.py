"""Classification metrics from predictions, the one place they are computed: accuracy, macro-F1, expected
calibration error (ECE), per-class precision / recall, confusion. Inputs are numpy arrays of class indices
(or probabilities for ECE)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> np.ndarray:
    """``[K, K]`` counts; rows are true classes, columns predicted classes."""
    index = np.asarray(y_true, dtype=np.int64) * num_classes + np.asarray(y_pred, dtype=np.int64)
    return np.bincount(index, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Share of predictions equal to the truth (NaN when there are none)."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    return float(np.mean(y_true == y_pred)) if y_true.size else float("nan")


def f1_scores(y_true: np.ndarray, y_pred: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """F1 of each of ``labels``: ``2 tp / (predicted + true)`` (0 where a label is neither predicted nor
    true)."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    scores = []
    for label in labels:
        tp = int(np.sum((y_pred == label) & (y_true == label)))
        denominator = int(np.sum(y_pred == label)) + int(np.sum(y_true == label))
        scores.append(2 * tp / denominator if denominator else 0.0)
    return np.asarray(scores, dtype=np.float64)


def macro_f1(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Mean F1 over the classes present in ``y_true`` (0 when there is no sample)."""
    labels = np.unique(np.asarray(y_true))
    return float(np.mean(f1_scores(y_true, y_pred, labels))) if labels.size else 0.0


def expected_calibration_error(probs: np.ndarray, truth: np.ndarray, bins: int = 10) -> float:
    """ECE of the top-class confidence of ``probs [N, K]``: over ``bins`` equal-width confidence bins, the
    sample-weighted mean of |accuracy - mean confidence| (0 = a stated 90 % is right 90 % of the time)."""
    probs, truth = np.asarray(probs), np.asarray(truth)
    if len(truth) == 0:
        return float("nan")
    confidence = probs.max(axis=1)
    right = probs.argmax(axis=1) == truth
    which = np.minimum((confidence * bins).astype(int), bins - 1)
    gaps = [abs(right[which == b].mean() - confidence[which == b].mean()) * np.mean(which == b)
            for b in range(bins) if np.any(which == b)]
    return float(np.sum(gaps))


@dataclass
class ClassificationReport:
    """Metrics of one prediction run; classes absent from ``y_true`` have recall NaN and are left out of
    macro-F1."""

    classes: tuple[str, ...]
    confusion: np.ndarray
    accuracy: float
    macro_f1: float
    precision: np.ndarray
    recall: np.ndarray
    f1: np.ndarray
    support: np.ndarray

    def as_dict(self) -> dict:
        per_class = {
            c: {
                "precision": _num(self.precision[i]),
                "recall": _num(self.recall[i]),
                "f1": _num(self.f1[i]),
                "support": int(self.support[i]),
            }
            for i, c in enumerate(self.classes)
        }
        return {"accuracy": self.accuracy, "macro_f1": self.macro_f1, "per_class": per_class}


def classification_report(
    y_true: np.ndarray, y_pred: np.ndarray, classes: tuple[str, ...]
) -> ClassificationReport:
    """Compute every metric from true and predicted class indices."""
    if len(y_true) == 0:
        raise ValueError("no samples to score")
    cm = confusion_matrix(y_true, y_pred, len(classes))
    tp = np.diag(cm).astype(np.float64)
    support = cm.sum(axis=1)
    predicted = cm.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.where(predicted > 0, tp / predicted, 0.0)
        recall = np.where(support > 0, tp / support, np.nan)
    f1 = f1_scores(y_true, y_pred, np.arange(len(classes)))
    present = support > 0
    return ClassificationReport(
        classes=tuple(classes),
        confusion=cm,
        accuracy=accuracy(y_true, y_pred),
        macro_f1=macro_f1(y_true, y_pred),
        precision=precision,
        recall=recall,
        f1=np.where(present, f1, np.nan),
        support=support,
    )


def _num(value: float) -> float | None:
    return None if np.isnan(value) else float(value)
