"""What a diagnosis may claim on a machine the model never saw: a confidence calibrated on held-out rigs, the
answer ``"uncertain"`` when a signal is abnormal but no defect family stands out, the agreement of a
recording's windows, and a fault size only where sizes mean something (the CWRU rig).

**Calibration.** A model directory may hold ``confidence.json``: a temperature fitted on the fault-type
log-probabilities of held-out rigs (protocol ``rig-out``, :mod:`faultdx.train.rigout`: every real rig held out
in turn, the temperature cross-fitted on the other rigs), applied to the network's logits before the softmax,
and optionally ``uncertain_below``: the share of the fault probability the leading fault type must hold for
the answer to name it. Absent, the temperature is 1 and no answer is ``"uncertain"``.

**Severity.** The network's size classes are CWRU's (0.007 / 0.014 / 0.021 in on an SKF 6205 at the CWRU
motor's 1,720-1,800 rpm). A size is reported only for a machine with that bearing at that speed; elsewhere
the severity is the evidence level of the fault type (``low`` / ``medium`` / ``high`` by its probability).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from faultdx.atomic import write_text_atomic
from faultdx.context import MachineContext
from faultdx.data.bearing import SKF_6205

CONFIDENCE_FILE = "confidence.json"
UNCERTAIN = "uncertain"
CWRU_RPM = (1700.0, 1830.0)  # the CWRU motor's 1,720-1,797 rpm, with 1-2 % margin
EVIDENCE_LEVELS = ((0.9, "high"), (0.7, "medium"), (0.0, "low"))  # fault-type probability -> level


@dataclass(frozen=True)
class ConfidencePolicy:
    """How window probabilities become claims: ``temperature`` divides the logits; ``uncertain_below`` (None:
    never) is the share of the fault probability the leading fault type needs; ``source`` says where they
    were fitted."""

    temperature: float = 1.0
    uncertain_below: float | None = None
    source: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"temperature": self.temperature, "uncertain_below": self.uncertain_below,
                "source": self.source}


DEFAULT_POLICY = ConfidencePolicy()


def load_confidence(model_dir: str | Path | None) -> ConfidencePolicy:
    """The policy stored in ``model_dir/confidence.json``; the default (temperature 1, never uncertain) when
    there is none. A malformed file is a ValueError naming it."""
    if model_dir is None or not (Path(model_dir) / CONFIDENCE_FILE).is_file():
        return DEFAULT_POLICY
    path = Path(model_dir) / CONFIDENCE_FILE
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        temperature = float(raw["temperature"])
        below = raw.get("uncertain_below")
        below = None if below is None else float(below)
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise ValueError(f"{path}: not a confidence calibration ({err})") from err
    if not math.isfinite(temperature) or not 0.05 <= temperature <= 20.0:
        raise ValueError(f"{path}: temperature must be in [0.05, 20], got {temperature}")
    if below is not None and not 0.0 < below < 1.0:
        raise ValueError(f"{path}: uncertain_below must be in (0, 1), got {below}")
    return ConfidencePolicy(temperature, below, str(raw.get("source", "")))


def save_confidence(model_dir: str | Path, policy: ConfidencePolicy) -> Path:
    """Write ``policy`` as ``model_dir/confidence.json`` (atomically)."""
    path = Path(model_dir) / CONFIDENCE_FILE
    write_text_atomic(path, json.dumps(policy.as_dict(), indent=1) + "\n")
    return path


def is_uncertain(type_probabilities: dict[str, float], policy: ConfidencePolicy) -> bool:
    """Abnormal (a fault type leads) but the leading type holds less than ``policy.uncertain_below`` of the
    fault probability: no defect family stands out."""
    if policy.uncertain_below is None:
        return False
    leading = max(type_probabilities, key=type_probabilities.__getitem__)
    faults = 1.0 - type_probabilities.get("normal", 0.0)
    share = type_probabilities[leading] / faults if faults > 0 else 1.0
    return leading != "normal" and share < policy.uncertain_below


def window_agreement(window_types: list[str], verdict: str) -> float | None:
    """Share of a recording's windows whose own fault type is the recording's (None without windows)."""
    return float(np.mean([t == verdict for t in window_types])) if window_types else None


def sizes_apply(machine: MachineContext | None, training_rig: str | None) -> bool:
    """Whether a CWRU fault size means something here: a model trained on CWRU, diagnosing an SKF 6205 at
    the CWRU motor's speed."""
    if machine is None or (training_rig or "").lower() != "cwru":
        return False
    bearing = machine.bearing
    same = (bearing.n_balls == SKF_6205.n_balls
            and math.isclose(bearing.ball_diameter, SKF_6205.ball_diameter, rel_tol=0.01)
            and math.isclose(bearing.pitch_diameter, SKF_6205.pitch_diameter, rel_tol=0.01))
    return same and CWRU_RPM[0] <= machine.rpm <= CWRU_RPM[1]


def evidence_level(probability: float) -> str:
    """``high`` / ``medium`` / ``low`` evidence of a fault type by its probability."""
    return next(level for floor, level in EVIDENCE_LEVELS if probability >= floor)
