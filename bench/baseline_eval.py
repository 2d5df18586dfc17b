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
``network`` is the model alone (no baseline) on the same windows. The judging is that of
:mod:`faultdx.train.rigout_baseline`, as in protocol ``rig-out+baseline`` (where each rig is judged by the
model of the ``rig-out`` fold that never saw it); here one model judges every rig.

    python bench/baseline_eval.py            # writes results/baseline.json
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from real_recordings import real_recordings  # noqa: E402

from faultdx.diagnose import Diagnoser  # noqa: E402
from faultdx.paths import PROJECT_ROOT  # noqa: E402
from faultdx.results import write_result  # noqa: E402
from faultdx.train.rigout_baseline import Signal, evaluate_rig, settings  # noqa: E402

RIGS = {"hit_mfs": ("hit_mfs",), "hit_self_built": ("hit_self_built",),
        "cwru": ("cwru_48k_de", "cwru_12k_de")}


def signals(datasets: tuple[str, ...]) -> list[Signal]:
    return [Signal(r.signal, r.sampling_rate, r.rpm, r.bearing, r.label) for r in real_recordings(datasets)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=str(PROJECT_ROOT / "models" / "hybrid-aprelu"))
    parser.add_argument("--rigs", nargs="*", default=list(RIGS))
    args = parser.parse_args(argv)
    diagnoser = Diagnoser.from_dir(args.model)
    rigs = {rig: evaluate_rig(diagnoser, signals(RIGS[rig])) for rig in args.rigs}
    for rig, figures in rigs.items():
        for variant in ("per_speed", "one_speed_worst"):
            for method, f in ((figures.get(variant) or {}).get("measurement") or {}).items():
                print(f"{rig:15} {variant:15} {method:12} healthy normal {100 * f['healthy_normal']:6.2f} % "
                      f"fault recall {100 * f['fault_recall']:6.2f} % type {100 * f['type_accuracy']:6.2f} %")
    write_result("baseline", {"model": Path(args.model).name, **settings(), "rigs": rigs},
                 command="python bench/baseline_eval.py " + " ".join(argv or sys.argv[1:]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
