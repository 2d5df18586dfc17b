"""Calibrate a model directory's unknown-condition score on the splits of a run config (``faultdx model
calibrate-ood``): fit on (a sample of) the training windows, set the threshold on the validation windows.

By default every window of the splits counts, the recipe's mix included (for the shipped model: its
domain-randomised simulated machines and MFPT): what the model was trained on is what it knows.
``windows="labelled"`` keeps only the recordings of the model's own classes (CWRU through either sensor): it
flags more broken-sensor windows, but also most new machines the model diagnoses right
(``bench/ood_eval.py`` measures both)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from faultdx.data.base import WindowSet
from faultdx.data.windows import standardize
from faultdx.modeldir import load_model_dir
from faultdx.ood import OodCalibration, calibrate, network_outputs, save_calibration
from faultdx.train.config import RunConfig
from faultdx.train.prepare import PreparedData, prepare_data

MAX_FIT_WINDOWS = 4000  # enough for 10 class means and a 128 x 128 covariance; bounds the CPU time
WINDOWS = ("labelled", "all")


@dataclass
class SplitOutputs:
    """Logits ``[N, K]`` and penultimate features ``[N, D]`` of one split's windows."""

    logits: torch.Tensor
    features: torch.Tensor

    def pair(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.logits, self.features


def split_outputs(
    model: torch.nn.Module,
    windows: WindowSet,
    *,
    limit: int | None = None,
    seed: int = 0,
    labelled_only: bool = False,
) -> SplitOutputs:
    """The network's outputs on a split's windows (standardised as in training; windows without a known
    context dropped; with ``labelled_only`` those without a class too), on at most ``limit`` of them drawn
    at random."""
    keep = np.flatnonzero(windows.y >= 0) if labelled_only else np.arange(len(windows))
    if windows.context is not None:
        keep = keep[np.isfinite(windows.context[keep]).all(axis=1)]
    if limit is not None and len(keep) > limit:
        keep = np.sort(np.random.default_rng(seed).choice(keep, size=limit, replace=False))
    context = None if windows.context is None else windows.context[keep]
    logits, features = network_outputs(model, standardize(windows.x[keep]), context)
    return SplitOutputs(logits, features)


def calibrate_model_dir(
    model_dir: str | Path,
    config: RunConfig,
    *,
    config_name: str,
    method: str = "combined",
    target_rate: float = 0.01,
    max_fit_windows: int = MAX_FIT_WINDOWS,
    seed: int = 0,
    windows: str = "all",
    data: PreparedData | None = None,
) -> OodCalibration:
    """Fit the score on ``config``'s training split, threshold it on its validation split (all their windows,
    or ``windows="labelled"``), write it into ``model_dir`` (atomically) and return it. The model's classes
    must be the config's."""
    if windows not in WINDOWS:
        raise ValueError(f"windows must be one of {', '.join(WINDOWS)}, got {windows!r}")
    loaded = load_model_dir(model_dir)
    data = data or prepare_data(config)
    if tuple(loaded.meta.classes) != tuple(data.classes):
        raise ValueError(
            f"the model's classes {loaded.meta.classes} are not those of {config_name} {list(data.classes)}"
        )
    labelled = windows == "labelled"
    fit = split_outputs(loaded.model, data.splits["train"], limit=max_fit_windows, seed=seed,
                        labelled_only=labelled)
    val = split_outputs(loaded.model, data.splits["val"], labelled_only=labelled)
    which = "labelled windows (recordings of the model's classes)" if labelled else "all windows"
    info = {
        "data": {
            "config": config_name,
            "windows": windows,
            "fit": f"training split, {len(fit.logits)} {which} drawn at random (seed {seed})",
            "calibration": f"validation split, {which} with a known machine context",
            "datasets": [config.data.name, *(m.name for m in config.data.mix)],
            "split": config.split.protocol,
        },
    }
    result = calibrate(fit.pair(), val.pair(), method=method, target_rate=target_rate, info=info)
    save_calibration(model_dir, result)
    return result
