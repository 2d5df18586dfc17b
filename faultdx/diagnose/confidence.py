"""What a diagnosis may claim on a machine the model never saw: a confidence calibrated on held-out rigs, the
answer ``"uncertain"`` when a signal is abnormal but no defect family stands out, the agreement of a
recording's windows, and a fault size only where sizes mean something (the CWRU rig).

**Calibration.** A model directory may hold ``confidence.json`` (written by ``faultdx model confidence`` from
protocol ``rig-out``, :mod:`faultdx.train.rigout`: every real rig held out in turn, everything fitted on the
other rigs): a temperature applied to the network's logits before the softmax (1 where a temperature fitted on
other rigs made the held-out rig's calibration worse), and three rules:

- ``uncertain_below``: the share of the fault probability the leading fault type must hold for the answer to
  name it (abnormal, but no defect family stands out: ``"uncertain"``, the closest type beside it);
- ``backing``: a window's fault type may be *sure* (probability >= 0.9) only where the envelope analysis
  (:mod:`faultdx.baselines.envelope`, nothing learned) gives the same defect family at least this
  probability in the window, or (``backing_lines``) its lines stand out at least this much of the signal's
  mean envelope spectrum; elsewhere its probability is capped at ``unbacked_cap``. On rigs never seen, a
  network alone was sure and wrong on CWRU's ball and 0.014 in outer-race recordings; network and envelope
  agreeing were right on every rig (``results/rig_out.json``);
- ``agreement_below``: a recording is answered with a fault type only where at least this share of its
  windows says that type (its windows' spread), else ``"uncertain"``;
- ``fault_confidence_below``: ... and only where that type's probability is at least this (a healthy verdict
  is not held back: "uncertain" is an abnormal signal whose family does not stand out);
- ``lines_below``: a signal is called faulty only where some defect family's lines stand out of the *mean*
  envelope spectrum of its windows by at least this (:func:`recording_lines`, nothing learned); elsewhere
  every window's fault probability is capped at ``unlined_fault``. A bearing defect strikes at its rate for as
  long as the machine turns, so its lines persist over a recording; what made the network call healthy
  machines it never saw faulty (stray lines, one-off impacts) does not. On the ``rig-out`` folds the network
  alone called 57-60 % of the HIT rigs' healthy windows normal (``results/rig_out.json``).

Absent, the temperature is 1 and no rule applies.

**Severity.** The network's size classes are CWRU's (0.007 / 0.014 / 0.021 in on an SKF 6205 at the CWRU
motor's 1,720-1,800 rpm). A size is reported only for a machine with that bearing at that speed; elsewhere
the severity is the evidence level of the fault type (``low`` / ``medium`` / ``high`` by its probability).
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from faultdx.atomic import write_text_atomic
from faultdx.baselines.envelope import EnvelopeReference
from faultdx.context import MachineContext
from faultdx.data.base import FAULT_TYPES
from faultdx.data.bearing import SKF_6205

CONFIDENCE_FILE = "confidence.json"
UNCERTAIN = "uncertain"
CWRU_RPM = (1700.0, 1830.0)  # the CWRU motor's 1,720-1,797 rpm, with 1-2 % margin
EVIDENCE_LEVELS = ((0.9, "high"), (0.7, "medium"), (0.0, "low"))  # fault-type probability -> level
SURE = 0.9  # a "sure" answer: fault-type probability at least this
NORMAL = FAULT_TYPES.index("normal")


@dataclass(frozen=True)
class ConfidencePolicy:
    """How window probabilities become claims: ``temperature`` divides the logits; ``uncertain_below`` (None:
    never) is the share of the fault probability the leading fault type needs; ``backing`` (None: no gate)
    the envelope's probability of the same fault type a window needs to keep a probability above
    ``unbacked_cap``; ``agreement_below`` (None: never) the share of a recording's windows that must say its
    fault type, ``fault_confidence_below`` (None: never) the probability it needs; ``source`` says where they
    were fitted."""

    temperature: float = 1.0
    uncertain_below: float | None = None
    source: str = ""
    backing: float | None = None
    unbacked_cap: float = 0.89
    agreement_below: float | None = None
    fault_confidence_below: float | None = None
    lines_below: float | None = None
    unlined_fault: float = 0.3
    backing_lines: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"temperature": self.temperature, "uncertain_below": self.uncertain_below,
                "backing": self.backing, "unbacked_cap": self.unbacked_cap,
                "agreement_below": self.agreement_below,
                "fault_confidence_below": self.fault_confidence_below, "lines_below": self.lines_below,
                "unlined_fault": self.unlined_fault, "backing_lines": self.backing_lines,
                "source": self.source}


DEFAULT_POLICY = ConfidencePolicy()
SHARES = ("uncertain_below", "backing", "agreement_below", "fault_confidence_below")  # optional, in (0, 1)
LINES_RANGE = (1.0, 20.0)  # peak-over-floor ratios (lines_below, backing_lines): above 1, far below 20


def load_confidence(model_dir: str | Path | None) -> ConfidencePolicy:
    """The policy stored in ``model_dir/confidence.json``; the default (temperature 1, no rule) when there is
    none. A malformed file is a ValueError naming it and the field."""
    if model_dir is None or not (Path(model_dir) / CONFIDENCE_FILE).is_file():
        return DEFAULT_POLICY
    path = Path(model_dir) / CONFIDENCE_FILE
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        temperature = float(raw["temperature"])
        shares = {k: _optional_float(raw.get(k)) for k in SHARES}
        cap = float(raw.get("unbacked_cap", DEFAULT_POLICY.unbacked_cap))
        ratios = {k: _optional_float(raw.get(k)) for k in ("lines_below", "backing_lines")}
        unlined = float(raw.get("unlined_fault", DEFAULT_POLICY.unlined_fault))
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as err:
        raise ValueError(f"{path}: not a confidence calibration ({err})") from err
    if not math.isfinite(temperature) or not 0.05 <= temperature <= 20.0:
        raise ValueError(f"{path}: temperature must be in [0.05, 20], got {temperature}")
    for name, value in (*shares.items(), ("unbacked_cap", cap), ("unlined_fault", unlined)):
        if value is not None and not 0.0 < value < 1.0:
            raise ValueError(f"{path}: {name} must be in (0, 1), got {value}")
    for name, value in ratios.items():
        if value is not None and not LINES_RANGE[0] < value < LINES_RANGE[1]:
            raise ValueError(f"{path}: {name} must be in {LINES_RANGE}, got {value}")
    return ConfidencePolicy(temperature, source=str(raw.get("source", "")), unbacked_cap=cap,
                            unlined_fault=unlined, **ratios, **shares)


def _optional_float(value: Any) -> float | None:
    return None if value is None else float(value)


def save_confidence(model_dir: str | Path, policy: ConfidencePolicy) -> Path:
    """Write ``policy`` as ``model_dir/confidence.json`` (atomically)."""
    path = Path(model_dir) / CONFIDENCE_FILE
    write_text_atomic(path, json.dumps(policy.as_dict(), indent=1) + "\n")
    return path


def is_uncertain(type_probabilities: dict[str, float], policy: ConfidencePolicy,
                 agreement: float | None = None) -> bool:
    """Abnormal (a fault type leads) but no defect family stands out: the leading type holds less than
    ``policy.uncertain_below`` of the fault probability, or less than ``policy.fault_confidence_below`` of
    all, or (given the recording's window ``agreement``) fewer than ``policy.agreement_below`` of its windows
    say it."""
    leading = max(type_probabilities, key=type_probabilities.__getitem__)
    if leading == "normal":
        return False
    faults = 1.0 - type_probabilities.get("normal", 0.0)
    share = type_probabilities[leading] / faults if faults > 0 else 1.0
    spread = policy.uncertain_below is not None and share < policy.uncertain_below
    weak = (policy.fault_confidence_below is not None
            and type_probabilities[leading] < policy.fault_confidence_below)
    split = (policy.agreement_below is not None and agreement is not None
             and agreement < policy.agreement_below)
    return spread or weak or split


def envelope_figures(x: np.ndarray, context: np.ndarray,
                     sampling_rate: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The envelope analysis of windows ``x [N, C, W]`` (first channel; any scale: line evidence is a ratio)
    read with ``context [N, 5]``: ``[N, 4]`` fault-type probabilities (``FAULT_TYPES`` order), the
    windows' envelope spectra ``[N, F]`` (what :func:`recording_lines` averages) and their line evidence
    ``[N, 3]`` (:func:`window_line_evidence`: what an asset's baseline judges), from one transform."""
    import torch

    model = _reference(float(sampling_rate))
    with torch.no_grad():
        spectra = _spectra(model, x)
        evidence = model.line_evidence(spectra, _tensor(context), x.shape[-1])
        types = torch.softmax(model.logits(evidence), dim=-1)
    return types.numpy(), spectra.numpy(), evidence.numpy()


@lru_cache(maxsize=8)
def _reference(sampling_rate: float) -> EnvelopeReference:
    """The envelope reference at ``sampling_rate`` (no parameters and no state: one per rate is shared)."""
    return EnvelopeReference(sampling_rate=sampling_rate).eval()


def window_envelope_spectra(x: np.ndarray, sampling_rate: float) -> np.ndarray:
    """``[N, F]`` envelope spectra of the first channel of windows ``x [N, C, W]``: what
    :func:`recording_lines` averages (they do not depend on the speed: compute once, read at any)."""
    import torch

    with torch.no_grad():
        return _spectra(_reference(float(sampling_rate)), x).numpy()


def window_line_evidence(x: np.ndarray, context: np.ndarray, sampling_rate: float) -> np.ndarray:
    """``[N, 3]`` line evidence (ball, inner race, outer race) of windows ``x [N, C, W]`` (first channel)
    read with ``context [N, 5]``: each family's lines over their neighbourhood in the window's envelope
    spectrum (what an asset's baseline keeps, :mod:`faultdx.diagnose.baseline`)."""
    import torch

    model = _reference(float(sampling_rate))
    with torch.no_grad():
        return model.line_evidence(_spectra(model, x), _tensor(context), x.shape[-1]).numpy()


def _spectra(model: EnvelopeReference, x: np.ndarray) -> Any:
    """``[N, F]`` envelope spectra (a tensor) of the first channel of windows ``x [N, C, W]``."""
    return model.envelope_spectrum(_tensor(x[:, 0]))[:, 0]


def _tensor(a: np.ndarray) -> Any:
    import torch

    return torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))


def recording_lines(x: np.ndarray, context: np.ndarray, sampling_rate: float,
                    spectra: np.ndarray | None = None, evidence: np.ndarray | None = None) -> np.ndarray:
    """``[3]``: how far each defect family's lines (ball, inner race, outer race: ``FAULT_TYPES[1:]``) stand
    out of the mean envelope spectrum of one signal's windows ``x [N, C, W]`` (first channel; their
    ``spectra`` and line ``evidence`` from :func:`envelope_figures` when already computed) at the speed of
    ``context [N, 5]`` (the policy's lines gate and backing); NaN where the context is unknown. One window's
    mean spectrum is its own: its lines are its ``evidence``, not read again (the short signals a plant
    often posts)."""
    import torch

    if not len(x) or not np.isfinite(context[0]).all():
        return np.full(len(FAULT_TYPES) - 1, np.nan)
    if evidence is not None and len(x) == 1:
        return np.asarray(evidence[0], dtype=np.float64)
    model = _reference(float(sampling_rate))
    with torch.no_grad():
        every = _spectra(model, x) if spectra is None else _tensor(spectra)
        mean = every.mean(dim=0, keepdim=True)
        return model.line_evidence(mean, _tensor(context[:1]), x.shape[-1])[0].numpy().astype(np.float64)


def _per_window(lines: np.ndarray | None, n: int) -> np.ndarray | None:
    """Family lines ``[3]`` (one signal) or ``[N, 3]`` (per window) as ``[N, 3]``."""
    return None if lines is None else np.broadcast_to(np.asarray(lines, dtype=np.float64), (n, 3))


def lined_type_probabilities(window_types: np.ndarray, lines: np.ndarray | None,
                             policy: ConfidencePolicy) -> np.ndarray:
    """Window fault-type probabilities ``[N, 4]`` after the lines gate: where no defect family's lines stand
    out of the recording (``lines``: :func:`recording_lines` of the signal ``[3]`` or per window ``[N, 3]``;
    none reaches ``policy.lines_below``), every fault type is scaled down so that they sum to at most
    ``policy.unlined_fault``, the rest to normal. Unchanged without the gate or without ``lines`` (NaN:
    unknown, no gate)."""
    if policy.lines_below is None or lines is None or len(window_types) == 0:
        return window_types
    strongest = _per_window(lines, len(window_types)).max(axis=1)
    unlined = strongest < policy.lines_below  # NaN compares False: no gate
    if not unlined.any():
        return window_types
    out = np.array(window_types, dtype=np.float64)
    fault = out[:, 1:].sum(axis=1)
    scale = np.where(unlined, np.minimum(1.0, policy.unlined_fault / np.maximum(fault, 1e-12)), 1.0)
    out[:, 1:] *= scale[:, None]
    out[:, NORMAL] = 1.0 - out[:, 1:].sum(axis=1)
    return out.astype(window_types.dtype, copy=False)


def backed_type_probabilities(window_types: np.ndarray, envelope_types: np.ndarray | None,
                              policy: ConfidencePolicy, lines: np.ndarray | None = None) -> np.ndarray:
    """Window fault-type probabilities ``[N, 4]`` after the envelope gates: first the recording's ``lines``
    gate (:func:`lined_type_probabilities`); then, where a window's leading fault type is backed neither by
    the envelope of the window (its probability there under ``policy.backing``) nor by its family's lines in
    the recording (under ``policy.backing_lines``), that type's probability is capped at
    ``policy.unbacked_cap`` and the excess shared by the other types in proportion (rows still sum to 1).
    Unchanged without gates or without envelope figures."""
    window_types = lined_type_probabilities(window_types, lines, policy)
    if policy.backing is None or envelope_types is None or len(window_types) == 0:
        return window_types
    out = np.array(window_types, dtype=np.float64)
    rows = np.arange(len(out))
    leading = out.argmax(axis=1)
    backed = envelope_types[rows, leading] >= policy.backing
    family = _per_window(lines, len(out))
    if policy.backing_lines is not None and family is not None:
        backed |= (leading != NORMAL) & (family[rows, np.maximum(leading - 1, 0)] >= policy.backing_lines)
    unbacked = (leading != NORMAL) & ~backed
    excess = np.where(unbacked, np.maximum(out[rows, leading] - policy.unbacked_cap, 0.0), 0.0)
    others = out.copy()
    others[rows, leading] = 0.0
    total = others.sum(axis=1, keepdims=True)
    weights = np.where(total > 0, others / np.maximum(total, 1e-12), 1.0 / (out.shape[1] - 1))
    weights[rows, leading] = 0.0
    out += excess[:, None] * weights
    out[rows, leading] -= excess
    return out.astype(window_types.dtype, copy=False)


def unbacked_by_lines(policy: ConfidencePolicy) -> ConfidencePolicy:
    """``policy`` without its ``backing_lines`` (for lines read at a speed that was not given)."""
    return policy if policy.backing_lines is None else dataclasses.replace(policy, backing_lines=None)


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
