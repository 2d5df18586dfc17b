"""An asset's healthy baseline: what is kept of a healthy reference recording, and how a later measurement of
the same asset is judged against it (the way plants work: commissioning measurements, then deviations).

Kept per baseline window (``features``, plain JSON in the monitoring database):

- ``evidence``: log line evidence of the three defect families — 2×BSF (ball), BPFI (inner race), BPFO (outer
  race) — in the window's envelope spectrum, each line's peak over the floor around it at harmonics 1-3
  (:meth:`faultdx.baselines.envelope.EnvelopeReference.evidence`). The lines sit at the window's own defect
  orders (its rpm and the bearing), so the same machine gives the same levels at another speed.
- ``embedding``: the network's penultimate features (for the Mahalanobis judgement of :mod:`faultdx.ood`).

Judgements (``METHODS``; the service uses :data:`DEFAULT_METHOD`, chosen by ``bench/baseline_eval.py``):

- ``evidence``: per family, a robust z-score of the window's level against the baseline windows' levels
  (median, MAD); the window deviates when its largest z passes :data:`EVIDENCE_Z`. Its fault type: the one
  that deviates most.
- ``mahalanobis``: squared Mahalanobis distance of the window's embedding to the baseline windows (mean and
  shrunk covariance) over the 99th percentile of held-out baseline windows' distances (each half of a
  recording scored by a fit on the other halves); deviates above :data:`MAHALANOBIS_RATIO`; its fault type
  is the network's most probable fault.
- ``both`` / ``either``: deviates when both / either of the above say so.
- *Corroboration*, in every method: where the answer without a baseline names a fault (the network's fault
  probability as the confidence policy states it, :data:`FAULT_NAMED_AT` or more: under a lines-gated policy
  only where some defect family's lines stand out of the recording) and the family it names rose
  :data:`CORROBORATED_Z` above the baseline, the window deviates, with that family: two independent
  witnesses of one family need less of each. A line already there at commissioning does not rise, so the
  baseline still silences a machine that always looked like this; a baseline measured at another speed no
  longer hides a fault the answer sees (``rig-out+baseline``, HIT self-built, one speed, fold models: 82.8
  -> 94.1 % of faulty measurements found, healthy still 100 %, with a sure network and z 1 before).
- ``speed_aware``: ``mahalanobis`` when a baseline recording was measured within :data:`SPEED_TOLERANCE` of
  the signal's speed (the network's features move with the speed it is told), else ``evidence`` (line levels
  at the defect orders carry across speeds).

A measurement (signal) deviates when the median of its windows' scores over the method's threshold —
its ``distance`` — is above 1; then its fault type is the most common one of its deviating windows,
else ``normal``. Single windows are noisier than a measurement: ``window_fault_types`` judges each alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from faultdx.data.base import FAULT_TYPES
from faultdx.diagnose.confidence import window_line_evidence

FAMILIES = FAULT_TYPES[1:]  # ball, inner_race, outer_race: the order of EnvelopeReference.evidence
METHODS = ("evidence", "mahalanobis", "both", "either", "speed_aware")
DEFAULT_METHOD = "speed_aware"
SPEED_TOLERANCE = 0.1  # a baseline recording covers speeds within ±10 % of its own
# thresholds on a measurement's median window score, set on the rigs of bench/baseline_eval.py
EVIDENCE_Z = 1.5  # robust z of a defect family's log line level
CORROBORATED_Z = 0.5  # robust z of the family the answer names (half a robust spread above the baseline)
FAULT_NAMED_AT = 0.5  # fault probability (1 - p(normal), as the policy states it) from which it names one
MAHALANOBIS_RATIO = 0.45  # times the 99th-percentile distance of held-out baseline windows
MIN_MAD = 0.05  # floor of a family's MAD (log units): a flat baseline does not make every change infinite
SHRINKAGE = 0.1
FEATURES_VERSION = 1


@dataclass(frozen=True)
class WindowFeatures:
    """What a judgement reads of windows: ``evidence [N, 3]`` (log) and ``embedding [N, D]`` (or None)."""

    evidence: np.ndarray
    embedding: np.ndarray | None = None

    def to_json(self, decimals: int = 4) -> dict[str, Any]:
        """Plain JSON (rounded) for the database."""
        out: dict[str, Any] = {"version": FEATURES_VERSION,
                               "evidence": np.round(self.evidence, decimals).tolist()}
        if self.embedding is not None:
            out["embedding"] = np.round(self.embedding, decimals).tolist()
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> WindowFeatures:
        embedding = data.get("embedding")
        return cls(np.asarray(data["evidence"], dtype=np.float64).reshape(-1, len(FAMILIES)),
                   None if embedding is None else np.asarray(embedding, dtype=np.float64))

    @staticmethod
    def concat(parts: Sequence[WindowFeatures]) -> WindowFeatures:
        embeddings = [p.embedding for p in parts]
        return WindowFeatures(np.concatenate([p.evidence for p in parts]),
                              None if any(e is None for e in embeddings) else np.concatenate(embeddings))


def line_evidence(x: np.ndarray, context: np.ndarray, sampling_rate: float) -> np.ndarray:
    """``[N, 3]`` log line evidence (ball, inner race, outer race) of standardised windows ``x [N, C, W]`` at
    ``sampling_rate`` with their context vectors ``[N, 5]`` (defect frequencies in cycles per sample)."""
    return _log(window_line_evidence(x, context, sampling_rate))


def _log(evidence: np.ndarray) -> np.ndarray:
    return np.log(np.maximum(evidence.astype(np.float64), 1e-12))


def diagnosis_features(diagnosis: Any) -> WindowFeatures | None:
    """What the pass that diagnosed a signal already computed of its windows (the envelope's line evidence,
    the network's penultimate features: :attr:`faultdx.diagnose.result.Diagnosis.window_line_evidence`), so
    that judging it costs no second pass; None where that pass computed either not (a policy that reads no
    envelope, a model whose unknown-condition score reads no features, windows other than the model's own)."""
    evidence, embedding = diagnosis.window_line_evidence, diagnosis.window_embeddings
    if evidence is None or embedding is None:
        return None
    return WindowFeatures(_log(evidence), embedding.astype(np.float64))


def embeddings(model: torch.nn.Module, x: np.ndarray, context: np.ndarray) -> np.ndarray | None:
    """The network's penultimate features ``[N, D]`` (None for a model without them, e.g. envelope)."""
    from faultdx.ood import network_outputs

    if not hasattr(model, "forward_with_features"):
        return None
    _, features = network_outputs(model, x, context)
    return features.double().numpy()


@dataclass(frozen=True)
class Reference:
    """The statistics of an asset's baseline windows that judgements compare with."""

    recordings: int
    windows: int
    speeds: tuple[float, ...]  # rpm of the recordings that state one
    median: np.ndarray  # [3] per family
    spread: np.ndarray  # [3] 1.4826 · MAD, floored
    mean: np.ndarray | None = None  # [D]
    precision: np.ndarray | None = None  # [D, D]
    scale: float | None = None  # the baseline's own 99th-percentile Mahalanobis distance

    @classmethod
    def fit(cls, recordings: Sequence[WindowFeatures], speeds: Sequence[float | None] = ()) -> Reference:
        """From the features of every baseline recording (at least one window in all) and their rpm."""
        merged = WindowFeatures.concat(recordings)
        evidence = merged.evidence
        if len(evidence) == 0:
            raise ValueError("a baseline needs at least one window")
        median = np.median(evidence, axis=0)
        spread = np.maximum(1.4826 * np.median(np.abs(evidence - median), axis=0), MIN_MAD)
        mean = precision = scale = None
        if merged.embedding is not None and len(merged.embedding) >= 4:
            mean, precision = _gaussian(merged.embedding)
            scale = _held_out_scale([r.embedding for r in recordings])
        known = tuple(float(v) for v in speeds if v is not None)
        return cls(len(recordings), len(evidence), known, median, spread, mean, precision, scale)

    def covers(self, rpm: float | None) -> bool:
        """Whether a baseline recording was measured near ``rpm`` (unknown speeds: only an unknown rpm)."""
        if rpm is None or not self.speeds:
            return rpm is None
        return any(abs(rpm - s) <= SPEED_TOLERANCE * s for s in self.speeds)

    def evidence_scores(self, features: WindowFeatures) -> np.ndarray:
        """``[N, 3]`` robust z of each family's level (positive: more line than the baseline has)."""
        return (features.evidence - self.median) / self.spread

    def mahalanobis_ratio(self, features: WindowFeatures) -> np.ndarray | None:
        if self.mean is None or features.embedding is None:
            return None
        return _mahalanobis(features.embedding, self.mean, self.precision) / self.scale


@dataclass(frozen=True)
class Judgement:
    """A signal judged against its asset's baseline: per window, whether it deviates and as what fault type;
    ``distance``: median over windows of score / threshold (above 1: deviates)."""

    method: str
    recordings: int
    window_fault_types: list[str]
    distance: float
    candidates: tuple[str, ...] = ()  # each window's fault type were it to deviate

    @property
    def fault_type(self) -> str:
        """The measurement's answer: ``normal`` unless its ``distance`` is above 1, then the most common
        fault type of its deviating windows (of all its windows' candidate types if none deviates alone)."""
        if self.distance <= 1.0:
            return "normal"
        faults = [t for t in self.window_fault_types if t != "normal"] or list(self.candidates)
        return max(sorted(set(faults)), key=faults.count)

    def as_dict(self) -> dict[str, Any]:
        """What an answer says of the baseline: ``{used, recordings, distance, method, fault_type}``."""
        return {"used": True, "recordings": self.recordings, "distance": round(self.distance, 4),
                "method": self.method, "fault_type": self.fault_type}


def judge(reference: Reference, features: WindowFeatures, type_probabilities: np.ndarray,
          method: str = DEFAULT_METHOD, rpm: float | None = None) -> Judgement:
    """Judge windows (``features``, measured at ``rpm``; the network's fault-type probabilities ``[N, 4]`` in
    FAULT_TYPES order name the fault of a window the embedding flags) against ``reference``."""
    if method not in METHODS:
        raise ValueError(f"method: one of {', '.join(METHODS)}; got {method!r}")
    if method == "speed_aware":
        chosen = "mahalanobis" if reference.covers(rpm) and reference.mean is not None else "evidence"
        verdict = judge(reference, features, type_probabilities, chosen, rpm)
        return Judgement(f"speed_aware:{chosen}", verdict.recordings, verdict.window_fault_types,
                         verdict.distance, verdict.candidates)
    z, probabilities = reference.evidence_scores(features), np.asarray(type_probabilities)
    by_lines, line_type = z.max(axis=1) / EVIDENCE_Z, [FAMILIES[k] for k in z.argmax(axis=1)]
    ratio = reference.mahalanobis_ratio(features)
    if method != "evidence" and ratio is None:
        raise ValueError("the mahalanobis judgement needs embeddings in the baseline and the signal")
    by_features = None if ratio is None else ratio / MAHALANOBIS_RATIO
    network_type = [FAMILIES[k] for k in probabilities[:, 1:].argmax(axis=1)]
    if method == "evidence":
        score, kinds = by_lines, line_type
    elif method == "mahalanobis":
        score, kinds = by_features, network_type
    elif method == "both":
        score, kinds = np.minimum(by_lines, by_features), line_type
    else:
        score, kinds = np.maximum(by_lines, by_features), network_type
    corroborated = _corroborated_scores(z, probabilities)
    kinds = [named if c > s else kind for c, s, named, kind in zip(corroborated.tolist(), score.tolist(),
                                                                  network_type, kinds, strict=True)]
    score = np.maximum(score, corroborated)
    types = [kind if s > 1.0 else "normal" for s, kind in zip(score.tolist(), kinds, strict=True)]
    return Judgement(method, reference.recordings, types, float(np.median(score)), tuple(kinds))


def _corroborated_scores(z: np.ndarray, type_probabilities: np.ndarray) -> np.ndarray:
    """Per window the corroboration score (over 1: deviates; -inf where the answer names no fault): the
    robust z of the family the network names over :data:`CORROBORATED_Z`, where its fault probability is
    :data:`FAULT_NAMED_AT` or more (see *Corroboration* in the module docstring)."""
    named = type_probabilities[:, 1:].argmax(axis=1)
    faulty = 1.0 - type_probabilities[:, 0] >= FAULT_NAMED_AT
    return np.where(faulty, z[np.arange(len(z)), named] / CORROBORATED_Z, -np.inf)


def _held_out_scale(parts: Sequence[np.ndarray]) -> float:
    """The 99th percentile of Mahalanobis distances of baseline windows to a Gaussian fitted without them:
    each recording's windows split in a first and a second half, each half scored by the other halves' fit.
    (Scored by a fit that has seen them, windows look closer than new healthy windows do.)"""
    halves = [(p[: len(p) // 2], p[len(p) // 2 :]) for p in parts]
    distances = []
    for side in (0, 1):
        fit = np.concatenate([h[1 - side] for h in halves])
        scored = np.concatenate([h[side] for h in halves])
        if len(fit) >= 2 and len(scored):
            distances.append(_mahalanobis(scored, *_gaussian(fit)))
    return float(np.quantile(np.concatenate(distances), 0.99)) if distances else 1.0


def _gaussian(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mean = features.mean(axis=0)
    centred = features - mean
    cov = centred.T @ centred / len(features)
    ridge = SHRINKAGE * float(np.diagonal(cov).mean()) + 1e-12
    precision = np.linalg.inv(cov + ridge * np.eye(len(cov)))
    return mean, (precision + precision.T) / 2


def _mahalanobis(features: np.ndarray, mean: np.ndarray, precision: np.ndarray) -> np.ndarray:
    diff = features - mean
    return np.einsum("nd,de,ne->n", diff, precision, diff)


def window_features(diagnoser: Any, x: np.ndarray, context: np.ndarray) -> WindowFeatures:
    """What a baseline keeps (and a judgement reads) of standardised windows of ``diagnoser``'s model."""
    return WindowFeatures(line_evidence(x, context, diagnoser.sampling_rate),
                          embeddings(diagnoser.model, x, context))


def signal_features(diagnoser: Any, signal: np.ndarray, sampling_rate: float, *, rpm: float | None,
                    bearing: Any, field: str = "signal", budget: Any = None) -> tuple[WindowFeatures, Any]:
    """A signal's window features and its machine context (rpm given or estimated, bearing) through the
    Diagnoser's own windows; bad input is its :class:`~faultdx.errors.InputError` naming ``field``."""
    windows = diagnoser.windows(signal, sampling_rate, rpm=rpm, bearing=bearing, field=field, budget=budget)
    return window_features(diagnoser, windows.x, windows.context), windows.machine


def no_baseline(reason: str | None = None) -> dict[str, Any]:
    """What an answer says when its asset has no usable baseline."""
    out: dict[str, Any] = {"used": False, "recordings": 0, "distance": None}
    if reason:
        out["reason"] = reason
    return out
