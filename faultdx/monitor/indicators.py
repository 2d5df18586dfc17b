"""Condition indicators of a raw vibration signal (acceleration in g): RMS, peak, crest factor, kurtosis,
and the velocity RMS in mm/s over 10-1000 Hz that ISO 20816-3 zones are defined on."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

G = 9.80665  # m/s² per g
VELOCITY_BAND_HZ = (10.0, 1000.0)  # ISO 20816-3 broadband velocity for machines above 600 rpm


@dataclass(frozen=True)
class Indicators:
    """Indicators of one channel: ``rms``, ``peak`` (of |x|) in the signal's unit (g), ``crest_factor``
    (peak / RMS), ``kurtosis`` (Pearson: 3 for Gaussian noise, higher for impacts), ``velocity_rms``
    (mm/s)."""

    rms: float
    peak: float
    crest_factor: float
    kurtosis: float
    velocity_rms: float

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def velocity_rms(acceleration_g: np.ndarray, sampling_rate: float,
                 band: tuple[float, float] = VELOCITY_BAND_HZ) -> float:
    """RMS velocity in mm/s of an acceleration signal in g, band-passed to ``band`` (Hz).

    Integrated in the frequency domain: each acceleration bin divided by j·2πf, bins outside the band set to
    zero, and the RMS taken by Parseval. The upper edge is cut to Nyquist when the rate is too low for it.
    """
    x = np.asarray(acceleration_g, dtype=np.float64) * G
    n = x.size
    if n < 2:
        return 0.0
    spectrum = np.fft.rfft(x - x.mean())
    freqs = np.fft.rfftfreq(n, 1.0 / sampling_rate)
    keep = (freqs >= band[0]) & (freqs <= min(band[1], sampling_rate / 2)) & (freqs > 0)
    velocity = spectrum[keep] / (2j * np.pi * freqs[keep])
    # one-sided spectrum: every bin but DC and Nyquist stands for itself and its negative-frequency twin
    weight = np.where((freqs[keep] == sampling_rate / 2) & (n % 2 == 0), 1.0, 2.0)
    mean_square = float(np.sum(weight * np.abs(velocity) ** 2)) / n**2
    return 1000.0 * float(np.sqrt(mean_square))


def indicators(signal: np.ndarray, sampling_rate: float) -> Indicators:
    """Indicators of ``signal`` (``[T]``, or ``[C, T]`` whose first channel is used), acceleration in g."""
    x = np.asarray(signal, dtype=np.float64)
    if x.ndim == 2:
        x = x[0]
    if x.ndim != 1 or x.size == 0 or not np.all(np.isfinite(x)):
        raise ValueError("signal must be a non-empty, finite [samples] or [channels][samples] array")
    rms = float(np.sqrt(np.mean(x**2)))
    peak = float(np.max(np.abs(x)))
    centred = x - x.mean()
    var = float(np.mean(centred**2))
    kurt = float(np.mean(centred**4) / var**2) if var > 0 else 0.0
    return Indicators(
        rms=rms,
        peak=peak,
        crest_factor=peak / rms if rms > 0 else 0.0,
        kurtosis=kurt,
        velocity_rms=velocity_rms(x, sampling_rate),
    )
