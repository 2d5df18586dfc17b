"""Per-asset baselines on every rig with healthy recordings: which judgement keeps healthy machines normal and
still finds faults, at the baseline's speed and at other speeds (issue 21 item 3).

Rigs: HIT-SM MFS and self-built (SKF 6205, 600/900/1200 rpm, 51.2 kHz), CWRU drive end (the 48 kHz normal
baseline 97.mat at 1797 rpm against the 12 kHz drive-end faults at 1730-1797 rpm). The shipped default model
``hybrid-aprelu`` (never trained on HIT) gives the windows, their fault-type probabilities and embeddings;
:mod:`faultdx.diagnose.baseline` judges them. Variants:

- ``per_speed``: the first half of each healthy recording is the baseline; the second halves and every
  faulty recording are judged (goal: healthy windows normal >= 99 %, fault recall >= 95 %).
- ``one_speed``: one healthy recording at one speed is the baseline, in turn each speed; every other
  recording is judged (goal: >= 95 % / >= 95 %). CWRU has one healthy recording: its halves, as per_speed.

Fault recall: faulty windows judged anything but normal; type accuracy: judged the recording's fault type.
``network`` is the model alone (no baseline) on the same windows.

    python bench/baseline_eval.py            # writes results/baseline.json
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from real_recordings import real_recordings  # noqa: E402

from faultdx.data.base import FAULT_TYPES  # noqa: E402
from faultdx.diagnose import Diagnoser, Diagnosis  # noqa: E402
from faultdx.diagnose.baseline import (  # noqa: E402
    METHODS,
    Reference,
    WindowFeatures,
    embeddings,
    judge,
    line_evidence,
)
from faultdx.paths import PROJECT_ROOT  # noqa: E402
from faultdx.results import write_result  # noqa: E402

RIGS = {"hit_mfs": ("hit_mfs",), "hit_self_built": ("hit_self_built",),
        "cwru": ("cwru_48k_de", "cwru_12k_de")}
GOALS = {"per_speed": (0.99, 0.95), "one_speed": (0.95, 0.95)}
MEASUREMENT = 10  # windows of 2048 at hop 1024 and 12 kHz: about 1 s of signal


class Part:
    """One judged piece of a recording: its label, rpm, features and the network's type probabilities."""

    def __init__(self, label: str, rpm: float, features: WindowFeatures, types: np.ndarray) -> None:
        self.label, self.rpm, self.features, self.types = label, rpm, features, types


def featurise(diagnoser: Diagnoser, signal: np.ndarray, rate: float, rpm: float, label: str) -> Part:
    windows = diagnoser.windows(signal, rate, rpm=rpm, bearing="SKF 6205")
    probs = diagnoser.predict_windows(windows.x, windows.context).probabilities
    types = Diagnosis(diagnoser.classes, probs, windows.start).window_type_probabilities
    features = WindowFeatures(line_evidence(windows.x, windows.context, diagnoser.sampling_rate),
                              embeddings(diagnoser.model, windows.x, windows.context))
    return Part(label, rpm, features, types)


def score(reference: Reference, parts: list[Part]) -> dict[str, Any]:
    """Per method and level: healthy windows normal, fault recall, type accuracy over ``parts``. Level
    ``measurement``: each recording cut in measurements of ``MEASUREMENT`` windows (about 1 s), every window
    counted with its measurement's answer (what a posted signal gets); ``window``: each window alone."""
    out: dict[str, Any] = {}
    for level in ("measurement", "window"):
        for method in ("network", *METHODS):
            counts: dict[str, int] = defaultdict(int)
            for part in parts:
                for called in _answers(reference, part, method, level):
                    healthy = part.label == "normal"
                    counts["healthy" if healthy else "faulty"] += 1
                    counts["healthy_normal" if healthy else "recalled"] += (called == "normal") == healthy
                    counts["type_right"] += not healthy and called == part.label
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


def evaluate_rig(diagnoser: Diagnoser, datasets: tuple[str, ...]) -> dict[str, Any]:
    healthy: list[tuple[Part, Part]] = []  # (first half, second half) per healthy recording
    faulty: list[Part] = []
    for rec in real_recordings(datasets):
        if rec.label == "normal":
            half = rec.signal.size // 2
            healthy.append(tuple(featurise(diagnoser, s, rec.sampling_rate, rec.rpm, "normal")
                                 for s in (rec.signal[:half], rec.signal[half:])))
        else:
            faulty.append(featurise(diagnoser, rec.signal, rec.sampling_rate, rec.rpm, rec.label))
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
    keys = ("healthy_normal", "fault_recall", "type_accuracy")
    worst = {level: {m: {k: min(s[level][m][k] for s in one_speed.values()) for k in keys}
                     for m in ("network", *METHODS)} for level in ("measurement", "window")}
    return {"healthy_recordings": len(healthy), "faulty_recordings": len(faulty),
            "speeds_rpm": sorted({h[0].rpm for h in healthy} | {p.rpm for p in faulty}),
            "per_speed": per_speed, "one_speed": one_speed, "one_speed_worst": worst}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=str(PROJECT_ROOT / "models" / "hybrid-aprelu"))
    parser.add_argument("--rigs", nargs="*", default=list(RIGS))
    args = parser.parse_args(argv)
    diagnoser = Diagnoser.from_dir(args.model)
    rigs = {rig: evaluate_rig(diagnoser, RIGS[rig]) for rig in args.rigs}
    for rig, figures in rigs.items():
        for variant in ("per_speed", "one_speed_worst"):
            for method, f in ((figures.get(variant) or {}).get("measurement") or {}).items():
                print(f"{rig:15} {variant:15} {method:12} healthy normal {100 * f['healthy_normal']:6.2f} % "
                      f"fault recall {100 * f['fault_recall']:6.2f} % type {100 * f['type_accuracy']:6.2f} %")
    from faultdx.diagnose.baseline import DEFAULT_METHOD, EVIDENCE_Z, MAHALANOBIS_RATIO

    write_result("baseline", {"model": Path(args.model).name, "goals": GOALS,
                              "measurement_windows": MEASUREMENT, "default_method": DEFAULT_METHOD,
                              "evidence_z": EVIDENCE_Z,
                              "mahalanobis_ratio": MAHALANOBIS_RATIO, "rigs": rigs},
                 command="python bench/baseline_eval.py " + " ".join(argv or sys.argv[1:]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
