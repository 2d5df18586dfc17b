"""Domain-randomised simulated machines (dataset ``simulated``): :func:`random_machine`,
:func:`simulate_machine` and :class:`RandomizedSimDataset` randomise every nuisance (bearing, speed,
structural modes, transfer path, slip, modulation, background tones, fault-unrelated impacts), so a network
trained on many simulated machines must learn the physics of a fault, periodic impacts at a defect frequency
ringing the structure, rather than the look of one rig. Healthy machines carry what real healthy machines
carry (shaft orders from unbalance, misalignment and looseness, gear-mesh and blade-pass tones with shaft
sidebands, mains lines, random impacts, structural modes rung by broadband forcing, coloured and
shaft-modulated noise), and a faulty machine is the same machine with the defect's impacts on top: only
defect-family periodicity tells the classes apart.
The fixed CWRU-like simulator is :mod:`faultdx.data.synthetic`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from faultdx.data.base import FAULT_TYPES, DatasetExample, InfoTable, Recording
from faultdx.data.bearing import BearingGeometry, DefectFrequencies, defect_frequencies
from faultdx.data.noise import awgn

# Domain-randomised machines. Amplitudes are in arbitrary units: only ratios matter until the sensor gain.

MIN_SAMPLING_RATE = 2000.0
MAX_HARMONIC = 5  # the 5th harmonic of every defect frequency stays below HARMONIC_LIMIT x sampling rate
HARMONIC_LIMIT = 0.4
FAULT_DB = (-15.0, 15.0)  # fault-to-background power ratio at severity 0 and 1
NUISANCE_MARGIN = 0.1  # periodic nuisance impacts stay this far (relative) from defect rates and harmonics
FORCED_DB = (-15.0, 10.0)  # modes rung by broadband forcing (flow, friction), against the rest
NOISE_COLOUR = (-1.0, 2.0)  # exponent a of the broadband noise's 1/f^a power spectrum


@dataclass(frozen=True)
class Resonance:
    """One structural mode: natural frequency (Hz), damping ratio, and ring amplitude per unit impact."""

    freq: float
    damping: float
    gain: float


@dataclass(frozen=True)
class Tone:
    """A background tone (mains, gear mesh); ``sideband_hz`` and ``depth`` amplitude-modulate it."""

    freq: float
    amplitude: float
    sideband_hz: float = 0.0
    depth: float = 0.0


@dataclass(frozen=True)
class Machine:
    """A random machine at one operating point: bearing, speed, structure, transfer path and background.

    ``path`` is the transfer path from bearing to sensor as scipy second-order sections (a spectral tilt and
    a peak or notch). ``slip`` is the std of each impact period (relative); ``modulation_depth`` and
    ``load_zone`` (half-width, radians) shape the load-zone modulation. Fault-unrelated impacts
    (``nuisance_rate`` > 0) are Poisson, or periodic at a rate far from every defect frequency;
    ``nuisance_db`` is their power relative to the rest of the background. ``gain`` is the sensor's.
    ``forced_db`` is the power of the structural modes rung by broadband forcing (every machine has some),
    ``noise_colour`` the exponent of the broadband noise's 1/f spectrum, and ``noise_am`` the depths of its
    modulation at 1x and 2x shaft speed (a rotating load: envelope lines at shaft orders, healthy or not).
    ``electrical_am`` (Hz, depth) modulates that noise sinusoidally at an electrical rate (twice the mains
    line, a drive's supply frequency, sometimes right at a defect rate): a single envelope line with no
    harmonic family, which a real healthy motor shows and a defect's impacts do not.
    """

    geometry: BearingGeometry
    rpm: float
    resonances: tuple[Resonance, ...]
    path: tuple[tuple[float, ...], ...]
    slip: float
    modulation_depth: float
    load_zone: float
    amplitude_jitter: float
    noise_std: float
    shaft_harmonics: tuple[float, ...]
    tones: tuple[Tone, ...]
    drift: float
    drift_hz: float
    nuisance_rate: float
    nuisance_periodic: bool
    nuisance_db: float
    gain: float
    forced_db: float = -200.0
    noise_colour: float = 0.0
    noise_am: tuple[float, float] = (0.0, 0.0)
    electrical_am: tuple[float, float] = (0.0, 0.0)

    @property
    def defects(self) -> DefectFrequencies:
        """The bearing's defect frequencies at this machine's speed."""
        return defect_frequencies(self.geometry, self.rpm / 60.0)


def random_machine(rng: np.random.Generator, sampling_rate: float) -> Machine:
    """Draw a random machine and operating point whose defect frequencies suit ``sampling_rate``."""
    if sampling_rate < MIN_SAMPLING_RATE:
        raise ValueError(f"sampling_rate must be at least {MIN_SAMPLING_RATE:g} Hz, got {sampling_rate}")
    geometry = _random_geometry(rng)
    rpm = _random_rpm(rng, geometry, sampling_rate)
    defects = defect_frequencies(geometry, rpm / 60.0)
    nuisance_rate, nuisance_periodic = _random_nuisance(rng, defects)
    return Machine(
        geometry=geometry,
        rpm=rpm,
        resonances=_random_resonances(rng, defects, sampling_rate),
        path=_random_path(rng, sampling_rate),
        slip=float(rng.uniform(0.003, 0.03)),
        modulation_depth=float(rng.uniform(0.0, 0.9)),
        load_zone=float(rng.uniform(np.pi / 3, np.pi)),
        amplitude_jitter=float(rng.uniform(0.0, 0.3)),
        noise_std=_log_uniform(rng, 0.02, 0.5),
        shaft_harmonics=_random_shaft_harmonics(rng),
        tones=_random_tones(rng, defects.shaft, sampling_rate),
        drift=_log_uniform(rng, 0.01, 1.0) if rng.random() < 0.5 else 0.0,
        drift_hz=float(rng.uniform(0.05, 1.0)),
        nuisance_rate=nuisance_rate,
        nuisance_periodic=nuisance_periodic,
        nuisance_db=float(rng.uniform(-10.0, 10.0)),
        gain=_log_uniform(rng, 0.2, 5.0),
        forced_db=float(rng.uniform(*FORCED_DB)),
        noise_colour=float(rng.uniform(*NOISE_COLOUR)) if rng.random() < 0.7 else 0.0,
        noise_am=_random_noise_am(rng),
        electrical_am=_random_electrical_am(rng, defects),
    )


def _log_uniform(rng: np.random.Generator, low: float, high: float) -> float:
    return float(np.exp(rng.uniform(np.log(low), np.log(high))))


def _random_geometry(rng: np.random.Generator) -> BearingGeometry:
    balls = int(rng.integers(6, 21))
    # the balls must fit on the pitch circle with room for the cage
    ratio = rng.uniform(0.1, min(0.3, 0.85 * np.pi / balls))
    pitch = rng.uniform(20.0, 120.0)
    angle = 0.0 if rng.random() < 0.6 else rng.uniform(0.0, 40.0)
    return BearingGeometry(balls, float(ratio * pitch), float(pitch), float(angle), "random")


def _fault_rates(defects: DefectFrequencies) -> np.ndarray:
    """Impact rates of the three faults: BPFO, BPFI, and 2 x BSF (a ball defect strikes both races)."""
    return np.array([defects.bpfo, defects.bpfi, 2.0 * defects.bsf])


def _random_rpm(rng: np.random.Generator, geometry: BearingGeometry, sampling_rate: float) -> float:
    """Log-uniform 300-6000 rpm, capped so every defect rate's 5th harmonic stays below 0.4 x rate."""
    per_shaft_hz = _fault_rates(defect_frequencies(geometry, 1.0)).max()
    highest = 60.0 * 0.999 * HARMONIC_LIMIT * sampling_rate / (MAX_HARMONIC * per_shaft_hz)
    return _log_uniform(rng, 300.0, min(6000.0, highest))


def _random_resonances(
    rng: np.random.Generator, defects: DefectFrequencies, sampling_rate: float
) -> tuple[Resonance, ...]:
    # a mode must ring well above the impact rate, or the impacts never appear as separate rings
    low = max(600.0, 3.0 * _fault_rates(defects).max())
    count = int(rng.integers(1, 4))
    freqs = np.sort(rng.uniform(low, 0.45 * sampling_rate, count))
    dampings = rng.uniform(0.01, 0.12, count)
    gains = 10 ** rng.uniform(-1.0, 0.0, count)
    modes = zip(freqs, dampings, gains, strict=True)
    return tuple(Resonance(float(f), float(d), float(g)) for f, d, g in modes)


def _random_path(rng: np.random.Generator, sampling_rate: float) -> tuple[tuple[float, ...], ...]:
    """A first-order spectral tilt (up to about +-15 dB at each end) and a peaking section (+-12 dB)."""
    zero, pole = rng.uniform(-0.7, 0.7, 2)
    tilt = (1.0, -zero, 0.0, 1.0, -pole, 0.0)
    freq = rng.uniform(200.0, 0.45 * sampling_rate)
    return tilt, _peaking(freq, rng.uniform(-12.0, 12.0), rng.uniform(0.5, 3.0), sampling_rate)


def _peaking(freq: float, gain_db: float, q: float, sampling_rate: float) -> tuple[float, ...]:
    """The audio-EQ-cookbook peaking biquad as one normalised second-order section."""
    a = 10 ** (gain_db / 40)
    w = 2 * np.pi * freq / sampling_rate
    alpha = np.sin(w) / (2 * q)
    b = np.array([1 + alpha * a, -2 * np.cos(w), 1 - alpha * a])
    den = np.array([1 + alpha / a, -2 * np.cos(w), 1 - alpha / a])
    return tuple(float(v) for v in np.r_[b, den] / den[0])


def _random_noise_am(rng: np.random.Generator) -> tuple[float, float]:
    """Depths of the broadband noise's modulation at 1x and 2x shaft speed (none on 40 % of machines)."""
    if rng.random() >= 0.6:
        return 0.0, 0.0
    return float(rng.uniform(0.0, 0.6)), float(rng.uniform(0.0, 0.3))


def _random_electrical_am(rng: np.random.Generator, defects: DefectFrequencies) -> tuple[float, float]:
    """(rate Hz, depth) of the noise's electrical modulation (none on half of the machines): twice the mains
    line, a drive's supply frequency (any order of the shaft), or within 2 % of one defect rate."""
    if rng.random() >= 0.5:
        return 0.0, 0.0
    pick = rng.random()
    if pick < 0.35:
        rate = 2.0 * float(rng.choice([50.0, 60.0]))
    elif pick < 0.7:
        rate = defects.shaft * float(rng.uniform(0.5, 12.0))
    else:  # a single line where a defect's family would start: only its harmonics and sidebands tell
        rate = float(rng.choice(np.r_[_fault_rates(defects), defects.bsf])) * float(rng.uniform(0.98, 1.02))
    return rate, float(rng.uniform(0.1, 0.6))


def _random_shaft_harmonics(rng: np.random.Generator) -> tuple[float, ...]:
    """Amplitudes of 1x-5x shaft speed: unbalance (1x), and on some machines misalignment (a strong 2x)."""
    amplitudes = _log_uniform(rng, 0.02, 1.0) * np.r_[1.0, 10 ** rng.uniform(-2, 0, 4)]
    if rng.random() < 0.3:
        amplitudes[1] = amplitudes[0] * rng.uniform(0.5, 3.0)
    return tuple(float(a) for a in amplitudes)


def _random_tones(rng: np.random.Generator, shaft_hz: float, sampling_rate: float) -> tuple[Tone, ...]:
    """Background tones: mains lines, looseness orders, gear mesh and blade pass (shaft sidebands)."""
    top = 0.45 * sampling_rate
    tones = []
    if rng.random() < 0.6:  # mains: line frequency and its harmonics (2x line is the strong magnetic one)
        line = float(rng.choice([50.0, 60.0]))
        tones += [Tone(k * line, _log_uniform(rng, 0.005, 0.3)) for k in (1, 2, 3, 4) if rng.random() < 0.6]
    if rng.random() < 0.35:  # looseness: many shaft harmonics, and half orders on some machines
        base = _log_uniform(rng, 0.01, 0.3)
        last = int(rng.integers(8, 21))
        orders = np.arange(2, last + 1) * 0.5 if rng.random() < 0.5 else np.arange(6, last + 1, dtype=float)
        tones += [Tone(o * shaft_hz, base * 10 ** rng.uniform(-1.0, 0.0))
                  for o in orders if o * shaft_hz < top]
    for _ in range(int(rng.integers(0, 3))):  # gear mesh (teeth x shaft), with sidebands at the shaft speed
        freq = float(rng.integers(12, 90)) * shaft_hz
        if not 100.0 < freq < top:
            freq = float(rng.uniform(200.0, 0.4 * sampling_rate))
        tones.append(Tone(freq, _log_uniform(rng, 0.01, 0.5), shaft_hz, float(rng.uniform(0.0, 0.8))))
    if rng.random() < 0.3:  # fan or pump: blade pass and its second harmonic, sidebands at the shaft speed
        blades = float(rng.integers(3, 13))
        tones += [Tone(k * blades * shaft_hz, _log_uniform(rng, 0.01, 0.5), shaft_hz,
                       float(rng.uniform(0, 0.5))) for k in (1, 2) if k * blades * shaft_hz < top]
    return tuple(tones)


def _random_nuisance(rng: np.random.Generator, defects: DefectFrequencies) -> tuple[float, bool]:
    """Rate of fault-unrelated impacts (0: none) and whether they are periodic."""
    if rng.random() >= 0.6:
        return 0.0, False
    if rng.random() < 0.5:
        for _ in range(100):
            rate = _log_uniform(rng, 0.5 * defects.shaft, 20.0 * defects.shaft)
            if _far_from_defects(rate, defects):
                return rate, True
    return _log_uniform(rng, 2.0, 60.0), False


def _far_from_defects(rate: float, defects: DefectFrequencies) -> bool:
    """Whether ``rate``, its harmonics and sub-harmonics all miss every defect rate by NUISANCE_MARGIN."""
    lines = np.r_[_fault_rates(defects), defects.bsf, defects.ftf][:, None]
    k = np.arange(1, MAX_HARMONIC + 1)
    ratios = np.concatenate([rate / (k * lines), k * rate / lines])
    return bool(np.all(np.abs(ratios - 1.0) > NUISANCE_MARGIN))


def simulate_machine(
    fault_type: str,
    machine: Machine,
    *,
    duration_s: float,
    sampling_rate: float,
    rng: np.random.Generator,
    severity: float | None = None,
    snr_db: float | None = None,
) -> np.ndarray:
    """Simulate ``duration_s`` seconds of ``machine`` with a ``fault_type`` defect → float32 ``[T]``.

    ``fault_type`` is one of :data:`FAULT_TYPES`. ``severity`` in [0, 1] sets the fault's power against the
    background from -15 dB to +15 dB (less for a defect outside the load zone); ``None`` draws it, skewed
    low for a ball defect. ``snr_db`` then adds white noise at that SNR against the whole signal.
    """
    if fault_type not in FAULT_TYPES:
        raise ValueError(f"unknown fault type {fault_type!r}; fault types are {', '.join(FAULT_TYPES)}")
    if duration_s <= 0 or sampling_rate <= 0:
        raise ValueError(f"duration_s and sampling_rate must be positive, got {duration_s}, {sampling_rate}")
    if severity is not None and not 0.0 <= severity <= 1.0:
        raise ValueError(f"severity must be from 0 to 1, got {severity}")
    from scipy.signal import sosfilt

    n = int(round(duration_s * sampling_rate))
    # row 0: the fault's impacts, row 1: fault-unrelated impacts, row 2: broadband forcing of the structure
    impulses = np.zeros((3, n))
    impulses[2] = _modulated(rng.standard_normal(n), machine, sampling_rate, rng)
    attenuation_db = 0.0
    if fault_type != "normal":
        times, strength, attenuation_db = _fault_impacts(fault_type, machine, duration_s, rng)
        impulses[0] = _impulse_train(times, strength, n, sampling_rate)
    if machine.nuisance_rate > 0:
        impulses[1] = _impulse_train(*_nuisance_impacts(machine, duration_s, rng), n, sampling_rate)
    rung = _ring(impulses, machine.resonances, sampling_rate)
    rest = _continuous_background(machine, n, sampling_rate, rng)
    nuisance = _scaled(rung[1], rest, machine.nuisance_db)
    forced = _scaled(rung[2], rest, machine.forced_db)
    fault, background = sosfilt(machine.path, np.stack([rung[0], rest + nuisance + forced]))
    x = background
    if fault_type != "normal":
        if severity is None:
            severity = rng.uniform() ** (2.0 if fault_type == "ball" else 1.0)  # ball faults are often weak
        fault_db = FAULT_DB[0] + (FAULT_DB[1] - FAULT_DB[0]) * severity - attenuation_db
        x = background + _scaled(fault, background, fault_db)
    x = machine.gain * x
    if snr_db is not None:
        x = awgn(x, snr_db, rng)
    return x.astype(np.float32)


def _fault_impacts(
    fault_type: str, machine: Machine, duration_s: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, float]:
    """Impact times and strengths of a localised defect, and how many dB it is weakened by."""
    defects, depth = machine.defects, machine.modulation_depth
    attenuation_db = 0.0
    if fault_type == "outer_race":
        times = _periodic_times(defects.bpfo, duration_s, machine.slip, rng)
        strength = np.ones(times.size)
        if rng.random() < 0.3:  # defect outside the load zone: only the rotating unbalance load reaches it
            phase = rng.uniform(0, 2 * np.pi)
            strength = 1.0 + rng.uniform(0.3, 0.9) * np.cos(2 * np.pi * defects.shaft * times + phase)
            attenuation_db = float(rng.uniform(4.0, 10.0))
    elif fault_type == "inner_race":  # the defect passes through the load zone once per revolution
        times = _periodic_times(defects.bpfi, duration_s, machine.slip, rng)
        strength = _load_zone(times, defects.shaft, machine.load_zone, depth, rng)
    else:  # the ball passes through the load zone once per cage revolution, hitting each race in turn
        times = _periodic_times(2.0 * defects.bsf, duration_s, machine.slip, rng)
        strength = _load_zone(times, defects.ftf, machine.load_zone, depth, rng)
        strength[1::2] *= rng.uniform(0.2, 0.8)
    jitter = 1.0 + machine.amplitude_jitter * rng.standard_normal(times.size)
    return times, strength * np.maximum(jitter, 0.0), attenuation_db


def _periodic_times(rate_hz: float, duration_s: float, slip: float, rng: np.random.Generator) -> np.ndarray:
    """Impact instants at ``rate_hz`` whose periods each jitter with a relative std of ``slip``."""
    n = int(1.2 * duration_s * rate_hz) + 3
    periods = (1.0 / rate_hz) * (1.0 + slip * rng.standard_normal(n))
    times = rng.uniform(0, 1.0 / rate_hz) + np.cumsum(periods) - periods[0]
    return times[times < duration_s]


def _load_zone(
    times: np.ndarray, rotation_hz: float, half_width: float, depth: float, rng: np.random.Generator
) -> np.ndarray:
    """Impact strength as a rotating defect passes a raised-cosine load zone of ``half_width`` radians."""
    angle = np.angle(np.exp(1j * (2 * np.pi * rotation_hz * times + rng.uniform(0, 2 * np.pi))))
    zone = np.where(np.abs(angle) < half_width, 0.5 * (1.0 + np.cos(np.pi * angle / half_width)), 0.0)
    return 1.0 - depth + depth * zone


def _nuisance_impacts(
    machine: Machine, duration_s: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Fault-unrelated impacts (loose parts, rubs, process knocks) with widely varying strength."""
    if machine.nuisance_periodic:
        times = _periodic_times(machine.nuisance_rate, duration_s, machine.slip, rng)
    else:
        times = np.sort(rng.uniform(0, duration_s, rng.poisson(machine.nuisance_rate * duration_s)))
    return times, rng.lognormal(0.0, 0.5, times.size)


def _impulse_train(times: np.ndarray, strength: np.ndarray, n: int, sampling_rate: float) -> np.ndarray:
    index = np.minimum(np.round(times * sampling_rate).astype(int), n - 1)
    return np.bincount(index, weights=strength, minlength=n)


def _ring(impulses: np.ndarray, resonances: tuple[Resonance, ...], sampling_rate: float) -> np.ndarray:
    """Each impact rings every mode: a decaying sine of unit initial amplitude times the mode's gain."""
    from scipy.signal import lfilter

    out = np.zeros_like(impulses)
    for mode in resonances:
        w = 2 * np.pi * mode.freq / sampling_rate
        wd, r = w * np.sqrt(1 - mode.damping**2), np.exp(-mode.damping * w)
        b, a = [0.0, r * np.sin(wd)], [1.0, -2.0 * r * np.cos(wd), r * r]
        out += mode.gain * lfilter(b, a, impulses, axis=-1)
    return out


def _continuous_background(
    machine: Machine, n: int, sampling_rate: float, rng: np.random.Generator
) -> np.ndarray:
    """Broadband (coloured, shaft-modulated) noise, shaft harmonics, the machine's tones, and a slow drift."""
    t = np.arange(n) / sampling_rate
    noise = _coloured_noise(n, machine.noise_colour, rng)
    x = machine.noise_std * _modulated(noise, machine, sampling_rate, rng)
    shaft = machine.rpm / 60.0
    tones = [Tone(k * shaft, a) for k, a in enumerate(machine.shaft_harmonics, start=1)]
    for tone in (*tones, *machine.tones, Tone(machine.drift_hz, machine.drift)):
        if tone.amplitude == 0:
            continue
        wave = np.sin(2 * np.pi * tone.freq * t + rng.uniform(0, 2 * np.pi))
        if tone.depth:
            wave *= 1.0 + tone.depth * np.cos(2 * np.pi * tone.sideband_hz * t + rng.uniform(0, 2 * np.pi))
        x += tone.amplitude * wave
    return x


def _coloured_noise(n: int, exponent: float, rng: np.random.Generator) -> np.ndarray:
    """Unit-variance Gaussian noise with a ``1/f^exponent`` power spectrum (0: white)."""
    white = rng.standard_normal(n)
    if exponent == 0:
        return white
    spectrum = np.fft.rfft(white)
    f = np.arange(spectrum.size, dtype=float)
    spectrum *= np.maximum(f, 1.0) ** (-exponent / 2)
    coloured = np.fft.irfft(spectrum, n)
    return coloured / max(float(np.std(coloured)), 1e-12)


def _modulated(
    noise: np.ndarray, machine: Machine, sampling_rate: float, rng: np.random.Generator
) -> np.ndarray:
    """``noise`` amplitude-modulated at 1x and 2x shaft speed by ``machine.noise_am`` (a rotating load) and
    at ``machine.electrical_am``'s rate."""
    shaft = machine.rpm / 60.0
    rates = [(k * shaft, depth) for k, depth in enumerate(machine.noise_am, start=1)]
    rates.append((machine.electrical_am[0], machine.electrical_am[1]))
    if not any(depth for _, depth in rates):
        return noise
    t = np.arange(noise.size) / sampling_rate
    gain = 1.0 + sum(depth * np.cos(2 * np.pi * rate * t + rng.uniform(0, 2 * np.pi))
                     for rate, depth in rates if depth)
    return noise * gain


def _scaled(component: np.ndarray, reference: np.ndarray, ratio_db: float) -> np.ndarray:
    """``component`` rescaled to ``ratio_db`` dB of power against ``reference`` (zeros stay zeros)."""
    power = np.mean(component**2)
    if power == 0:
        return component
    return component * np.sqrt(np.mean(reference**2) / power * 10 ** (ratio_db / 10))


class RandomizedSimDataset:
    """Domain-randomised simulated machines: one recording per fault type on each of ``machines`` machines.

    Every machine appears with every class, so classes must be told apart within a machine; a recording's
    ``condition`` is its machine's index, so by-condition splits hold out whole machines. Deterministic
    per ``seed``.
    """

    name = "simulated"
    summary = "domain-randomised simulated machines (geometry, speed, resonances, path); embedded"
    classes: tuple[str, ...] = FAULT_TYPES
    condition_unit = "machine"
    bearing = "random per machine"

    def __init__(
        self, machines: int = 200, duration_s: float = 1.0, sampling_rate: float = 12000, seed: int = 0
    ) -> None:
        if machines < 1 or duration_s <= 0 or seed < 0:
            raise ValueError(f"need machines >= 1, duration_s > 0 and seed >= 0, got {machines}, "
                             f"{duration_s}, {seed}")
        self.machines = int(machines)
        self.duration_s = float(duration_s)
        self.sampling_rate = float(sampling_rate)
        self.seed = int(seed)
        self.conditions: tuple[float, ...] = tuple(float(i) for i in range(self.machines))

    def files_present(self) -> None:
        return None

    def info(self) -> InfoTable:
        rows = []
        for index in range(min(self.machines, 10)):
            m = self.machine(index)
            f = m.defects
            rows.append((str(index), m.geometry.name, f"{m.rpm:g}", f"{f.bpfo:.1f}", f"{f.bpfi:.1f}",
                         f"{f.bsf:.1f}"))
        return InfoTable(
            title=f"simulated: {self.machines} random machines x {len(self.classes)} fault types, "
                  f"{self.duration_s:g} s each at {self.sampling_rate:g} Hz (first 10 machines shown)",
            columns=("machine", "bearing", "rpm", "BPFO (Hz)", "BPFI (Hz)", "BSF (Hz)"),
            rows=rows,
            footer=f"classes: {', '.join(self.classes)}",
        )

    def examples(self) -> list[DatasetExample]:
        return []  # the page's simulated examples come from the ``synthetic`` dataset

    def machine(self, index: int) -> Machine:
        """Machine ``index`` (its own random stream, so any subset of machines is reproducible)."""
        return random_machine(np.random.default_rng([self.seed, index, 0]), self.sampling_rate)

    def recordings(
        self, *, conditions: list[float] | None = None, channels: tuple[str, ...] = ("DE",)
    ) -> list[Recording]:
        """One recording per fault type for each machine whose index is in ``conditions`` (all if None)."""
        if tuple(channels) != ("DE",):
            raise ValueError(f"the simulated dataset has only the DE channel, got {tuple(channels)}")
        out = []
        for index in range(self.machines):
            if conditions is not None and index not in conditions:
                continue
            machine = self.machine(index)
            for number, fault_type in enumerate(FAULT_TYPES, start=1):
                # same-length seed lists: numpy's SeedSequence pads with zeros, so [s, i] == [s, i, 0]
                rng = np.random.default_rng([self.seed, index, number])
                signal = simulate_machine(fault_type, machine, duration_s=self.duration_s,
                                          sampling_rate=self.sampling_rate, rng=rng)
                out.append(Recording(
                    key=f"simulated/m{index}/{fault_type}",
                    signal=signal[None, :],
                    sampling_rate=self.sampling_rate,
                    label=fault_type,
                    condition=float(index),
                    rpm=machine.rpm,
                    channels=("DE",),
                    source=f"random machine {index} (seed {self.seed}): {machine.rpm:.0f} rpm, "
                           f"{machine.geometry.n_balls} balls, {len(machine.resonances)} modes",
                    meta={"seed": self.seed, "machine": index},
                    bearing=machine.geometry,
                ))
        return out
