"""Unknown-condition score: does a window look like the data the model was calibrated on?

A classifier answers one of its classes for any input, also for a recording of another machine, a broken
sensor or a fault it never saw. This module scores every window on what the network computes anyway (no
retraining) and flags those beyond a threshold set to a stated false-alarm rate on in-distribution data.

Scores (higher = less like the calibration data):

- ``mahalanobis`` (Lee et al., NeurIPS 2018): the smallest squared Mahalanobis distance of the window's
  penultimate features (``ResNet1d.forward_with_features``) to the class means, with one covariance shared by
  all classes. A window's class is the network's own prediction, so unlabelled windows can be fitted (a class
  the network never predicts on the fit data has no mean).
- ``energy`` (Liu et al., NeurIPS 2020): ``-logsumexp(logits)``.
- ``combined``, the default: the larger of the two, each normalised at its own threshold (below), thresholded
  again. The two fail on different things (``bench/ood_eval.py``): the features of white noise sit near the
  healthy class's, while its logits are flat; a stretch of a broken sensor moves the features, not always the
  logits.

Calibration: means and covariance come from *fit* windows (the training split), the threshold from other
*calibration* windows (the validation split): the raw score above which a ``target_rate`` share of them lies.
Scores are reported normalised, ``(raw - median) / (threshold - median)`` with the calibration windows'
median: 0 is a typical in-distribution window, **1 the threshold, above 1 unknown**.

Signal rule: a signal's ``unknown_score`` is the **median** of its windows' scores, so the verdict is
``unknown`` when more than half of its windows are beyond the threshold (one odd window does not flip it).

pytorch-ood has both scores but depends on torchvision; these are a few lines each.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from faultdx import __version__
from faultdx.data.checksum import file_sha256
from faultdx.modeldir import WEIGHTS_FILE, CheckpointError, read_calibration, write_calibration
from faultdx.nn.inference import batched_forward

FORMAT = "faultdx-ood/1"
METHODS = ("combined", "mahalanobis", "energy")
PARTS = ("mahalanobis", "energy")  # what "combined" takes the larger of
UNKNOWN = "unknown"
SIGNAL_RULE = "median of the window scores > 1"
MIN_CLASS_WINDOWS = 5  # fewer fit windows than this for a class: no mean for it
SHRINKAGE = 1e-3  # ridge on the shared covariance, relative to its mean variance (dead features invert)
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class OodCalibration:
    """A fitted unknown-condition score: method, threshold (raw units) and, for Mahalanobis, the class means
    ``[K', D]`` and shared precision ``[D, D]``; for ``combined`` the ``(center, threshold)`` of each part;
    ``info`` says what it was fitted on."""

    method: str
    threshold: float
    center: float
    target_rate: float
    class_means: Tensor | None = None
    precision: Tensor | None = None
    info: dict[str, Any] = field(default_factory=dict)
    parts: dict[str, tuple[float, float]] = field(default_factory=dict)
    # Whether a signal above the threshold is answered "unknown" instead of its fault type. Off for a model
    # meant for machines it never saw (the shipped one): there a new machine itself scores as unknown.
    replaces_verdict: bool = True

    @property
    def needs_features(self) -> bool:
        """Whether the score reads the penultimate features (else the logits alone)."""
        return self.method != "energy"

    def raw(self, logits: Tensor, features: Tensor | None) -> Tensor:
        """Raw score ``[N]`` of windows with ``logits [N, K]`` (and ``features [N, D]``)."""
        if self.method == "energy":
            return energy_score(logits)
        if features is None:
            raise ValueError(f"the {self.method} score needs the penultimate features")
        distance = mahalanobis_score(features, self.class_means, self.precision)
        if self.method == "mahalanobis":
            return distance
        both = {"mahalanobis": distance, "energy": energy_score(logits)}
        return torch.stack([_normalised(both[k], *self.parts[k]) for k in PARTS]).max(dim=0).values

    def score(self, logits: Tensor, features: Tensor | None) -> np.ndarray:
        """Normalised score ``[N]`` (float32): 0 typical, 1 the threshold, above 1 unknown."""
        return normalise(self.raw(logits, features).double().numpy(), self.center, self.threshold)


def energy_score(logits: Tensor) -> Tensor:
    """``-logsumexp(logits)`` per row ``[N]``: low for the confident, peaked logits of familiar inputs."""
    return -torch.logsumexp(logits.double(), dim=1)


def mahalanobis_score(features: Tensor, means: Tensor, precision: Tensor) -> Tensor:
    """Smallest squared Mahalanobis distance ``[N]`` of ``features [N, D]`` to the rows of ``means [K, D]``.
    """
    diff = features.double()[:, None, :] - means.double()[None]  # [N, K, D]
    return torch.einsum("nkd,de,nke->nk", diff, precision.double(), diff).min(dim=1).values


def fit_gaussian(features: Tensor, groups: Tensor) -> tuple[Tensor, Tensor, list[int]]:
    """Class means ``[K', D]``, shared precision ``[D, D]`` and the groups kept (those with at least
    ``MIN_CLASS_WINDOWS`` windows) from ``features [N, D]`` grouped by ``groups [N]``."""
    features = features.double()
    kept = [int(g) for g in torch.unique(groups) if int((groups == g).sum()) >= MIN_CLASS_WINDOWS]
    if not kept:
        raise ValueError(f"no class has {MIN_CLASS_WINDOWS} or more fit windows")
    means = torch.stack([features[groups == g].mean(dim=0) for g in kept])  # [K', D]
    centred = torch.cat([features[groups == g] - means[i] for i, g in enumerate(kept)])  # [N', D]
    cov = centred.T @ centred / len(centred)
    ridge = SHRINKAGE * float(torch.diagonal(cov).mean()) + 1e-12
    precision = torch.linalg.inv(cov + ridge * torch.eye(cov.shape[0], dtype=cov.dtype))
    return means, (precision + precision.T) / 2, kept


def threshold_at(scores: np.ndarray, rate: float) -> float:
    """The raw score above which at most ``rate`` of ``scores`` lie (exactly ``floor(rate * N)`` when they
    are distinct)."""
    if not 0.0 <= rate < 1.0:
        raise ValueError(f"target false-alarm rate must be in [0, 1), got {rate}")
    ordered = np.sort(np.asarray(scores, dtype=np.float64))
    allowed = int(np.floor(rate * len(ordered)))
    return float(ordered[len(ordered) - allowed - 1])


def normalise(raw: np.ndarray, center: float, threshold: float) -> np.ndarray:
    """``(raw - center) / (threshold - center)`` as float32 (a zero spread counts as a tiny one)."""
    spread = max(threshold - center, 1e-12)
    return ((np.asarray(raw, dtype=np.float64) - center) / spread).astype(np.float32)


def _normalised(raw: Tensor, center: float, threshold: float) -> Tensor:
    return (raw.double() - center) / max(threshold - center, 1e-12)


def unless_unknown(answers: list[str], scores: np.ndarray | None, replaces: bool = True) -> list[str]:
    """Each window's answer, or ``"unknown"`` where its score is above 1 and the calibration lets a flag
    replace the verdict (``replaces``); ``scores`` None (no calibration) leaves the answers as they are."""
    if scores is None or not replaces:
        return list(answers)
    return [UNKNOWN if s > 1.0 else a for a, s in zip(answers, scores.tolist(), strict=True)]


def signal_score(window_scores: np.ndarray) -> float:
    """A signal's score from its windows' normalised scores: their median (see the module docstring)."""
    return float(np.median(window_scores))


def network_outputs(
    model: torch.nn.Module, x: np.ndarray, context: np.ndarray | None, batch_size: int = 256
) -> tuple[Tensor, Tensor]:
    """Logits ``[N, K]`` and penultimate features ``[N, D]`` of standardised windows ``x [N, C, W]``."""
    out = batched_forward(model, x, context, batch_size=batch_size, features=True)
    return out.logits, out.features


def calibrate(
    fit: tuple[Tensor, Tensor],
    calibration: tuple[Tensor, Tensor],
    *,
    method: str = "combined",
    target_rate: float = 0.01,
    info: dict[str, Any] | None = None,
) -> OodCalibration:
    """Fit the score on ``fit = (logits, features)`` and set its threshold on ``calibration`` (other
    in-distribution windows) so that ``target_rate`` of them are flagged."""
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; valid: {', '.join(METHODS)}")
    means = precision = None
    kept: list[int] = []
    parts: dict[str, tuple[float, float]] = {}
    if method != "energy":
        fit_logits, fit_features = fit
        means, precision, kept = fit_gaussian(fit_features, fit_logits.argmax(dim=1))
    if method == "combined":
        for part in PARTS:
            one = OodCalibration(part, 0.0, 0.0, target_rate, means, precision).raw(*calibration).numpy()
            parts[part] = (float(np.median(one)), threshold_at(one, target_rate))
    draft = OodCalibration(method, 0.0, 0.0, target_rate, means, precision, parts=parts)
    raw = draft.raw(*calibration).numpy()
    threshold = threshold_at(raw, target_rate)
    center = float(np.median(raw))
    flagged = float((raw > threshold).mean())
    full_info = {
        "fit_windows": int(len(fit[0])),
        "calibration_windows": int(len(raw)),
        "calibration_flagged_rate": flagged,
        "fitted_classes": kept,
        **(info or {}),
    }
    return OodCalibration(method, threshold, center, target_rate, means, precision, full_info, parts)


def save_calibration(model_dir: str | Path, calibration: OodCalibration) -> Path:
    """Write ``calibration`` into the model directory (atomically), tied to its current weights."""
    directory = Path(model_dir)
    meta = {
        "format": FORMAT,
        "method": calibration.method,
        "threshold": calibration.threshold,
        "center": calibration.center,
        "target_rate": calibration.target_rate,
        "replaces_verdict": calibration.replaces_verdict,
        "parts": {k: {"center": c, "threshold": t} for k, (c, t) in calibration.parts.items()},
        "signal_rule": SIGNAL_RULE,
        "score": "(raw - center) / (threshold - center): 0 typical, above 1 unknown",
        "weights_sha256": file_sha256(directory / WEIGHTS_FILE),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "faultdx_version": __version__,
        **{k: v for k, v in calibration.info.items() if k not in ("weights_sha256",)},
    }
    tensors = {}
    if calibration.class_means is not None:
        tensors = {"class_means": calibration.class_means, "precision": calibration.precision}
    return write_calibration(directory, tensors, meta)


def load_calibration(model_dir: str | Path) -> OodCalibration | None:
    """The model directory's calibration; None when it has none, or one fitted to other weights (logged)."""
    directory = Path(model_dir)
    stored = read_calibration(directory)
    if stored is None:
        return None
    tensors, meta = stored
    if meta.get("format") != FORMAT or meta.get("method") not in METHODS:
        raise CheckpointError(
            f"{str(directory)!r}: unknown calibration format {meta.get('format')!r} / method "
            f"{meta.get('method')!r} (this faultdx reads {FORMAT!r}: {', '.join(METHODS)})"
        )
    if meta.get("weights_sha256") != file_sha256(directory / WEIGHTS_FILE):
        log.warning("%s: its unknown-condition calibration was fitted to other weights; ignored", directory)
        return None
    if meta["method"] != "energy" and not {"class_means", "precision"} <= tensors.keys():
        raise CheckpointError(f"{str(directory)!r}: the {meta['method']} calibration lacks its tensors")
    try:
        threshold, center, rate = (float(meta[k]) for k in ("threshold", "center", "target_rate"))
        parts = {k: (float(v["center"]), float(v["threshold"])) for k, v in (meta.get("parts") or {}).items()}
    except (KeyError, TypeError, ValueError, AttributeError) as err:
        raise CheckpointError(f"{str(directory)!r}: calibration lacks threshold/center/target_rate") from err
    if meta["method"] == "combined" and set(parts) != set(PARTS):
        raise CheckpointError(f"{str(directory)!r}: the combined calibration lacks its parts {PARTS}")
    fields = ("method", "threshold", "center", "target_rate", "parts", "replaces_verdict")
    info = {k: v for k, v in meta.items() if k not in fields}
    return OodCalibration(
        meta["method"], threshold, center, rate, tensors.get("class_means"), tensors.get("precision"), info,
        parts, bool(meta.get("replaces_verdict", True)),
    )
