"""Signal-quality gate: is there a working sensor on a running machine in this signal, before any diagnosis?

A dead, disconnected or saturated accelerometer still produces numbers, and a network trained on bearings
answers *something* for them (white noise came back ``normal``). :func:`check_signal` looks for what breaks a
measurement, per channel:

- ``too_short``: fewer samples than any spectrum of the shaft needs (0.1 s, 256 samples, two revolutions);
- ``non_finite``: NaN or infinite samples;
- ``flat_line`` / ``dropout``: the whole signal, or a stretch of it, constant (a run of identical samples
  longer than 2 ms; real recordings repeat a value at most 3 times) or dead quiet (a 20 ms block below 1 % of
  the typical block level);
- ``clipping``: samples piled at an extreme behind a hard edge of the amplitude histogram: 6 or more within
  0.1 % of the range of the maximum or minimum (real recordings put at most 4 there, at any length; a
  recording clipped at half its peak at least 6), and at least 10 times as many there as in each 0.1 % of
  the range just below (a natural tail thins out towards its extreme; a rail collects everything beyond it:
  25 times or more on every recording clipped at half its peak; a pure sine, densest at its extremes,
  reaches 4.2 by the arcsine law);
- ``dc_step``: the median level jumps by more than 0.7 robust standard deviations between two adjacent 50 ms
  stretches and stays there (real recordings: at most 0.2; slow drifts and low tones are not steps);
- ``spikes``: a sample 4.5 times beyond the 99.9th percentile of the rest (real recordings: at most 3.3);
- ``no_machine``: no rotating machine's lines from 2 Hz to 2 kHz, judged against the spectrum's own floor
  (a dead or disconnected sensor's noise may be white or coloured). With 150 bins or more there (13 Hz
  resolution or finer, 0.5 s of signal), the log spectrum is whitened (its power-law trend in log frequency
  removed, then its 101-bin running median): noise alone puts each bin above the floor's 1 % noise level
  with chance 1 %, so it flags the signal when fewer bins stand there than noise reaches with chance 1e-14
  (binomial) and no bin stands 0.5 natural-log units (2.2 dB) above the level noise alone reaches once in
  the band with chance 1 % (+1.3 dB). Real recordings: noise would put as many bins there with chance 1e-21
  or less on every 0.5 s, 1 s and whole piece (1e-46 at 1 s); white, pink and brown noise reach 1e-7.6 at
  most, and their highest bin stays under the line threshold, 0.5 below what one line alone needs. The
  project's simulated healthy machine (three shaft lines, nothing else) passes by its lines alone.
  Coarser spectra (shorter signals, one /v2 window) keep the earlier rule: a flat spectrum (flatness 0.65
  or more; white noise 0.76 or more, real recordings at most 0.58) in which no line stands above what noise
  alone reaches. A level step in a signal with no machine is the noise's own low-frequency wander: only
  ``no_machine`` is named.

Thresholds were set on every real recording the project has; the caught and false-flag rates are measured by
``bench/quality_eval.py`` (``results/quality.json``, table in docs/quality.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np

MIN_SECONDS = 0.1
MIN_SAMPLES = 256
MIN_REVOLUTIONS = 2.0
FLAT_RUN_SECONDS = 0.002
FLAT_RUN_MIN = 16
QUIET_BLOCK_SECONDS = 0.02
QUIET_LEVEL = 0.01
CLIP_TOLERANCE = 1e-3
CLIP_MIN_COUNT = 6
CLIP_EDGE_BINS = 9  # the 0.1 %-of-range bins just below the pile, whose mean count the pile is judged against
CLIP_EDGE_RATIO = 10.0
STEP_SECONDS = 0.05
STEP_LEVEL = 0.7
STEADY_SHARE = 0.25  # each side of a step moves by less than this share of the step
FLATNESS_MIN = 0.65  # white noise: 0.76 or more at any length (Welch); real recordings at most 0.58 (MFPT)
SPIKE_LEVEL = 4.5
LINE_BAND_HZ = (2.0, 2000.0)
LINE_FALSE_ALARM = 0.01  # chance that noise alone puts one line above the threshold in the band
LINE_MARGIN = 0.3  # natural-log units (1.3 dB) above that noise level
WHITENED_MIN_BINS = 150  # bins from 2 Hz to 2 kHz for the whitened line test (13 Hz resolution or finer)
FLOOR_BINS = 101  # running median of the detrended log spectrum: the floor lines are judged against
BIN_FALSE_ALARM = 0.01  # a bin "stands out" above the floor's level that noise exceeds with this chance
LINES_FALSE_ALARM = 1e-14  # chance that noise alone puts as many bins above that level in the band (nominal:
# Welch bins are not quite independent, 1e-9.3 was reached by 1 of 5,460 noise pieces)
WHITENED_PEAK_MARGIN = 0.5  # natural-log units more than the line threshold for one line alone to count
BAD_SIGNAL = "bad_signal"  # the answer's fault type when the gate refuses a signal
KINDS = ("too_short", "non_finite", "flat_line", "dropout", "clipping", "dc_step", "spikes", "no_machine")


@dataclass(frozen=True)
class Problem:
    """One thing wrong with one channel of a signal."""

    kind: str
    channel: int
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "channel": self.channel, "message": self.message}


@dataclass(frozen=True)
class SignalQuality:
    """The gate's verdict: ``ok`` when no problem was found."""

    problems: tuple[Problem, ...] = field(default_factory=tuple)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def kinds(self) -> tuple[str, ...]:
        """The distinct problem kinds, in the order of :data:`KINDS`."""
        found = {p.kind for p in self.problems}
        return tuple(k for k in KINDS if k in found)

    def as_dict(self) -> dict[str, Any]:
        """``{"ok": bool, "problems": [{"kind", "channel", "message"}, ...]}`` (the API's form)."""
        return {"ok": self.ok, "problems": [p.as_dict() for p in self.problems]}


def check_signal(signal: Any, sampling_rate: float, rpm: Any = None, bearing: Any = None, *,
                 check_length: bool = True) -> SignalQuality:
    """Check ``signal`` (``[T]`` or ``[C, T]``) sampled at ``sampling_rate`` Hz for broken measurements.

    ``rpm`` (when known; of a speed range, its low end) sets the shortest useful length (two
    revolutions); ``check_length=False`` leaves the length to the caller (framed windows, whose length the
    model set). ``bearing`` is accepted for the interfaces' sake and not needed: a working sensor on a
    machine shows lines whatever the bearing.
    Time and memory are linear in the number of samples.
    """
    del bearing
    x = np.asarray(signal, dtype=np.float64)
    x = x.reshape(1, -1) if x.ndim <= 1 else x.reshape(-1, x.shape[-1])
    problems: list[Problem] = []
    for channel, samples in enumerate(x):
        problems.extend(check_channel(samples, float(sampling_rate), rpm, channel, check_length=check_length))
    return SignalQuality(tuple(problems))


def check_windows(windows: Any, sampling_rate: float, rpm: Any = None) -> SignalQuality:
    """The gate on already-framed windows ``[N, C, W]`` (``/v2``), once per request: the windows laid end
    to end per channel. ``too_short`` never fires here: the model's window length is the input's length
    (one 2048-sample window is 0.043 s at 48 kHz, less than the 0.1 s a signal needs)."""
    x = np.asarray(windows, dtype=np.float64)
    end_to_end = x.transpose(1, 0, 2).reshape(x.shape[1], -1)
    return check_signal(end_to_end, sampling_rate, rpm=rpm, check_length=False)


def check_channel(x: np.ndarray, rate: float, rpm: Any = None, channel: int = 0, *,
                  check_length: bool = True) -> list[Problem]:
    """The problems of one 1-D channel (see :func:`check_signal`)."""
    found = (check_length and _too_short(x, rate, rpm)) or _non_finite(x)
    if found:
        return [Problem(kind, channel, message) for kind, message in [found]]
    flat = _flat(x, rate)
    if flat and flat[0] == "flat_line":
        return [Problem(*flat[:1], channel, flat[1])]
    # |x - median|, shared by the step (its robust scale) and spike checks: each median is a partition of x
    deviation = np.abs(x - float(_row_medians(x[None])[0]))
    checks = [flat, _clipping(x), _dc_step(x, rate, deviation), _spikes(deviation)]
    # dropouts, steps and spikes are broadband: they add no line, so the machine's lines are still judged
    no_machine = _no_machine(x, rate)
    if no_machine:  # a level "step" in noise is its own low-frequency wander, not a sensor's bias jump
        checks = [check for check in checks if not (check and check[0] == "dc_step")] + [no_machine]
    return [Problem(kind, channel, message) for kind, message in filter(None, checks)]


def _too_short(x: np.ndarray, rate: float, rpm: Any) -> tuple[str, str] | None:
    seconds = x.size / rate
    needed = max(MIN_SECONDS, MIN_SAMPLES / rate)
    slowest = getattr(rpm, "low", rpm)  # a speed range (faultdx.context.RpmRange): its slowest speed
    if isinstance(slowest, (int, float)) and math.isfinite(slowest) and slowest > 0:
        needed = max(needed, MIN_REVOLUTIONS * 60.0 / slowest)
    if seconds < needed:
        return "too_short", (f"{x.size} samples = {seconds:.3g} s at {rate:g} Hz; at least {needed:.3g} s "
                             "are needed (0.1 s, 256 samples and two shaft revolutions)")
    return None


def _non_finite(x: np.ndarray) -> tuple[str, str] | None:
    bad = int(np.count_nonzero(~np.isfinite(x)))
    return ("non_finite", f"{bad} samples are NaN or infinite") if bad else None


def _longest_run(x: np.ndarray) -> tuple[int, int]:
    """(length, start) of the longest run of identical consecutive samples."""
    changes = np.flatnonzero(np.diff(x) != 0)
    starts = np.r_[0, changes + 1]
    lengths = np.diff(np.r_[starts, x.size])
    best = int(np.argmax(lengths))
    return int(lengths[best]), int(starts[best])


def _flat(x: np.ndarray, rate: float) -> tuple[str, str] | None:
    shortest = max(FLAT_RUN_MIN, FLAT_RUN_SECONDS * rate)  # of a dropout
    # a run of n identical samples holds n - 1 repeats: with fewer repeats in all, no run is long enough and
    # the runs need not be measured (real recordings repeat a value a few times at most)
    if np.count_nonzero(x[1:] == x[:-1]) + 1 >= min(0.9 * x.size, shortest):
        run, start = _longest_run(x)
        if run >= 0.9 * x.size:
            return "flat_line", f"the signal is constant at {x[start]:.6g} (a dead or disconnected sensor)"
        if run >= shortest:
            return "dropout", (f"{run} identical samples ({run / rate:.3g} s) from {start / rate:.3g} s at "
                               f"{x[start]:.6g}: the sensor dropped out")
    block = max(8, int(QUIET_BLOCK_SECONDS * rate))
    count = x.size // block
    if count >= 3:
        level = np.std(x[:count * block].reshape(count, block), axis=1)
        typical = float(np.median(level))
        quiet = np.flatnonzero(level < QUIET_LEVEL * typical)
        if typical > 0 and quiet.size:
            return "dropout", (f"{quiet.size} stretch(es) of {block / rate * 1000:.0f} ms below 1 % of the "
                               f"signal's typical level, the first at {quiet[0] * block / rate:.3g} s")
    return None


def _clipping(x: np.ndarray) -> tuple[str, str] | None:
    low, high = float(x.min()), float(x.max())
    span = high - low
    if span <= 0:
        return None
    tolerance = CLIP_TOLERANCE * span
    at_top = int(np.count_nonzero(x >= high - tolerance))
    at_bottom = int(np.count_nonzero(x <= low + tolerance))
    sides = ((at_top, "maximum", high), (at_bottom, "minimum", low))
    # the edge is only measured for a pile big enough to matter (rare on a working sensor): no cost otherwise
    piled = [(n, side, v) for n, side, v in sides if n >= CLIP_MIN_COUNT and _hard_edge(x, n, v, tolerance)]
    if not piled:
        return None
    n, side, value = max(piled)
    return "clipping", (f"{n} samples ({100 * n / x.size:.2g} %) sit at the {side} {value:.6g} behind a hard "
                        "edge of the amplitude histogram: the sensor or its amplifier saturated")


def _hard_edge(x: np.ndarray, pile: int, extreme: float, tolerance: float) -> bool:
    """Whether ``pile`` samples within ``tolerance`` of ``extreme`` outnumber the mean count of the
    :data:`CLIP_EDGE_BINS` bins of that width just below it :data:`CLIP_EDGE_RATIO` times."""
    distance = np.abs(x - extreme)
    below = int(np.count_nonzero((distance > tolerance) & (distance <= (CLIP_EDGE_BINS + 1) * tolerance)))
    return pile >= CLIP_EDGE_RATIO * below / CLIP_EDGE_BINS


def _dc_step(x: np.ndarray, rate: float, deviation: np.ndarray) -> tuple[str, str] | None:
    """An abrupt level change between two steady stretches; a slow drift or a low-frequency tone (whose
    stretch medians swing to and fro) is not a step."""
    width = max(16, int(STEP_SECONDS * rate))
    quarter = width // 4
    count = x.size // quarter
    if count < 16:
        return None
    scale = 1.4826 * float(_row_medians(deviation[None])[0])
    if scale <= 0:
        return None
    # the median level of every stretch of ``width`` starting at a multiple of ``quarter`` (as the median of
    # its four quarter medians: linear time and memory)
    quarters = _row_medians(x[:count * quarter].reshape(count, quarter))
    level = _row_medians(np.lib.stride_tricks.sliding_window_view(quarters, 4)) / scale
    jump = level[8:-4] - level[4:-8]  # stretch [t - width, t) against [t, t + width)
    before = np.abs(level[4:-8] - level[:-12])
    after = np.abs(level[12:] - level[8:-4])
    step = np.abs(jump) * (np.maximum(before, after) < STEADY_SHARE * np.abs(jump))
    if step.size == 0 or step.max() <= STEP_LEVEL:
        return None
    where = (int(np.argmax(step)) + 8) * quarter
    return "dc_step", (f"the level jumps by {step.max():.2g} standard deviations near {where / rate:.3g} s "
                       "and stays (a DC step: sensor bias or cable)")


def _no_spike_possible(deviation: np.ndarray) -> bool:
    """Whether the 99.9th percentile is surely at least 1 / SPIKE_LEVEL of the largest deviation, so that no
    sample can be a spike, from one counting pass instead of the percentile's partition: enough samples lie
    at or above that level (one more than the percentile's index needs, a relative margin for rounding)."""
    level = float(deviation.max()) / SPIKE_LEVEL * (1.0 + 1e-9)
    needed = deviation.size - math.floor(0.999 * (deviation.size - 1)) + 1
    return int(np.count_nonzero(deviation >= level)) >= needed


def _row_medians(rows: np.ndarray) -> np.ndarray:
    """``np.median(rows, axis=1)`` of finite ``[M, n]`` rows, bit for bit (the same partition and mean of the
    middle pair), without np.median's per-call overhead (it dominated the gate on one window)."""
    n = rows.shape[1]
    half = n // 2
    if len(rows) == 1:  # one long row: one selection; the lower middle value is the largest below it
        part = np.partition(rows[0], half)
        if n % 2:
            return part[half:half + 1]
        return (part[:half].max(keepdims=True) + part[half:half + 1]) / 2.0
    part = np.sort(rows, axis=1)  # many short rows: a sort is cheaper than numpy's per-row partition
    if n % 2:
        return part[:, half]
    return (part[:, half - 1] + part[:, half]) / 2.0


def _spikes(deviation: np.ndarray) -> tuple[str, str] | None:
    if _no_spike_possible(deviation):
        return None
    reference = float(np.quantile(deviation, 0.999))
    if reference <= 0:
        return None
    spikes = np.flatnonzero(deviation > SPIKE_LEVEL * reference)
    if spikes.size == 0:
        return None
    return "spikes", (f"{spikes.size} sample(s) more than {SPIKE_LEVEL:g} times beyond the 99.9th percentile "
                      f"of the signal, the first at sample {spikes[0]}")


@lru_cache(maxsize=512)  # a few (length, rate) pairs recur per service; scipy's gamma.ppf costs ~1 ms a call
def _line_threshold(averages: float, bins: int) -> float:
    """Natural-log level above the local median that noise alone exceeds in ``bins`` bins with probability
    :data:`LINE_FALSE_ALARM` (a Welch average of ``averages`` periodograms is Gamma(K, 1/K) per bin)."""
    from scipy.stats import gamma

    k = max(1.0, averages)
    level = gamma.ppf(1.0 - LINE_FALSE_ALARM / max(bins, 1), a=k, scale=1.0 / k)
    median = gamma.ppf(0.5, a=k, scale=1.0 / k)
    return math.log(level / median) + LINE_MARGIN


def band_spectrum(x: np.ndarray, rate: float) -> tuple[np.ndarray, np.ndarray, float, float]:
    """(frequencies, natural-log power, Welch averages, spectral flatness) of ``x`` from 2 Hz to 2 kHz: what
    the ``no_machine`` rules judge (:func:`whitened_lines` with 150 bins or more)."""
    segment = 1 << int(math.floor(math.log2(min(0.5 * rate, x.size / 4.5))))
    freqs, power = welch_density(x - x.mean(), rate, segment)
    band = (freqs >= LINE_BAND_HZ[0]) & (freqs <= min(LINE_BAND_HZ[1], 0.4 * rate))
    log_power = np.log(power[band] + 1e-30 * (power.max() + 1e-300))
    averages = 2 * x.size / segment - 1  # Hann windows at 50 % overlap
    positive = power[1:][power[1:] > 0]
    flatness = float(np.exp(np.mean(np.log(positive))) / np.mean(positive)) if positive.size else 1.0
    return freqs[band], log_power, averages, flatness


def line_prominence(x: np.ndarray, rate: float) -> tuple[float, float, float]:
    """(highest line above the local spectral median in natural-log units, the noise threshold for it, the
    spectral flatness) of ``x`` between 2 Hz and 2 kHz."""
    _, log_power, averages, flatness = band_spectrum(x, rate)
    return _local_prominence(log_power), _line_threshold(averages, log_power.size), flatness


def _local_prominence(log_power: np.ndarray) -> float:
    return float((log_power - _median_filter()(log_power, size=31, mode="nearest")).max())


def whitened_lines(freqs: np.ndarray, log_power: np.ndarray, averages: float) -> tuple[int, int, float]:
    """(bins above the whitened floor's per-bin noise level, the fewest that noise alone reaches with chance
    :data:`LINES_FALSE_ALARM`, the highest bin above the one-line noise threshold in natural-log units).

    The floor: the log spectrum less its least-squares line in log frequency (a power law: white, pink or
    brown noise), then less its :data:`FLOOR_BINS` running median (mirrored at the band's ends, so that
    the shaft lines just above 2 Hz are judged against the floor rather than against themselves)."""
    centred = np.log(freqs)
    centred -= centred.mean()
    detrended = log_power - log_power.mean()
    detrended -= (centred @ detrended) / (centred @ centred) * centred  # np.polyfit's line, 5x cheaper
    above = detrended - _median_filter()(detrended, size=FLOOR_BINS, mode="mirror")
    lines = int(np.count_nonzero(above > _bin_level(averages)))
    peak = float(above.max()) - _line_threshold(averages, above.size)
    return lines, _lines_needed(above.size), peak


@lru_cache(maxsize=512)
def _bin_level(averages: float) -> float:
    """Natural-log level above the median that noise exceeds in a bin with chance :data:`BIN_FALSE_ALARM`."""
    from scipy.stats import gamma

    k = max(1.0, averages)
    return math.log(gamma.ppf(1.0 - BIN_FALSE_ALARM, a=k, scale=1.0 / k) / gamma.ppf(0.5, a=k, scale=1.0 / k))


@lru_cache(maxsize=512)
def _lines_needed(bins: int) -> int:
    """The fewest bins above :func:`_bin_level` that noise alone reaches in ``bins`` bins with chance below
    :data:`LINES_FALSE_ALARM` (binomial)."""
    from scipy.stats import binom

    return int(binom.isf(LINES_FALSE_ALARM, bins, BIN_FALSE_ALARM)) + 1


@lru_cache(maxsize=1)
def _median_filter():
    """scipy's ``median_filter``, imported once (scipy.ndimage is slow to import and not always needed)."""
    from scipy.ndimage import median_filter

    return median_filter


@lru_cache(maxsize=32)
def _hann(segment: int) -> np.ndarray:
    """The periodic Hann window of ``segment`` samples (scipy's ``get_window("hann", n)``), read-only."""
    window = 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(segment) / segment)
    window.flags.writeable = False
    return window


@lru_cache(maxsize=32)
def _hann_energy(segment: int) -> float:
    """``sum(window ** 2)`` of :func:`_hann` (the density's normalisation), computed once per length."""
    window = _hann(segment)
    return float(np.sum(window * window))


@lru_cache(maxsize=64)
def _frequencies(segment: int, rate: float) -> np.ndarray:
    """``np.fft.rfftfreq(segment, 1 / rate)``, read-only, computed once per (length, rate)."""
    freqs = np.fft.rfftfreq(segment, 1.0 / rate)
    freqs.flags.writeable = False
    return freqs


def welch_density(x: np.ndarray, rate: float, segment: int) -> tuple[np.ndarray, np.ndarray]:
    """(frequencies, one-sided power spectral density) of ``x``: the same estimate as
    ``scipy.signal.welch(x, fs=rate, nperseg=segment)`` (Hann window, 50 % overlap, each segment's mean
    removed, trailing samples that fill no segment dropped) in one batched FFT, without scipy's per-call
    set-up that cost more than the transform on short signals."""
    if not 0 < segment <= np.size(x):
        raise ValueError(f"welch_density: segment {segment} must be from 1 to the {np.size(x)} samples")
    step = segment - segment // 2
    x = np.ascontiguousarray(x)
    count = (x.size - segment) // step + 1  # the rows of sliding_window_view(x, segment)[::step]
    segments = np.lib.stride_tricks.as_strided(x, (count, segment), (x.strides[0] * step, x.strides[0]),
                                               writeable=False)
    spectra = np.fft.rfft((segments - segments.mean(axis=1, keepdims=True)) * _hann(segment), axis=1)
    power = np.mean(spectra.real ** 2 + spectra.imag ** 2, axis=0)
    power *= 1.0 / (rate * _hann_energy(segment))
    power[1:segment // 2 + (segment % 2)] *= 2.0  # one-sided: fold the negative frequencies (not DC/Nyquist)
    return _frequencies(segment, float(rate)), power


def _no_machine(x: np.ndarray, rate: float) -> tuple[str, str] | None:
    freqs, log_power, averages, flatness = band_spectrum(x, rate)
    band = f"from {LINE_BAND_HZ[0]:g} Hz to {LINE_BAND_HZ[1]:g} Hz"
    if freqs.size >= WHITENED_MIN_BINS:
        lines, needed, peak = whitened_lines(freqs, log_power, averages)
        if lines >= needed or peak >= WHITENED_PEAK_MARGIN:
            return None
        return "no_machine", (f"{lines} spectral bins {band} stand out of the whitened noise floor (a "
                              f"machine's lines: {needed} or more) and no line alone (the highest "
                              f"{10 * peak / math.log(10):+.1f} dB from what noise reaches): broadband "
                              "noise, white or coloured, no rotating machine in it")
    prominence, threshold = _local_prominence(log_power), _line_threshold(averages, log_power.size)
    if prominence >= threshold or flatness < FLATNESS_MIN:
        return None
    return "no_machine", (f"no spectral line {band} stands out of the noise (highest "
                          f"{10 * prominence / math.log(10):.1f} dB above its surroundings, noise reaches "
                          f"{10 * threshold / math.log(10):.1f} dB; spectral flatness {flatness:.2f}): "
                          "broadband noise, no rotating machine in it")
