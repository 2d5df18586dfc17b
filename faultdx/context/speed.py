"""Shaft speed from the vibration signal alone, for requests that come without ``rpm``.

The shaft frequency fr shows up as a harmonic series k·fr in the low-frequency spectrum (unbalance,
misalignment, looseness). The estimate is the candidate fr whose harmonics stand highest above the local
spectral background: a weighted harmonic sum over the whitened log-magnitude spectrum, minus the same sum at
the half-way points (k - 1/2)·fr, which is what tells fr from 2·fr. Measured accuracy:
``bench/speed_accuracy.py`` → ``results/speed_estimation.json``.
"""

from __future__ import annotations

import numpy as np

MIN_DURATION_S = 0.1
HARMONICS = 10
# the half-way penalty weight and the whitening width were chosen on CWRU + MFPT whole recordings and 1 s
# excerpts (bench/speed_accuracy.py); low harmonics weigh more (1/k) because 1x-3x carry most of the energy
HALF_WAY_PENALTY = 0.5
WHITEN_HZ = 20.0
PEAK_LEVEL = 2.0  # log-magnitude above the background (about 17 dB) for a harmonic to count as a clear peak
GRID_STEP = 1e-4  # relative spacing of the candidate grid (0.01 %)


def _check(signal: np.ndarray, sampling_rate: float, min_rpm: float, max_rpm: float) -> np.ndarray:
    x = np.asarray(signal, dtype=np.float64)
    if x.ndim != 1:
        raise ValueError(f"estimate_rpm expects a 1-D signal, got shape {x.shape}")
    if not np.isfinite(sampling_rate) or sampling_rate <= 0:
        raise ValueError(f"sampling_rate must be a positive number, got {sampling_rate}")
    if not 0 < min_rpm < max_rpm:
        raise ValueError(f"need 0 < min_rpm < max_rpm, got {min_rpm}, {max_rpm}")
    if x.size < MIN_DURATION_S * sampling_rate:
        raise ValueError(f"signal too short to estimate the shaft speed: {x.size} samples = "
                         f"{x.size / sampling_rate:.3g} s at {sampling_rate:g} Hz, "
                         f"need at least {MIN_DURATION_S} s")
    if not np.all(np.isfinite(x)):
        raise ValueError("signal contains NaN or infinite values; cannot estimate the shaft speed")
    if max_rpm / 60.0 >= sampling_rate / 2:
        raise ValueError(f"max_rpm {max_rpm:g} is above the Nyquist frequency of {sampling_rate:g} Hz")
    return x - x.mean()


def _whitened_spectrum(x: np.ndarray, sampling_rate: float, f_max: float, *,
                       pad: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """(frequencies, log magnitude minus its running median) of the whole (zero-mean) signal up to ``f_max``,
    zero-padded to at least ``pad`` times its length."""
    from scipy.ndimage import median_filter

    # zero-padding ×4 or more so that interpolating between bins follows the peak shape
    n_fft = 1 << int(np.ceil(np.log2(pad * x.size)))
    magnitude = np.abs(np.fft.rfft(x * np.hanning(x.size), n_fft))
    freqs = np.fft.rfftfreq(n_fft, 1.0 / sampling_rate)
    keep = freqs <= f_max
    freqs, magnitude = freqs[keep], magnitude[keep]
    log_mag = np.log(magnitude + 1e-12 * (magnitude.max() + 1e-30))
    # background over a band wider than a few harmonics (and than 8 resolution cells of a short signal),
    # so that the spectral slope and resonance humps cancel but the harmonic peaks do not
    width_hz = max(WHITEN_HZ, 8.0 * sampling_rate / x.size)
    size = max(3, int(width_hz / freqs[1]) | 1)
    return freqs, log_mag - median_filter(log_mag, size=size, mode="nearest")


def _harmonic_score(freqs: np.ndarray, spectrum: np.ndarray, candidates: np.ndarray,
                    harmonics: int) -> np.ndarray:
    """Weighted harmonic sum at k·f minus a penalty at (k - 1/2)·f for every candidate f."""
    k = np.arange(1, harmonics + 1)
    weights = (1.0 / k) / np.sum(1.0 / k)
    on = np.interp(np.outer(candidates, k), freqs, spectrum) @ weights
    # at 2·fr the half-way points are the odd harmonics of fr: strong, so 2·fr loses to fr
    half_way = np.interp(np.outer(candidates, k - 0.5), freqs, spectrum) @ weights
    return on - HALF_WAY_PENALTY * half_way


def _refine(freqs: np.ndarray, spectrum: np.ndarray, fr: float, harmonics: int, resolution: float) -> float:
    """Re-centre ``fr`` on the clear harmonic peaks near k·fr (noise at the other k biases the grid score)."""
    estimates, weights = [], []
    for k in range(1, harmonics + 1):
        near = np.flatnonzero(np.abs(freqs - k * fr) <= resolution)
        if near.size == 0:
            continue
        peak = near[np.argmax(spectrum[near])]
        if spectrum[peak] >= PEAK_LEVEL:
            estimates.append(freqs[peak] / k)
            weights.append(k)  # a peak at k·fr pins fr k times more finely
    return float(np.average(estimates, weights=weights)) if estimates else fr


def estimate_rpm(signal: np.ndarray, sampling_rate: float, *, min_rpm: float = 300.0,
                 max_rpm: float = 6000.0) -> float:
    """Estimate the shaft speed (rpm) from a 1-D vibration ``signal`` sampled at ``sampling_rate`` Hz.

    Searches ``[min_rpm, max_rpm]`` for the shaft frequency whose harmonic series stands highest above the
    whitened spectrum of the whole signal. Needs at least 0.1 s; longer signals resolve the speed more finely
    (the measured accuracy per signal length is in ``results/speed_estimation.json``).

    Raises ValueError for signals shorter than 0.1 s, non-finite samples, or a non 1-D signal.
    """
    x = _check(signal, sampling_rate, min_rpm, max_rpm)
    f_lo, f_hi = min_rpm / 60.0, max_rpm / 60.0
    harmonics = int(max(1, min(HARMONICS, 0.45 * sampling_rate // f_hi)))
    count = int(np.log(f_hi / f_lo) / np.log1p(GRID_STEP)) + 1
    candidates = f_lo * (1.0 + GRID_STEP) ** np.arange(count)
    freqs, spectrum = _whitened_spectrum(x, sampling_rate, harmonics * f_hi + 1.0)
    score = _harmonic_score(freqs, spectrum, candidates, harmonics)
    fr = candidates[int(np.argmax(score))]
    return 60.0 * _refine(freqs, spectrum, fr, harmonics, resolution=sampling_rate / x.size)
