"""Classification metrics from predictions: accuracy, macro-F1, per-class precision / recall, confusion."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> np.ndarray:
    """``[K, K]`` counts; rows are true classes, columns predicted classes."""
    index = np.asarray(y_true, dtype=np.int64) * num_classes + np.asarray(y_pred, dtype=np.int64)
    return np.bincount(index, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


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
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
    present = support > 0
    return ClassificationReport(
        classes=tuple(classes),
        confusion=cm,
        accuracy=float(tp.sum() / cm.sum()),
        macro_f1=float(np.mean(f1[present])),
        precision=precision,
        recall=recall,
        f1=np.where(present, f1, np.nan),
        support=support,
    )


def _num(value: float) -> float | None:
    return None if np.isnan(value) else float(value)
