"""The verdict on one signal (:class:`Diagnosis`): aggregate (mean of window probabilities) and per window.

**Aggregate verdict of a signal** = the mean of its windows' class probabilities. The primary answer is the
**fault type** (normal / ball / inner race / outer race) whose summed class probability is highest; its
confidence is that sum. The severity (fault size) is the most probable class within that type, and only as
meaningful as the training rig's sizes. Every window's own verdict is kept; above the calibrated
unknown-condition threshold the answers are ``"unknown"`` when the calibration says a flag replaces them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from faultdx.context import MachineContext
from faultdx.data.base import FAULT_TYPES, type_membership
from faultdx.ood import UNKNOWN, signal_score, unless_unknown


@dataclass(frozen=True)
class Diagnosis:
    """The verdict on one signal: aggregate (mean of window probabilities) and per window.

    ``window_probabilities``: ``[N, K]``; ``start``: ``[N]``; ``slopes``: ``{layer: [N, C_layer]}`` when
    asked for; ``window_unknown``: ``[N]`` unknown-condition scores (None for an uncalibrated model).
    """

    classes: tuple[str, ...]
    window_probabilities: np.ndarray
    start: np.ndarray
    slopes: dict[str, np.ndarray] | None = None
    machine: MachineContext | None = None
    window_unknown: np.ndarray | None = None
    unknown_replaces_verdict: bool = True  # the calibration's policy (faultdx.ood.OodCalibration)

    @property
    def unknown_score(self) -> float | None:
        """The signal's unknown-condition score (median over windows; above 1 = unknown), None if the model
        has no calibration."""
        return None if self.window_unknown is None else signal_score(self.window_unknown)

    @property
    def is_unknown(self) -> bool:
        """Whether the signal is beyond the calibrated threshold (unlike what the model was fitted on)."""
        score = self.unknown_score
        return score is not None and score > 1.0

    @property
    def answers_unknown(self) -> bool:
        """Whether the fault type and label are ``"unknown"``: flagged, and the calibration says a flag
        replaces the verdict (else the flag is reported beside the network's answer)."""
        return self.unknown_replaces_verdict and self.is_unknown

    @property
    def probabilities(self) -> np.ndarray:
        """Mean class probabilities over the windows ``[K]``."""
        return self.window_probabilities.mean(axis=0)

    @property
    def type_probabilities(self) -> dict[str, float]:
        """Probability of each fault type: the sum of its classes' mean probabilities."""
        summed = self.probabilities @ type_membership(self.classes)
        return {t: float(p) for t, p in zip(FAULT_TYPES, summed, strict=True)}

    @property
    def window_type_probabilities(self) -> np.ndarray:
        """``[N, 4]`` fault-type probabilities of every window (``FAULT_TYPES`` order)."""
        return self.window_probabilities @ type_membership(self.classes)

    @property
    def closest_fault_type(self) -> str:
        """The network's most probable fault type, also when the signal is unknown."""
        probs = self.type_probabilities
        return max(probs, key=probs.__getitem__)

    @property
    def fault_type(self) -> str:
        """The primary answer: the most probable fault type, or ``"unknown"``."""
        return UNKNOWN if self.answers_unknown else self.closest_fault_type

    @property
    def confidence(self) -> float:
        """Probability of :attr:`closest_fault_type` (= :attr:`fault_type` unless unknown)."""
        return self.type_probabilities[self.closest_fault_type]

    @property
    def label(self) -> str:
        """The most probable class of the chosen fault type (``inner_race_014``; ``normal``; ``unknown``)."""
        if self.answers_unknown:
            return UNKNOWN
        members = type_membership(self.classes)[:, FAULT_TYPES.index(self.fault_type)] > 0
        probs = np.where(members, self.probabilities, -1.0)
        return self.classes[int(np.argmax(probs))]

    @property
    def severity(self) -> str | None:
        """Fault size of :attr:`label` (``"0.014 in"``), None for normal or a model without sizes."""
        suffix = self.label.rsplit("_", 1)[-1]
        return f"0.{suffix} in" if self.fault_type != "normal" and suffix.isdigit() else None

    @property
    def evidence(self) -> dict[str, float | str] | None:
        """The defect frequency whose lines carry the verdict (BPFO for outer race, BPFI for inner race,
        2×BSF for a ball), in Hz at the signal's speed; None for normal or without context."""
        if self.machine is None or self.fault_type in ("normal", UNKNOWN):
            return None
        f = self.machine.frequencies()
        name, hz = {"outer_race": ("BPFO", f["bpfo"]), "inner_race": ("BPFI", f["bpfi"]),
                    "ball": ("2xBSF", 2 * f["bsf"])}[self.fault_type]
        return {"defect_frequency": name, "hz": hz}

    @property
    def window_labels(self) -> list[str]:
        return self._unless_unknown([self.classes[i] for i in np.argmax(self.window_probabilities, axis=1)])

    @property
    def window_fault_types(self) -> list[str]:
        types = [FAULT_TYPES[i] for i in np.argmax(self.window_type_probabilities, axis=1)]
        return self._unless_unknown(types)

    def _unless_unknown(self, answers: list[str]) -> list[str]:
        return unless_unknown(answers, self.window_unknown, self.unknown_replaces_verdict)

    @property
    def slope_summary(self) -> dict[str, float] | None:
        """Mean slope per layer over windows and channels."""
        if self.slopes is None:
            return None
        return {name: float(values.mean()) for name, values in self.slopes.items()}
