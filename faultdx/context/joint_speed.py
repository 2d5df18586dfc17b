"""Shaft speed from the signal, jointly from the raw spectrum's shaft harmonics and the bearing's defect
families in the envelope spectrum, with an uncertainty and a flag for octave / sub-harmonic ambiguity.

Both spectra are whitened (log magnitude minus its running median) and read as the *presence* of a line:
+1 for a line :data:`LINE_LEVEL` above the background, about 0 for none, clipped, so that one huge line
(a mains hum, a resonance) counts no more than any clear line. A candidate shaft frequency ``f`` scores

- shaft comb: the presence at ``k·f`` (k = 1..12, weights 1/√k) less the presence between them (at halves
  and thirds of ``f``: a slower shaft would explain the same lines), less a penalty on a multiple of 50 or
  60 Hz (a motor's electrical lines are not its shaft);
- defect families: the best of the bearing's BPFO / BPFI families (first four harmonics of ``order·f``,
  tolerant of ``SLIP``, the few tenths of a percent real bearings sit off their theoretical orders) in the
  raw spectrum, and of BPFO / BPFI / 2×BSF (three harmonics, weight 2) in the envelope spectrum; both
  count only as far as the candidate's own first lines stand out (``own_lines``), else any speed
  ``f / order`` would claim the shaft comb of ``f`` as its "defect family" (families whose order is nearly
  a whole number are left out: :data:`FAMILY_INTEGER_GAP`);
- the envelope's shaft lines (``f``, ``2f``);
- explained lines: the share of the raw spectrum's clear peaks (below :data:`RECALL_BAND_HZ`; those on the
  supply frequency's harmonics left out) that sit on the candidate's shaft harmonics or its first BPFO /
  BPFI harmonics. This is what keeps a defect comb from
  passing for a shaft (on HIT's MFS rig the BPFO harmonics outshine the shaft's): the true speed explains
  the defect lines *and* its own, the defect comb only itself.

The search runs over ``rpm_range`` (a nominal speed with a tolerance narrows it; default 300-6000 rpm); the
best candidate is refined on a fine grid around it. Its competitors at 1/3, 1/2, 2 and 3 times the speed
(within the range) are scored too: when one comes within :data:`AMBIGUOUS_MARGIN` of the best the estimate
is ``ambiguous`` (the answer says so instead of trusting a guess). Measured per rig and excerpt length beside
the raw-only estimator: ``bench/speed_accuracy.py`` → ``results/speed_estimation.json``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from faultdx.context.speed import _check, _whitened_spectrum
from faultdx.data.bearing import BearingGeometry, defect_frequencies

DEFAULT_RANGE = (300.0, 6000.0)
GRID_STEP = 2e-4
MAINS_HZ = (50.0, 60.0)
MAINS_PENALTY = 0.5
MAINS_MIN_LINES = 3  # clear lines on a supply frequency's harmonics that show the supply is in the signal
# a supply line sits on k·50 (or k·60) Hz to within the spectrum's peak precision (about a bin of the x4
# zero-padded grid); a shaft harmonic that merely comes near one (CWRU's 1797 rpm: 2x is 59.9 Hz, 4x 119.8)
# drifts off it with k
SUPPLY_TOLERANCE_HZ = 0.25
LINE_LEVEL = 2.0  # whitened log magnitude (about 17 dB above the background) that counts as a clear line
MAX_HARMONICS = 12
COMB_SPAN_HZ = 400.0  # shaft harmonics searched up to here (at most MAX_HARMONICS of the slowest candidate)
BETWEEN_PENALTY = 0.5
FAMILY_HARMONICS = 4
ENVELOPE_HARMONICS = 3
SLIP = 0.004  # relative tolerance of a defect line around its theoretical order
# a family whose order is this close (relatively) to a whole number is left out: its lines are a shaft comb
# that any speed ``f / order`` could claim (the SKF 6203's BPFO 3.05, BPFI 4.95 and 2×BSF 3.99 put CWRU's
# fan-end estimate on a fifth of the speed)
FAMILY_INTEGER_GAP = 0.02
OWN_LINES = 0.4  # mean presence of a candidate's first lines at which its defect families count in full
ENVELOPE_SHAFT_WEIGHT = 0.5
# the envelope's defect family is what tells a shaft from its octave where the odd shaft lines are missing
# (HIT self-built); on 1 s excerpts, weight 2 against 1: self-built 57 -> 65 %, MFPT 81 -> 88 %, CWRU DE
# 98 -> 96 % within 1 %
ENVELOPE_FAMILY_WEIGHT = 2.0
RECALL_BAND_HZ = 500.0
# score units. On 1 s excerpts of the real rigs (bench/speed_accuracy.py) the margin separates the gross
# errors poorly: 0.1 flags 3 % of them and 0.4 % of the right answers, 0.2 flags 12 % and 2 %
AMBIGUOUS_MARGIN = 0.1
COMPETITORS = (1 / 3, 1 / 2, 2.0, 3.0)
SEGMENT_S = 1.0
MAX_SEGMENTS = 5
AGREE = 0.01  # segments within 1 % of each other vote for the same speed
FINE_SPAN = 0.015  # the final search: ±1.5 % around the best grid candidate
SPREAD_DROP = 0.05  # score units: the uncertainty spans the fine candidates this close to the peak


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


def _presence(spectrum: np.ndarray) -> np.ndarray:
    """How clearly each bin is a line: whitened level / LINE_LEVEL, clipped to [-0.5, 1]."""
    return np.clip(spectrum / LINE_LEVEL, -0.5, 1.0)


def _slip_tolerant(freqs: np.ndarray, presence: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The presence spectrum max-filtered over ±SLIP of each frequency (on a log-frequency grid)."""
    from scipy.ndimage import maximum_filter1d

    log_f = np.log(freqs[1:])
    grid = np.arange(log_f[0], log_f[-1], SLIP / 4)
    return np.exp(grid), maximum_filter1d(np.interp(grid, log_f, presence[1:]), size=9)


def _comb(freqs: np.ndarray, presence: np.ndarray, candidates: np.ndarray, harmonics: int, *,
          weighted: bool = True) -> np.ndarray:
    """Mean presence at k·c (k = 1..harmonics) less the presence between them (at halves or thirds of c)."""
    k = np.arange(1, harmonics + 1, dtype=float)
    weights = 1.0 / np.sqrt(k) if weighted else np.ones_like(k)
    weights /= weights.sum()

    def at(orders: np.ndarray) -> np.ndarray:
        return np.interp(np.outer(candidates, orders), freqs, presence, right=0.0) @ weights

    between = np.maximum(at(k - 0.5), 0.5 * (at(k - 1 / 3) + at(k - 2 / 3)))
    return at(k) - BETWEEN_PENALTY * np.maximum(between, 0.0)


def _family_orders(bearing: BearingGeometry | None) -> dict[str, float]:
    """BPFO, BPFI and 2×BSF as multiples of the shaft frequency, less any too close to a shaft harmonic
    (:data:`FAMILY_INTEGER_GAP`); none without a bearing."""
    if bearing is None:
        return {}
    d = defect_frequencies(bearing, 1.0)
    orders = {"bpfo": d.bpfo, "bpfi": d.bpfi, "2bsf": 2 * d.bsf}
    return {name: o for name, o in orders.items() if abs(o - round(o)) >= FAMILY_INTEGER_GAP * o}


def _strong_lines(freqs: np.ndarray, spectrum: np.ndarray, f_min: float,
                  f_max: float) -> tuple[np.ndarray, np.ndarray]:
    """(frequency, weight) of the clear peaks of a whitened spectrum between ``f_min`` and ``f_max``."""
    from scipy.signal import find_peaks

    peaks, _ = find_peaks(spectrum, height=LINE_LEVEL)
    peaks = peaks[(freqs[peaks] >= f_min) & (freqs[peaks] <= f_max)]
    return freqs[peaks], np.clip(spectrum[peaks] / LINE_LEVEL, 0.0, 2.0)


def _on_multiples(lines: np.ndarray, spacing: np.ndarray, tol: float, rel: float = 0.0) -> np.ndarray:
    """[C, L]: whether each line sits on a multiple (>= 1) of each spacing, within ``tol + rel·line``."""
    k = np.maximum(1.0, np.round(lines[None, :] / spacing[:, None]))
    return np.abs(lines[None, :] - k * spacing[:, None]) <= tol + rel * lines[None, :]


def _without_mains(lines: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The clear lines less those on harmonics of the supply frequency (50 or 60 Hz, whichever carries more
    of them, if at least :data:`MAINS_MIN_LINES`): a motor's electrical lines are not its shaft's, and a
    shaft whose harmonics fall on them (10 Hz under a 50 Hz supply) would otherwise be credited with
    explaining them (HIT self-built's 900 rpm read as 600: its BPFO family is a 600 rpm BPFI family)."""
    if lines.size == 0:
        return lines, weights
    on = {hz: _on_multiples(lines, np.array([hz]), SUPPLY_TOLERANCE_HZ)[0] for hz in MAINS_HZ}
    supply = max(on, key=lambda hz: float((on[hz] * weights).sum()))
    if on[supply].sum() < MAINS_MIN_LINES or on[supply].all():  # all of them: a shaft at k·50 Hz (3000 rpm)
        return lines, weights
    return lines[~on[supply]], weights[~on[supply]]


class _JointScore:
    """The joint score of candidate shaft frequencies for one signal (spectra computed once)."""

    def __init__(self, x: np.ndarray, rate: float, bearing: BearingGeometry | None,
                 f_lo: float, f_hi: float) -> None:
        orders = _family_orders(bearing)
        self.orders = list(orders.values())  # the envelope's families
        self.race_orders = [o for name, o in orders.items() if name != "2bsf"]  # the raw spectrum's
        self.harmonics = int(max(3, min(MAX_HARMONICS, COMB_SPAN_HZ // f_lo, 0.45 * rate // f_hi)))
        resolution = rate / x.size
        raw_top = max(self.harmonics * f_hi, max(self.orders, default=1.0) * FAMILY_HARMONICS * f_hi) + 2.0
        self.freqs, raw = _whitened_spectrum(x, rate, min(0.45 * rate, raw_top))
        self.raw = _presence(raw)
        env_top = max([2.0, *self.orders]) * ENVELOPE_HARMONICS * f_hi + 1.0
        self.env_freqs, env = _envelope_whitened(x, rate, min(0.45 * rate, env_top))
        self.env = _presence(env)
        self.raw_tolerant = _slip_tolerant(self.freqs, self.raw)
        self.env_tolerant = _slip_tolerant(self.env_freqs, self.env)
        self.resolution = resolution
        self.tol = 0.6 * resolution
        band = (0.9 * f_lo, min(RECALL_BAND_HZ, float(self.freqs[-1])))
        lines, weights = _strong_lines(self.freqs, raw, *band)
        self.lines, self.line_weights = _without_mains(lines, weights)
        self.mains_width = max(0.3, resolution)

    def _family(self, tolerant: tuple[np.ndarray, np.ndarray], c: np.ndarray, orders: list[float],
                harmonics: int) -> np.ndarray:
        freqs, presence = tolerant
        best = np.zeros(c.shape)
        for o in orders:
            comb = _comb(freqs, presence, c * o, harmonics, weighted=False)
            best = np.maximum(best, comb)
        return best

    def own_lines(self, c: np.ndarray) -> np.ndarray:
        """How clearly the candidate's own first lines stand out (raw 1x-3x or envelope 1x-2x), 0..1."""
        raw = np.interp(np.outer(c, [1.0, 2.0, 3.0]), self.freqs, self.raw).mean(axis=1)
        env = np.interp(np.outer(c, [1.0, 2.0]), self.env_freqs, self.env).mean(axis=1)
        return np.clip(np.maximum(raw, env) / OWN_LINES, 0.0, 1.0)

    def explained(self, c: np.ndarray) -> np.ndarray:
        """Share of the raw spectrum's clear-line weight on the shaft or BPFO / BPFI harmonics of ``c``."""
        if self.lines.size == 0:
            return np.zeros(c.shape)
        hit = _on_multiples(self.lines, c, self.tol)
        for order in self.race_orders:
            # the first harmonics only, as in the family comb: high multiples of a family would explain
            # nearly any dense spectrum
            first = self.lines[None, :] <= FAMILY_HARMONICS * 1.01 * order * c[:, None]
            hit |= _on_multiples(self.lines, c * order, self.tol, SLIP) & first
        share = (hit * self.line_weights).sum(axis=1) / self.line_weights.sum()
        # a slow candidate's dense comb hits lines by chance (2·tol of every spacing): only the excess counts
        chance = np.minimum(2.0 * self.tol / c, 0.9)
        return (share - chance) / (1.0 - chance)

    def __call__(self, c: np.ndarray) -> np.ndarray:
        shaft = _comb(self.freqs, self.raw, c, self.harmonics)
        mains = MAINS_PENALTY * _on_mains(c, self.mains_width)
        raw_family = self._family(self.raw_tolerant, c, self.race_orders, FAMILY_HARMONICS)
        envelope_family = self._family(self.env_tolerant, c, self.orders, ENVELOPE_HARMONICS)
        families = raw_family + ENVELOPE_FAMILY_WEIGHT * envelope_family
        envelope_shaft = ENVELOPE_SHAFT_WEIGHT * _comb(self.env_freqs, self.env, c, 2)
        return shaft - mains + self.own_lines(c) * families + envelope_shaft + self.explained(c)


def estimate_speed(signal: np.ndarray, sampling_rate: float, *, bearing: BearingGeometry | None = None,
                   rpm_range: tuple[float, float] | None = None) -> SpeedEstimate:
    """The shaft speed of a 1-D ``signal`` at ``sampling_rate`` Hz within ``rpm_range`` (default 300-6000).

    A signal of two segments (:data:`SEGMENT_S`) or more is estimated per segment (at most
    :data:`MAX_SEGMENTS`, evenly spaced) and the segments vote (:func:`_vote`): the score was chosen on 1 s
    excerpts, and over a long recording the speed drifts enough to smear the high harmonics it relies on.

    Raises ValueError (as :func:`faultdx.context.speed.estimate_rpm`) for signals shorter than 0.1 s,
    non-finite samples or a range above the Nyquist frequency.
    """
    lo, hi = rpm_range or DEFAULT_RANGE
    x = _check(signal, sampling_rate, lo, hi)
    n = int(round(SEGMENT_S * sampling_rate))
    if x.size < 2 * n:
        return _estimate_one(x, sampling_rate, bearing, lo, hi)
    starts = np.linspace(0, x.size - n, min(MAX_SEGMENTS, x.size // n)).astype(int)
    return _vote([_estimate_one(x[s:s + n] - x[s:s + n].mean(), sampling_rate, bearing, lo, hi)
                  for s in starts])


def _vote(estimates: list[SpeedEstimate]) -> SpeedEstimate:
    """The speed most segments agree on (within :data:`AGREE`): their median, uncertain by their spread;
    ambiguous when fewer than half the segments agree or most of the agreeing ones are ambiguous."""
    rpms = np.array([e.rpm for e in estimates])
    agree = np.abs(rpms[:, None] / rpms[None, :] - 1.0) <= AGREE
    support = agree.sum(axis=1)
    members = agree[int(np.argmax(support))]
    chosen = [e for e, m in zip(estimates, members, strict=True) if m]
    rpm = float(np.median(rpms[members]))
    spread = max(float(np.std(rpms[members])), float(np.median([e.uncertainty_rpm for e in chosen])))
    others = [e.rpm for e, m in zip(estimates, members, strict=True) if not m]
    ambiguous = 2 * len(chosen) <= len(estimates) or 2 * sum(e.ambiguous for e in chosen) > len(chosen)
    competitor = float(np.median(others)) if others else chosen[0].competitor_rpm
    margin = min(e.margin for e in chosen)
    return SpeedEstimate(rpm, spread, ambiguous, margin, competitor, chosen[0].search_range)


def _estimate_one(x: np.ndarray, sampling_rate: float, bearing: BearingGeometry | None, lo: float,
                  hi: float) -> SpeedEstimate:
    """The joint estimate on one (checked, zero-mean) stretch of signal."""
    f_lo, f_hi = lo / 60.0, hi / 60.0
    count = int(np.log(f_hi / f_lo) / np.log1p(GRID_STEP)) + 1
    candidates = f_lo * (1.0 + GRID_STEP) ** np.arange(count)
    score = _JointScore(x, sampling_rate, bearing, f_lo, f_hi)
    scores = score(candidates)
    best = int(np.argmax(scores))
    fr = float(candidates[best])
    rivals = np.array([fr * m for m in COMPETITORS if f_lo <= fr * m <= f_hi])
    rival_scores = _local_best(score, rivals) if rivals.size else np.zeros(0)
    margin = float(scores[best] - rival_scores.max()) if rival_scores.size else math.inf
    competitor = float(60.0 * rivals[int(np.argmax(rival_scores))]) if rival_scores.size else None
    refined, spread = _refine(score, fr, f_lo, f_hi)
    return SpeedEstimate(60.0 * refined, 60.0 * spread, margin < AMBIGUOUS_MARGIN,
                         margin if math.isfinite(margin) else 99.0, competitor, (lo, hi))


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
