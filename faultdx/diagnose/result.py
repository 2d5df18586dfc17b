"""The verdict on one signal (:class:`Diagnosis`): aggregate (mean of window probabilities) and per window.

**Aggregate verdict of a signal** = the mean of its windows' class probabilities. The primary answer is the
**fault type** (normal / ball / inner race / outer race) whose summed class probability is highest; its
confidence is that sum. The severity (fault size) is the most probable class within that type, and only as
meaningful as the training rig's sizes. Every window's own verdict is kept; above the calibrated
unknown-condition threshold the answers are ``"unknown"`` when the calibration says a flag replaces them.

Its forms, the only places a diagnosis is turned into output: :meth:`Diagnosis.as_dict` (the REST answer,
``/v1`` and the page), :meth:`Diagnosis.as_row` (a flat row: batch scoring's table, the CLI's table),
:meth:`Diagnosis.as_record` (what the asset history stores). ``/v2`` sends :attr:`Diagnosis.window_labels`
and :attr:`Diagnosis.unknown_score` of the Diagnosis of its windows.

**Rounding**, one policy for every form: probabilities, confidences and slopes to :data:`PROBABILITY_DECIMALS`
(6) decimals; unknown-condition scores to :data:`SCORE_DECIMALS` (4); frequencies in Hz to :data:`HZ_DECIMALS`
(3); an estimated shaft speed to :data:`RPM_DECIMALS` (1; a given or nominal rpm is reported as it is).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import Any

import numpy as np

from faultdx.context import MachineContext
from faultdx.data.base import FAULT_TYPES, type_membership
from faultdx.diagnose.confidence import (
    DEFAULT_POLICY,
    UNCERTAIN,
    ConfidencePolicy,
    backed_type_probabilities,
    evidence_level,
    is_uncertain,
    sizes_apply,
    unbacked_by_lines,
    window_agreement,
)
from faultdx.diagnose.quality import BAD_SIGNAL, SignalQuality
from faultdx.ood import UNKNOWN, signal_score, unless_unknown

PROBABILITY_DECIMALS = 6
SCORE_DECIMALS = 4
HZ_DECIMALS = 3
RPM_DECIMALS = 1
# a row's verdict; any other fault type is "fault"
VERDICTS = {"normal": "healthy", UNKNOWN: "unknown", BAD_SIGNAL: BAD_SIGNAL}


@lru_cache(maxsize=64)
def _membership(classes: tuple[str, ...]) -> np.ndarray:
    """:func:`~faultdx.data.base.type_membership` of a model's classes, built once per class list
    (read-only): every property of a diagnosis reads it."""
    out = type_membership(classes)
    out.flags.writeable = False
    return out


@dataclass(frozen=True)
class Diagnosis:
    """The verdict on one signal: aggregate (mean of window probabilities) and per window.

    ``window_probabilities``: ``[N, K]``; ``start``: ``[N]``; ``slopes``: ``{layer: [N, C_layer]}`` when
    asked for; ``window_unknown``: ``[N]`` unknown-condition scores (None for an uncalibrated model).

    Immutable: every derived answer (fault type, label, probabilities, ...) is computed once, on first use,
    and kept (an answer's forms read each of them several times).
    """

    classes: tuple[str, ...]
    window_probabilities: np.ndarray
    start: np.ndarray
    slopes: dict[str, np.ndarray] | None = None
    machine: MachineContext | None = None
    window_unknown: np.ndarray | None = None
    unknown_replaces_verdict: bool = True  # the calibration's policy (faultdx.ood.OodCalibration)
    training_rig: str | None = None  # the dataset the model was trained on: what a severity is relative to
    quality: SignalQuality | None = None  # the signal-quality gate's verdict (None: not checked)
    policy: ConfidencePolicy = DEFAULT_POLICY  # calibration and "uncertain" rule of the model directory
    window_backing: np.ndarray | None = None  # [N, 4] envelope fault-type probabilities (the policy's gate)
    recording_lines: np.ndarray | None = None  # [3] each defect family's lines in the mean envelope spectrum
    # what an asset's baseline judges, where the diagnosing pass computed it: the envelope's line evidence
    # [N, 3] (ball, inner race, outer race) and the network's penultimate features [N, D]
    window_line_evidence: np.ndarray | None = None
    window_embeddings: np.ndarray | None = None

    @property
    def bad_signal(self) -> bool:
        """Whether the quality gate refused the signal: the answer is ``"bad_signal"``, never a fault type."""
        return self.quality is not None and not self.quality.ok

    @property
    def signal_quality(self) -> dict[str, Any] | None:
        """``{"ok": bool, "problems": [...]}`` of the quality gate (None when not checked)."""
        return None if self.quality is None else self.quality.as_dict()

    @cached_property
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

    @cached_property
    def probabilities(self) -> np.ndarray:
        """Mean class probabilities over the windows ``[K]``."""
        return self.window_probabilities.mean(axis=0)

    @property
    def type_probabilities(self) -> dict[str, float]:
        """Probability of each fault type (a copy of :attr:`_type_probabilities`)."""
        return dict(self._type_probabilities)

    @cached_property
    def _type_probabilities(self) -> dict[str, float]:
        """Probability of each fault type: the sum of its classes' mean probabilities (with the policy's
        envelope gate: the mean of the gated window probabilities)."""
        backed = self.policy.backing is not None and self.window_backing is not None
        lined = self.recording_lines is not None
        if backed or lined:
            summed = self.window_type_probabilities.mean(axis=0)
        else:
            summed = self.probabilities @ _membership(self.classes)
        return {t: float(p) for t, p in zip(FAULT_TYPES, summed, strict=True)}

    @cached_property
    def window_type_probabilities(self) -> np.ndarray:
        """``[N, 4]`` fault-type probabilities of every window (``FAULT_TYPES`` order), a leading fault type
        the envelope does not back capped below "sure", every fault type scaled down where no defect family's
        lines stand out of the recording (:func:`~faultdx.diagnose.confidence.backed_type_probabilities`;
        unchanged without the policy's gates)."""
        summed = self.window_probabilities @ _membership(self.classes)
        return backed_type_probabilities(summed, self.window_backing, self._read_policy, self.recording_lines)

    @property
    def _read_policy(self) -> ConfidencePolicy:
        """The policy as this signal's speed allows: lines read at a speed not given (estimated, refined,
        nominal) do not back a sure answer, since a speed a few percent off can put one family's line on
        another's axis (rig-out, HIT self-built, estimated speed: 11.8 % of such sure windows were wrong)."""
        given = self.machine is not None and self.machine.rpm_source == "given"
        return self.policy if given else unbacked_by_lines(self.policy)

    @cached_property
    def closest_fault_type(self) -> str:
        """The network's most probable fault type, also when the signal is unknown."""
        probs = self._type_probabilities
        return max(probs, key=probs.__getitem__)

    @cached_property
    def fault_type(self) -> str:
        """The primary answer: the most probable fault type, ``"unknown"``, or ``"bad_signal"`` when the
        quality gate refused the signal (the network's answer stays in :attr:`closest_fault_type`)."""
        if self.bad_signal:
            return BAD_SIGNAL
        if self.answers_unknown:
            return UNKNOWN
        agreement = window_agreement(self.window_fault_types, self.closest_fault_type)
        if is_uncertain(self._type_probabilities, self.policy, agreement) or self.speed_ambiguous:
            return UNCERTAIN
        return self.closest_fault_type

    @property
    def speed_ambiguous(self) -> bool:
        """A fault type read at an estimated speed that an octave or sub-harmonic explains nearly as well:
        the defect axes may sit at the wrong place, so the type is not guessed (``"uncertain"``, the
        network's answer in :attr:`closest_fault_type`); a healthy answer does not depend on the speed."""
        machine = self.machine
        return (machine is not None and machine.rpm_ambiguous and machine.rpm_source == "estimated"
                and self.closest_fault_type != "normal")

    @property
    def confidence(self) -> float:
        """Probability of :attr:`closest_fault_type` (= :attr:`fault_type` unless unknown)."""
        return self._type_probabilities[self.closest_fault_type]

    @cached_property
    def label(self) -> str:
        """The most probable class of the chosen fault type (``inner_race_014``; ``normal``; ``unknown``;
        ``bad_signal``)."""
        if self.bad_signal:
            return BAD_SIGNAL
        if self.answers_unknown:
            return UNKNOWN
        if self.fault_type == UNCERTAIN:
            return UNCERTAIN
        members = _membership(self.classes)[:, FAULT_TYPES.index(self.fault_type)] > 0
        probs = np.where(members, self.probabilities, -1.0)
        return self.classes[int(np.argmax(probs))]

    @cached_property
    def severity(self) -> str | None:
        """Fault size of :attr:`label` (``"0.014 in"``) where CWRU sizes apply (the CWRU rig; see
        :func:`~faultdx.diagnose.confidence.sizes_apply`), else the fault type's evidence level (``"high
        evidence"``); None for normal, unknown, uncertain or a bad signal."""
        if self.fault_type in ("normal", UNKNOWN, UNCERTAIN, BAD_SIGNAL):
            return None
        suffix = self.label.rsplit("_", 1)[-1]
        if suffix.isdigit() and self._sizes_apply:
            return f"0.{suffix} in"
        return f"{evidence_level(self.confidence)} evidence"

    @property
    def _sizes_apply(self) -> bool:
        return sizes_apply(self.machine, self.training_rig) or (
            self.machine is None and (self.training_rig or "").lower() == "cwru")

    @property
    def evidence(self) -> dict[str, float | str] | None:
        """The defect frequency whose lines carry the verdict (BPFO for outer race, BPFI for inner race,
        2×BSF for a ball), in Hz at the signal's speed; None for normal or without context."""
        if self.machine is None or self.fault_type in ("normal", UNKNOWN, UNCERTAIN, BAD_SIGNAL):
            return None
        f = self.machine.frequencies()
        name, hz = {"outer_race": ("BPFO", f["bpfo"]), "inner_race": ("BPFI", f["bpfi"]),
                    "ball": ("2xBSF", 2 * f["bsf"])}[self.fault_type]
        return {"defect_frequency": name, "hz": hz}

    @property
    def defect_lines(self) -> dict[str, Any] | None:
        """How far each defect family's lines stand out of the signal's mean envelope spectrum (peak over
        floor, by fault type), the strongest, the level a fault verdict needs (``needed``; None: no gate)
        and whether they reach it; None where the policy does not read them."""
        lines = self.recording_lines
        if lines is None:
            return None
        needed, strongest = self.policy.lines_below, float(np.max(lines))
        return {"by_fault_type": {t: round(float(v), 3) for t, v in zip(FAULT_TYPES[1:], lines, strict=True)},
                "strongest": round(strongest, 3), "needed": needed,
                "stand_out": None if needed is None else bool(strongest >= needed)}

    @cached_property
    def window_labels(self) -> list[str]:
        return self._unless_unknown([self.classes[i] for i in np.argmax(self.window_probabilities, axis=1)])

    @cached_property
    def window_fault_types(self) -> list[str]:
        types = [FAULT_TYPES[i] for i in np.argmax(self.window_type_probabilities, axis=1)]
        return self._unless_unknown(types)

    def _unless_unknown(self, answers: list[str]) -> list[str]:
        if self.bad_signal:
            return [BAD_SIGNAL] * len(answers)
        return unless_unknown(answers, self.window_unknown, self.unknown_replaces_verdict)

    @property
    def slope_summary(self) -> dict[str, float] | None:
        """Mean slope per layer over windows and channels."""
        if self.slopes is None:
            return None
        return {name: float(values.mean()) for name, values in self.slopes.items()}

    @property
    def severity_note(self) -> str | None:
        """How far the severity carries over (a fault size as on the training rig); None without one."""
        if self.severity is None:
            return None
        if not self.severity.endswith(" in"):
            return ("evidence level of the fault type (probability >= 0.9 high, >= 0.7 medium); a fault size "
                    "is given only on the CWRU rig (SKF 6205 at the CWRU motor's speed)")
        return f"fault size as on the training rig ({(self.training_rig or 'unknown').upper()}); rig-specific"

    # -- forms -----------------------------------------------------------------------------------------------
    def as_dict(self, *, windows: bool = True, rpm_note: str | None = None) -> dict[str, Any]:
        """The REST answer for this signal: fault type and confidence first, then class, severity, evidence,
        machine context, mean class probabilities and (``windows``) every window's verdict; slopes when the
        diagnosis has them. ``rpm_note`` is reported as ``machine.rpm_estimate_accuracy`` of an estimated
        speed."""
        machine = machine_dict(self.machine, rpm_note)
        evidence = self.evidence
        out: dict[str, Any] = {
            "fault_type": self.fault_type,
            "confidence": _probability(self.confidence),
            "unknown_score": _score(self.unknown_score),
            "closest_fault_type": self.closest_fault_type,
            "window_agreement": _agreement(self.window_fault_types, self.fault_type),
            "signal_quality": self.signal_quality,
            "defect_lines": self.defect_lines,
            "type_probabilities": {k: _probability(v) for k, v in self._type_probabilities.items()},
            "label": self.label,
            "severity": self.severity,
            "severity_note": self.severity_note,
            "evidence": None if evidence is None else {**evidence, "hz": _hz(evidence["hz"])},
            "machine": machine,
            "probabilities": dict(zip(self.classes, _probabilities(self.probabilities), strict=True)),
        }
        if windows:
            out["windows"] = self.window_dicts()
        if self.slopes is not None:
            out["slopes"] = {k: _probabilities(v) for k, v in self.slopes.items()}
            out["slope_summary"] = {k: _probability(v) for k, v in (self.slope_summary or {}).items()}
        if machine is not None:
            out["defect_frequencies_hz"] = machine["defect_frequencies_hz"]
        return out

    def window_dicts(self) -> list[dict[str, Any]]:
        """Every window's verdict: first sample, fault type, label, its probability, all class probabilities
        and its unknown-condition score (None without a calibration)."""
        probs = np.round(self.window_probabilities.astype(np.float64), PROBABILITY_DECIMALS)
        best = np.argmax(self.window_probabilities, axis=1).tolist()
        unknown = self.window_unknown
        scores = [None] * len(best) if unknown is None else [_score(v) for v in unknown.tolist()]
        rows = zip(self.start.tolist(), self.window_fault_types, self.window_labels, best, probs, scores,
                   strict=True)
        return [
            {"start": int(start), "fault_type": fault_type, "label": label, "confidence": float(p[k]),
             "probabilities": dict(zip(self.classes, p.tolist(), strict=True)), "unknown_score": score}
            for start, fault_type, label, k, p, score in rows
        ]

    def as_row(self) -> dict[str, Any]:
        """A flat row (batch scoring's table, the CLI's table): verdict (healthy / fault / unknown), fault
        type, class, severity, confidence, ``p_<fault type>``, unknown score and flag, rpm and bearing with
        their sources, the evidence line and the number of windows."""
        evidence, context = self.evidence, self.context_fields()
        return {
            "verdict": VERDICTS.get(self.fault_type, "fault"),
            "fault_type": self.fault_type,
            "closest_fault_type": self.closest_fault_type,
            "label": self.label,
            "severity": self.severity,
            "confidence": _probability(self.confidence),
            **{f"p_{name}": _probability(p) for name, p in self._type_probabilities.items()},
            "unknown_score": context["unknown_score"],
            "unknown_flag": self.is_unknown,
            **{k: context[k] for k in ("signal_ok", "signal_problems", "rpm", "rpm_source", "bearing",
                                       "bearing_source")},
            "evidence": None if evidence is None else evidence["defect_frequency"],
            "evidence_hz": None if evidence is None else _hz(evidence["hz"]),
            "windows": len(self.start),
        }

    def context_fields(self) -> dict[str, Any]:
        """The fields of :meth:`as_row` that do not depend on the verdict: unknown score, signal quality, rpm
        and bearing with their sources (``/v2`` sends them without computing a fault-type verdict)."""
        machine, quality = self.machine, self.quality
        return {
            "unknown_score": _score(self.unknown_score),
            "signal_ok": None if quality is None else quality.ok,
            "signal_problems": None if quality is None else ",".join(quality.kinds),
            "rpm": None if machine is None else _rpm(machine),
            "rpm_source": None if machine is None else machine.rpm_source,
            "bearing": None if machine is None else machine.bearing.name or "custom",
            "bearing_source": None if machine is None else machine.bearing_source,
        }

    def as_record(self) -> dict[str, Any]:
        """What the asset history stores of this diagnosis: verdict, confidence, fault-type probabilities,
        severity, unknown score and the machine context (rpm, its source, defect frequencies)."""
        machine = self.machine
        return {
            "fault_type": self.fault_type,
            "label": self.label,
            "confidence": _probability(self.confidence),
            "type_probabilities": {k: _probability(v) for k, v in self._type_probabilities.items()},
            "severity": self.severity,
            "unknown_score": _score(self.unknown_score),
            "signal_quality": self.signal_quality,
            "rpm": None if machine is None else _rpm(machine),
            "rpm_source": None if machine is None else machine.rpm_source,
            "defect_frequencies": None if machine is None else {
                k: _hz(v) for k, v in machine.frequencies().items()},
        }


def machine_dict(machine: MachineContext | None, rpm_note: str | None = None) -> dict[str, Any] | None:
    """A machine context as answers report it: rpm and where it came from, bearing and where it came from,
    defect frequencies in Hz; an estimated rpm carries ``rpm_estimate_accuracy`` (``rpm_note``)."""
    if machine is None:
        return None
    out = machine.describe()
    out["rpm"] = _rpm(machine)
    out["defect_frequencies_hz"] = {k: _hz(v) for k, v in out["defect_frequencies_hz"].items()}
    if machine.rpm_source == "estimated":
        out["rpm_estimate_accuracy"] = rpm_note
    return out


def _agreement(window_types: list[str], verdict: str) -> float | None:
    """Share of the windows answering the signal's verdict (how much the recording's windows agree)."""
    share = window_agreement(window_types, verdict)
    return None if share is None else _probability(share)


def _probability(value: float) -> float:
    return round(float(value), PROBABILITY_DECIMALS)


def _probabilities(values: np.ndarray) -> list:
    return np.round(np.asarray(values, dtype=np.float64), PROBABILITY_DECIMALS).tolist()


def _score(value: float | None) -> float | None:
    return None if value is None else round(float(value), SCORE_DECIMALS)


def _hz(value: float) -> float:
    return round(float(value), HZ_DECIMALS)


def _rpm(machine: MachineContext) -> float:
    return round(machine.rpm, RPM_DECIMALS) if machine.rpm_source == "estimated" else machine.rpm
