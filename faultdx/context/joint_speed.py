"""Shaft speed from the signal, jointly from the raw spectrum's shaft harmonics and the bearing's defect
families in the envelope spectrum, with an uncertainty and a flag for octave / sub-harmonic ambiguity.

A candidate shaft frequency ``f`` scores (both spectra whitened: log magnitude minus its running median):

- raw: the harmonic sum at ``k·f`` minus the half-way penalty at ``(k - 1/2)·f`` (``faultdx.context.speed``),
  less a penalty for a candidate on a multiple of 50 or 60 Hz, since a motor's electrical lines are not its
  shaft;
- envelope: the best-explaining defect family of the bearing (BPFO, BPFI with its shaft sidebands, 2×BSF, each
  as the mean of its first three harmonics at ``order·f``) plus the shaft lines ``f``, ``2f``.

The search runs over ``rpm_range`` (a nominal speed with a tolerance narrows it; default 300-6000 rpm). The
best candidate is refined by the same joint score on a fine grid around it (the envelope's defect lines move
with the shaft, not with the supply frequency whose lines sit a slip away from the shaft's). Its competitors
at 1/3, 1/2, 2 and 3 times the speed (within the range) are scored too: when one comes within
:data:`AMBIGUOUS_MARGIN` of the best, or the odd lines of half (a third of) the speed stand out, the estimate
is ``ambiguous`` (the answer says so instead of trusting a guess). Measured per rig and excerpt length beside
the raw-only estimator: ``bench/speed_accuracy.py`` → ``results/speed_estimation.json``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from faultdx.context.speed import _check, _harmonic_score, _whitened_spectrum
from faultdx.data.bearing import BearingGeometry, defect_frequencies

DEFAULT_RANGE = (300.0, 6000.0)
GRID_STEP = 2e-4
MAINS_HZ = (50.0, 60.0)
MAINS_PENALTY = 1.0
ENVELOPE_WEIGHT = 1.0
ENVELOPE_HARMONICS = 3
AMBIGUOUS_MARGIN = 0.15  # score units (natural-log magnitude above the background)
COMPETITORS = (1 / 3, 1 / 2, 2.0, 3.0)
FINE_SPAN = 0.015  # the final search: ±1.5 % around the best grid candidate
SPREAD_DROP = 0.2  # score units: the uncertainty spans the fine candidates this close to the peak
SUBHARMONIC_LEVEL = 1.0  # odd lines of f/2 (f/3) this far above the background make f/2 (f/3) plausible


@dataclass(frozen=True)
class SpeedEstimate:
    """A shaft speed from the signal: ``rpm``, its one-sigma ``uncertainty_rpm``, whether an octave or
    sub-harmonic scores nearly as well (``ambiguous``, with that ``competitor_rpm``), and the margin."""

    rpm: float
    uncertainty_rpm: float
    ambiguous: bool
    margin: float
    competitor_rpm: float | None
    search_range: tuple[float, float]

    def as_dict(self) -> dict[str, Any]:
        return {"rpm": round(self.rpm, 1), "uncertainty_rpm": round(self.uncertainty_rpm, 1),
                "ambiguous": self.ambiguous, "margin": round(self.margin, 3),
                "competitor_rpm": None if self.competitor_rpm is None else round(self.competitor_rpm, 1),
                "search_range_rpm": [round(v, 1) for v in self.search_range]}


def _on_mains(candidates: np.ndarray, width_hz: float) -> np.ndarray:
    """1.0 for a candidate shaft frequency on a multiple of 50 or 60 Hz (a motor's electrical lines, whose
    harmonic series would otherwise pass for a shaft's), else 0.0."""
    out = np.zeros(candidates.shape)
    for line in MAINS_HZ:
        distance = np.abs(candidates - line * np.maximum(1.0, np.round(candidates / line)))
        out = np.maximum(out, distance <= width_hz)
    return out


def _envelope_whitened(x: np.ndarray, rate: float, f_max: float) -> tuple[np.ndarray, np.ndarray]:
    """Whitened log envelope spectrum of ``x`` high-passed above the shaft-harmonic region."""
    from scipy.signal import butter, hilbert, sosfiltfilt

    cutoff = min(1000.0, 0.1 * rate)
    high = sosfiltfilt(butter(4, cutoff, btype="highpass", fs=rate, output="sos"), x)
    env = np.abs(hilbert(high))
    env -= env.mean()
    return _whitened_spectrum(env, rate, f_max, pad=2)


def _family_orders(bearing: BearingGeometry | None) -> list[list[float]]:
    """Each defect family's lines as multiples of the shaft frequency (empty without a bearing)."""
    if bearing is None:
        return []
    d = defect_frequencies(bearing, 1.0)
    k = np.arange(1, ENVELOPE_HARMONICS + 1)
    return [list(k * d.bpfo), [*(k * d.bpfi), d.bpfi - 1.0, d.bpfi + 1.0], list(k * 2 * d.bsf)]


def _envelope_score(freqs: np.ndarray, spectrum: np.ndarray, candidates: np.ndarray,
                    bearing: BearingGeometry | None) -> np.ndarray:
    """Shaft lines (f, 2f) plus the best defect family of ``bearing`` at every candidate shaft frequency."""
    def mean_at(orders: list[float]) -> np.ndarray:
        return np.interp(np.outer(candidates, orders), freqs, spectrum, right=0.0).mean(axis=1)

    shaft = mean_at([1.0, 2.0])
    families = [mean_at(orders) for orders in _family_orders(bearing)]
    return shaft + (np.max(families, axis=0) if families else 0.0)


def estimate_speed(signal: np.ndarray, sampling_rate: float, *, bearing: BearingGeometry | None = None,
                   rpm_range: tuple[float, float] | None = None) -> SpeedEstimate:
    """The shaft speed of a 1-D ``signal`` at ``sampling_rate`` Hz within ``rpm_range`` (default 300-6000).

    Raises ValueError (as :func:`faultdx.context.speed.estimate_rpm`) for signals shorter than 0.1 s,
    non-finite samples or a range above the Nyquist frequency.
    """
    lo, hi = rpm_range or DEFAULT_RANGE
    x = _check(signal, sampling_rate, lo, hi)
    f_lo, f_hi = lo / 60.0, hi / 60.0
    harmonics = int(max(1, min(10, 0.45 * sampling_rate // f_hi)))
    count = int(np.log(f_hi / f_lo) / np.log1p(GRID_STEP)) + 1
    candidates = f_lo * (1.0 + GRID_STEP) ** np.arange(count)
    resolution = sampling_rate / x.size
    freqs, raw = _whitened_spectrum(x, sampling_rate, harmonics * f_hi * 3 + 1.0)
    mains_width = max(0.3, resolution)

    def score(c: np.ndarray) -> np.ndarray:
        joint = _harmonic_score(freqs, raw, c, harmonics) - MAINS_PENALTY * _on_mains(c, mains_width)
        if ENVELOPE_WEIGHT:
            joint = joint + ENVELOPE_WEIGHT * _envelope_score(env_freqs, env, c, bearing)
        return joint

    orders = max((max(o) for o in _family_orders(bearing)), default=2.0)
    env_freqs, env = _envelope_whitened(x, sampling_rate, min(0.45 * sampling_rate, orders * f_hi * 3 + 1.0))
    scores = score(candidates)
    best = int(np.argmax(scores))
    fr = float(candidates[best])
    rivals = np.array([fr * m for m in COMPETITORS if f_lo <= fr * m <= f_hi])
    rival_scores = _local_best(score, rivals) if rivals.size else np.zeros(0)
    margin = float(scores[best] - rival_scores.max()) if rival_scores.size else math.inf
    competitor = float(60.0 * rivals[int(np.argmax(rival_scores))]) if rival_scores.size else None
    sub = _plausible_subharmonic(freqs, raw, fr, f_lo)
    if sub is not None and (competitor is None or margin >= AMBIGUOUS_MARGIN):
        competitor, margin = 60.0 * sub, min(margin, AMBIGUOUS_MARGIN / 2)
    refined, spread = _refine(score, fr, f_lo, f_hi)
    return SpeedEstimate(60.0 * refined, 60.0 * spread, margin < AMBIGUOUS_MARGIN,
                         margin if math.isfinite(margin) else 99.0, competitor, (lo, hi))


def _plausible_subharmonic(freqs: np.ndarray, raw: np.ndarray, fr: float, f_lo: float) -> float | None:
    """``fr / 2`` or ``fr / 3`` when its own lines between those of ``fr`` stand out (the shaft may be the
    slower one, its 1x hidden), else None."""
    for divisor in (2, 3):
        sub = fr / divisor
        if sub < f_lo:
            continue
        between = [k * sub for k in range(1, 3 * divisor) if k % divisor]
        if float(np.mean(np.interp(between, freqs, raw))) >= SUBHARMONIC_LEVEL:
            return sub
    return None


def _local_best(score, centres: np.ndarray) -> np.ndarray:
    """The best score within ±0.5 % of each centre (a rival's own peak, not its slope)."""
    offsets = np.linspace(-0.005, 0.005, 51)
    return np.array([score(c * (1.0 + offsets)).max() for c in centres])


def _refine(score, fr: float, f_lo: float, f_hi: float) -> tuple[float, float]:
    """The joint score's peak on a fine grid (0.01 %) within ±1.5 % of ``fr``, and a one-sigma uncertainty:
    half the span of the grid scoring within :data:`SPREAD_DROP` of the peak (at least 0.01 %)."""
    fine = fr * (1.0 + np.linspace(-FINE_SPAN, FINE_SPAN, 301))
    fine = fine[(fine >= f_lo) & (fine <= f_hi)]
    scores = score(fine)
    refined = float(fine[int(np.argmax(scores))])
    near = fine[scores >= scores.max() - SPREAD_DROP]
    return refined, max(float(near.max() - near.min()) / 2.0, 1e-4 * refined)
