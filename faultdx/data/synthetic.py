"""Physics-based vibration model of a deep-groove ball bearing: the embedded default dataset.

A localised defect produces one impact each time a rolling element meets it: at BPFO (outer race), BPFI
(inner race) or BSF (ball). Impacts arrive with random slip (the period jitters by 1-2 %), are
amplitude-modulated by the load zone (at shaft speed for an inner-race defect, at cage speed for a ball
defect, fixed for an outer-race defect in the load zone), and each one rings a decaying structural resonance.
Shaft harmonics and broadband measurement noise are added on top. Larger defects hit harder, and each defect
size rings its own structural mode. The class set is CWRU's, so everything downstream (training, service,
page) works with no download.

:mod:`faultdx.data.simulated` randomises every nuisance instead (its names are re-exported here).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from faultdx.data.base import (
    CWRU_10_CLASSES,
    FAULT_TYPES,
    DatasetExample,
    InfoTable,
    Recording,
    fault_type_of,
    pretty_label,
)
from faultdx.data.bearing import SKF_6205, BearingGeometry, defect_frequencies
from faultdx.data.noise import awgn
from faultdx.data.simulated import Machine, RandomizedSimDataset, random_machine, simulate_machine

NOMINAL_RPM = {0: 1797.0, 1: 1772.0, 2: 1750.0, 3: 1730.0}  # CWRU motor speed by load (HP)
# defect size (mils) -> (impact amplitude, resonance Hz, damping ratio)
SIZES = {"007": (1.0, 3400.0, 0.05), "014": (1.6, 2800.0, 0.04), "021": (2.3, 3900.0, 0.035)}
DEFAULT_SIZE = "014"
MODULATION_DEPTH = 0.5
NOISE_STD = 0.05  # measurement noise, relative to a size-007 impact


def _resonance(impulses: np.ndarray, sampling_rate: float, freq: float, damping: float) -> np.ndarray:
    """Ring a single-degree-of-freedom resonance (two-pole filter) with an impulse train."""
    from scipy.signal import lfilter

    w = 2 * np.pi * freq / sampling_rate
    r = np.exp(-damping * w)
    return lfilter([1.0], [1.0, -2.0 * r * np.cos(w * np.sqrt(1 - damping**2)), r * r], impulses)


def _impact_times(rate_hz: float, duration_s: float, rng: np.random.Generator) -> np.ndarray:
    """Impact instants at ``rate_hz`` with random slip: each period jitters with a 1-2 % std."""
    slip = rng.uniform(0.01, 0.02)
    n = int(duration_s * rate_hz) + 2
    periods = (1.0 / rate_hz) * (1.0 + slip * rng.standard_normal(n))
    times = rng.uniform(0, 1.0 / rate_hz) + np.cumsum(periods)
    return times[times < duration_s]


def simulate(
    label: str,
    *,
    duration_s: float,
    sampling_rate: float = 12000,
    rpm: float = 1797,
    seed: int = 0,
    geometry: BearingGeometry = SKF_6205,
    snr_db: float | None = None,
) -> np.ndarray:
    """Simulate ``duration_s`` seconds of vibration for ``label`` → float32 ``[T]``.

    ``label`` is a CWRU class (``normal``, ``inner_race_014``, ...) or a bare fault type (size 0.014 in).
    ``snr_db`` adds white noise at that SNR against the simulated signal's power.
    """
    fault_type = fault_type_of(label)
    size = label.rsplit("_", 1)[1] if label != fault_type else DEFAULT_SIZE
    if fault_type != "normal" and size not in SIZES:
        raise ValueError(f"unknown defect size in {label!r}; sizes: {', '.join(SIZES)}")
    if duration_s <= 0 or sampling_rate <= 0 or rpm <= 0:
        raise ValueError(f"duration_s, sampling_rate and rpm must be positive, got {duration_s}, "
                         f"{sampling_rate}, {rpm}")
    rng = np.random.default_rng(seed)
    n = int(round(duration_s * sampling_rate))
    t = np.arange(n) / sampling_rate
    freqs = defect_frequencies(geometry, rpm / 60.0)

    x = np.zeros(n)
    for k, amp in enumerate((0.10, 0.05, 0.03), start=1):  # shaft harmonics: unbalance, misalignment
        x += amp * np.sin(2 * np.pi * k * freqs.shaft * t + rng.uniform(0, 2 * np.pi))
    if fault_type != "normal":
        amplitude, resonance_hz, damping = SIZES[size]
        rate, modulation = {
            "outer_race": (freqs.bpfo, None),
            "inner_race": (freqs.bpfi, freqs.shaft),
            "ball": (freqs.bsf, freqs.ftf),
        }[fault_type]
        times = _impact_times(rate, duration_s, rng)
        strength = amplitude * (1.0 + 0.1 * rng.standard_normal(times.size))
        if modulation is not None:
            phase = rng.uniform(0, 2 * np.pi)
            strength *= 1.0 + MODULATION_DEPTH * np.cos(2 * np.pi * modulation * times + phase)
        impulses = np.zeros(n)
        np.add.at(impulses, np.minimum((times * sampling_rate).astype(int), n - 1), strength)
        x += _resonance(impulses, sampling_rate, resonance_hz, damping)
    x += NOISE_STD * rng.standard_normal(n)
    if snr_db is not None:
        x = awgn(x, snr_db, rng)
    return x.astype(np.float32)


class SyntheticDataset:
    """Simulated CWRU-like data: the 10 CWRU classes at 0-3 HP (nominal rpm), deterministic per seed.

    Every (class, load) pair is one recording of ``duration_s`` seconds at ``sampling_rate`` Hz.
    """

    name = "synthetic"
    summary = "physics-based bearing simulator (SKF 6205), CWRU classes, 0-3 HP; embedded, no download"
    conditions: tuple[float, ...] = tuple(float(load) for load in NOMINAL_RPM)
    condition_unit = "HP"
    example_seconds = 2.0  # long enough for 0.5 Hz envelope resolution and a dozen windows

    def __init__(
        self,
        sampling_rate: float = 12000,
        duration_s: float = 10.0,
        seed: int = 0,
        label_set: str = "10class",
        geometry: BearingGeometry = SKF_6205,
    ) -> None:
        if label_set not in ("10class", "4class"):
            raise ValueError(f"unknown label_set {label_set!r}; valid: 10class, 4class")
        self.sampling_rate = float(sampling_rate)
        self.duration_s = duration_s
        self.seed = seed
        self.label_set = label_set
        self.geometry = geometry
        self.classes: tuple[str, ...] = CWRU_10_CLASSES if label_set == "10class" else FAULT_TYPES
        self.bearing = geometry.name

    def files_present(self) -> None:
        return None

    def info(self) -> InfoTable:
        rows = []
        for load, rpm in NOMINAL_RPM.items():
            f = defect_frequencies(self.geometry, rpm / 60)
            values = (f.shaft, f.bpfo, f.bpfi, f.bsf, f.ftf)
            rows.append((str(load), f"{rpm:g}", *(f"{v:.2f}" for v in values)))
        return InfoTable(
            title=f"synthetic: {len(self.classes)} classes x {len(NOMINAL_RPM)} loads, {self.duration_s:g} s "
                  f"each at {self.sampling_rate:g} Hz ({self.bearing})",
            columns=("load (HP)", "rpm", "shaft (Hz)", "BPFO (Hz)", "BPFI (Hz)", "BSF (Hz)", "FTF (Hz)"),
            rows=rows,
            footer=f"classes: {', '.join(self.classes)}",
        )

    def examples(self) -> list[DatasetExample]:
        """The simulator's signal of every CWRU class at 0 HP (seed 0), made on demand."""
        rpm, rate = NOMINAL_RPM[0], self.sampling_rate
        return [
            DatasetExample(
                name=f"sim-{label}",
                title=f"Simulated · {pretty_label(label)}",
                group=f"Simulated ({rate / 1000:g} kHz, {rpm:g} rpm)",
                label=label,
                sampling_rate=rate,
                rpm=rpm,
                bearing=self.bearing,
                unit="acceleration (a.u.)",
                description=f"{self.example_seconds:g} s from the embedded bearing simulator (seed 0)",
                samples=lambda label=label: _example_signal(label, self.example_seconds, rate, rpm),
            )
            for label in CWRU_10_CLASSES
        ]

    def recordings(
        self, *, conditions: list[float] | None = None, channels: tuple[str, ...] = ("DE",)
    ) -> list[Recording]:
        """One simulated drive-end recording per class and load (only channel ``DE`` exists)."""
        if tuple(channels) != ("DE",):
            raise ValueError(f"the synthetic dataset simulates only the DE channel, got {tuple(channels)}")
        out = []
        for load, rpm in NOMINAL_RPM.items():
            if conditions is not None and load not in conditions:
                continue
            for index, name in enumerate(CWRU_10_CLASSES):
                seed = self.seed * 1000 + index * 10 + load
                signal = simulate(name, duration_s=self.duration_s, sampling_rate=self.sampling_rate,
                                  rpm=rpm, seed=seed, geometry=self.geometry)
                out.append(Recording(
                    key=f"synthetic/{name}/{load}hp",
                    signal=signal[None, :],
                    sampling_rate=self.sampling_rate,
                    label=name if self.label_set == "10class" else fault_type_of(name),
                    condition=float(load),
                    rpm=rpm,
                    channels=("DE",),
                    source=f"simulate({name!r}, rpm={rpm:g}, seed={seed})",
                    meta={"seed": seed},
                    bearing=self.geometry,
                ))
        return out


@lru_cache(maxsize=16)
def _example_signal(label: str, duration_s: float, sampling_rate: float, rpm: float) -> np.ndarray:
    return simulate(label, duration_s=duration_s, sampling_rate=sampling_rate, rpm=rpm, seed=0)


__all__ = ["NOMINAL_RPM", "SIZES", "Machine", "RandomizedSimDataset", "SyntheticDataset", "random_machine",
           "simulate", "simulate_machine"]
