"""Protocol ``rig-out+baseline``: per-asset baselines on every held-out rig with healthy recordings, judged by
the model that never saw that rig (issue 21 item 3).

Each ``rig-out`` fold's model (trained on the other rigs and the simulator) gives the held-out rig's windows,
fault-type probabilities and embeddings; :mod:`faultdx.diagnose.baseline` judges them against a baseline of
healthy windows. Variants, per held-out rig:

- ``per_speed``: the first half of each healthy recording is the baseline (a commissioning measurement at each
  operating speed); the second halves and every faulty recording are judged. Goal: healthy windows normal
  >= 99 %, fault recall >= 95 %.
- ``one_speed``: one healthy recording at one speed is the baseline, each speed in turn; every other recording
  is judged (the baseline must carry across speeds). Goal: >= 95 % / >= 95 %. A rig with one healthy
  recording uses its halves, as ``per_speed``.

Each window is counted with the answer of its measurement (``MEASUREMENT`` windows, about 1 s: what a posted
signal gets) and, separately, alone. ``network`` is the model with no baseline on the same windows. A rig
without healthy recordings (MFPT) is reported as skipped.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from faultdx.data.base import FAULT_TYPES
from faultdx.diagnose import Diagnoser
from faultdx.diagnose.baseline import (
    CORROBORATED_Z,
    DEFAULT_METHOD,
    EVIDENCE_Z,
    FAULT_NAMED_AT,
    MAHALANOBIS_RATIO,
    METHODS,
    Reference,
    WindowFeatures,
    embeddings,
    judge,
    line_evidence,
)
from faultdx.train.rigout import RULES

GOALS = {"per_speed": (0.99, 0.95), "one_speed": (0.95, 0.95)}  # (healthy windows normal, fault recall)
MEASUREMENT = 10  # windows of 2048 at hop 1024 and 12 kHz: about 1 s of signal
FIGURES = ("healthy_normal", "fault_recall", "type_accuracy")


@dataclass(frozen=True)
class Signal:
    """One recording (or a part of one) to judge: 1-D samples, rate, stated rpm, bearing, true fault type."""

    samples: np.ndarray
    sampling_rate: float
    rpm: float
    bearing: Any
    fault_type: str


@dataclass(frozen=True)
class Part:
    """One judged signal: its fault type, rpm, window features and the network's type probabilities."""

    fault_type: str
    rpm: float
    features: WindowFeatures
    types: np.ndarray


def featurise(diagnoser: Diagnoser, signal: Signal) -> Part:
    """The network's view of ``signal``: per window the type probabilities (under the diagnoser's confidence
    policy, as the service states them), line evidence and embedding."""
    windows = diagnoser.windows(signal.samples, signal.sampling_rate, rpm=signal.rpm, bearing=signal.bearing)
    probs = diagnoser.predict_windows(windows.x, windows.context).probabilities
    types = diagnoser.aggregate(windows, probs).window_type_probabilities
    features = WindowFeatures(line_evidence(windows.x, windows.context, diagnoser.sampling_rate),
                              embeddings(diagnoser.model, windows.x, windows.context))
    return Part(signal.fault_type, signal.rpm, features, types)


def score(reference: Reference, parts: list[Part]) -> dict[str, Any]:
    """Per level (``measurement``, ``window``) and method: healthy windows normal, fault recall and type
    accuracy over ``parts``."""
    out: dict[str, Any] = {}
    for level in ("measurement", "window"):
        for method in ("network", *METHODS):
            counts: dict[str, int] = defaultdict(int)
            for part in parts:
                healthy = part.fault_type == "normal"
                for called in _answers(reference, part, method, level):
                    counts["healthy" if healthy else "faulty"] += 1
                    counts["healthy_normal" if healthy else "recalled"] += (called == "normal") == healthy
                    counts["type_right"] += not healthy and called == part.fault_type
            out.setdefault(level, {})[method] = {
                "healthy_windows": counts["healthy"], "faulty_windows": counts["faulty"],
                "healthy_normal": counts["healthy_normal"] / max(counts["healthy"], 1),
                "fault_recall": counts["recalled"] / max(counts["faulty"], 1),
                "type_accuracy": counts["type_right"] / max(counts["faulty"], 1),
            }
    return out


def _answers(reference: Reference, part: Part, method: str, level: str) -> list[str]:
    """One answer per window of ``part``."""
    if method == "network":
        if level == "window":
            return [FAULT_TYPES[k] for k in part.types.argmax(axis=1)]
        return [t for s in _slices(len(part.types)) for t in
                [FAULT_TYPES[int(part.types[s].mean(axis=0).argmax())]] * (s.stop - s.start)]
    if level == "window":
        return judge(reference, part.features, part.types, method, part.rpm).window_fault_types
    out = []
    for s in _slices(len(part.types)):
        piece = WindowFeatures(part.features.evidence[s], None if part.features.embedding is None
                               else part.features.embedding[s])
        out += [judge(reference, piece, part.types[s], method, part.rpm).fault_type] * (s.stop - s.start)
    return out


def _slices(n: int) -> list[slice]:
    """Measurements of ``MEASUREMENT`` windows covering all ``n`` (the last takes the remainder)."""
    starts = list(range(0, max(n - MEASUREMENT + 1, 1), MEASUREMENT))
    return [slice(s, starts[i + 1] if i + 1 < len(starts) else n) for i, s in enumerate(starts)]


def evaluate_rig(diagnoser: Diagnoser, signals: Iterable[Signal]) -> dict[str, Any]:
    """Both variants on one rig's recordings, every method; ``skipped`` without healthy or faulty ones."""
    healthy: list[tuple[Part, Part]] = []  # (first half, second half) per healthy recording
    faulty: list[Part] = []
    for signal in signals:
        if signal.fault_type != "normal":
            faulty.append(featurise(diagnoser, signal))
            continue
        half = signal.samples.shape[-1] // 2
        first, second = (Signal(s, signal.sampling_rate, signal.rpm, signal.bearing, "normal")
                         for s in (signal.samples[..., :half], signal.samples[..., half:]))
        healthy.append((featurise(diagnoser, first), featurise(diagnoser, second)))
    if not healthy or not faulty:
        return {"skipped": f"{len(healthy)} healthy, {len(faulty)} faulty recordings present"}
    per_speed = score(Reference.fit([h[0].features for h in healthy], [h[0].rpm for h in healthy]),
                      [h[1] for h in healthy] + faulty)
    one_speed = {}
    for i, (first, second) in enumerate(healthy):
        if len(healthy) == 1:  # one healthy recording: its first half is the baseline
            reference, judged = Reference.fit([first.features], [first.rpm]), [second]
        else:
            reference = Reference.fit([first.features, second.features], [first.rpm])
            judged = [p for j, h in enumerate(healthy) if j != i for p in h]
        one_speed[f"{first.rpm:g}"] = score(reference, judged + faulty)
    worst = {level: {m: {k: min(s[level][m][k] for s in one_speed.values()) for k in FIGURES}
                     for m in ("network", *METHODS)} for level in ("measurement", "window")}
    return {"healthy_recordings": len(healthy), "faulty_recordings": len(faulty),
            "speeds_rpm": sorted({h[0].rpm for h in healthy} | {p.rpm for p in faulty}),
            "per_speed": per_speed, "one_speed": one_speed, "one_speed_worst": worst}


def settings() -> dict[str, Any]:
    """What every baseline result states beside its figures (goals, thresholds, measurement length)."""
    return {"goals": GOALS, "measurement_windows": MEASUREMENT, "default_method": DEFAULT_METHOD,
            "evidence_z": EVIDENCE_Z, "corroborated_z": CORROBORATED_Z, "network_sure": FAULT_NAMED_AT,
            "mahalanobis_ratio": MAHALANOBIS_RATIO}


def mean_figures(per_seed: list[dict[str, Any]]) -> dict[str, Any]:
    """The figures of several seeds' :func:`evaluate_rig` averaged leaf by leaf (counts and speeds kept)."""
    first = per_seed[0]
    if isinstance(first, dict):
        return {k: mean_figures([d[k] for d in per_seed]) for k in first}
    if isinstance(first, float):
        return float(np.mean(per_seed))
    return first


def run_rig_out_baseline(
    runs: dict[str, list[Path]],
    recordings: Callable[[str], list[Signal]],
    *,
    selection: str = "best",
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Per held-out rig: each of its fold's finished runs (``runs[fold]``: run folders of ``rig-out``) judged
    with its ``selection`` checkpoint on ``recordings(fold)``; the figures per seed and their mean."""
    rigs: dict[str, Any] = {}
    per_run: dict[str, Any] = {}
    for fold, run_dirs in runs.items():
        signals = recordings(fold)
        figures = []
        for run_dir in run_dirs:
            diagnoser = Diagnoser.from_dir(run_dir / selection)
            diagnoser.confidence = RULES  # a fold's model under the rules the shipped model stores
            figures.append(evaluate_rig(diagnoser, signals))
            per_run[str(run_dir)] = figures[-1]
            log(f"judged {fold} with {run_dir.name}")
        skipped = [f for f in figures if "skipped" in f]
        rigs[fold] = skipped[0] if skipped or not figures else {**mean_figures(figures), "runs": len(figures)}
    return {**settings(), "selection": selection, "rigs": rigs, "runs": per_run}


def fold_signals(config: Any) -> list[Signal]:
    """The held-out rig's recordings of a ``rig-out`` fold config, as signals to judge."""
    from faultdx.train.rigout import test_recordings

    return [Signal(r.signal[0], r.sampling_rate, float(r.rpm), r.bearing, r.fault_type)
            for r in test_recordings(config).values()]


def run_protocol(
    recipe: Any,
    seeds: list[int],
    out: Path,
    overrides: list[str] | None = None,
    *,
    train: bool = True,
    log: Callable[[str], None] = print,
    results_name: str = "rig_out_baseline",
) -> dict[str, Any]:
    """``faultdx compare --protocols rig-out+baseline``: train the ``rig-out`` folds x seeds of ``recipe``
    not finished yet (unless ``train`` is False), judge each held-out rig against its baselines, write
    ``results/<results_name>.json``; returns its data."""
    from faultdx.results import write_result
    from faultdx.train.compare import train_missing
    from faultdx.train.protocols import PROTOCOLS, plan, run_config

    out, overrides = Path(out), list(overrides or [])
    runs = plan([PROTOCOLS["rig-out"]], [recipe], seeds)
    for i, run in enumerate(runs if train else [], start=1):
        train_missing(out / run.name, lambda run=run: run_config({}, run, out, overrides),
                      label=f"[{i}/{len(runs)}] {run.name}", log=log)
    finished: dict[str, list[Path]] = {}
    configs: dict[str, Any] = {}
    for run in runs:
        configs.setdefault(run.fold.name, run_config({}, run, out, overrides))
        if (out / run.name / "best").is_dir():
            finished.setdefault(run.fold.name, []).append(out / run.name)
    data = run_rig_out_baseline(finished, lambda fold: fold_signals(configs[fold]), log=log)
    data.update(recipe=recipe.name, seeds=seeds, out=str(out))
    log(f"wrote {write_result(results_name, data)}")
    return data
