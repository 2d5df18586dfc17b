"""The domain-randomised machine simulator: random machines, fault physics, and the 'simulated' dataset."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from faultdx.data.base import FAULT_TYPES
from faultdx.data.registry import get_dataset
from faultdx.data.synthetic import Machine, random_machine, simulate_machine
from faultdx.nn.frontend import envelope_spectrum

FS = 12000.0
FAULT_LINES = ("outer_race", "inner_race", "ball")  # order of _rates(): BPFO, BPFI, 2 x BSF


def _machine(*seed: int, sampling_rate: float = FS) -> Machine:
    return random_machine(np.random.default_rng(list(seed)), sampling_rate)


def _rates(machine: Machine) -> np.ndarray:
    d = machine.defects
    return np.array([d.bpfo, d.bpfi, 2 * d.bsf])


def _envelope(x: np.ndarray, machine: Machine) -> tuple[np.ndarray, np.ndarray]:
    """Envelope spectrum in a band around the mode that rings longest and loudest."""
    mode = max(machine.resonances, key=lambda r: r.gain**2 / (r.damping * r.freq))
    half = max(2.5 * _rates(machine).max(), 2 * mode.damping * mode.freq)
    return envelope_spectrum(x, FS, band=(max(mode.freq - half, 50.0), min(mode.freq + half, 0.49 * FS)))


def _prominence(freqs: np.ndarray, amplitude: np.ndarray, rate: float) -> float:
    """Highest line within 3 % of ``rate`` (or a bin) over the median level of its +-30 % neighbourhood."""
    near = np.abs(freqs - rate) <= max(0.03 * rate, freqs[1])
    around = (np.abs(freqs - rate) <= 0.3 * rate) & ~near
    return float(amplitude[near].max() / np.median(amplitude[around]))


def test_random_machines_are_deterministic_and_in_range():
    assert _machine(0, 1) == _machine(0, 1) and _machine(0, 1) != _machine(0, 2)
    for sampling_rate in (2000.0, 12000.0, 48000.0):
        for i in range(100):
            m = _machine(1, i, sampling_rate=sampling_rate)
            g = m.geometry
            assert 6 <= g.n_balls <= 20 and 20 <= g.pitch_diameter <= 120 and g.name == "random"
            assert 0.1 <= g.ball_diameter / g.pitch_diameter <= 0.3 and 0 <= g.contact_angle_deg <= 40
            assert 300 <= m.rpm <= 6000
            assert 5 * _rates(m).max() < 0.4 * sampling_rate  # defect lines and harmonics below Nyquist
            assert 1 <= len(m.resonances) <= 3
            assert all(600 <= r.freq <= 0.45 * sampling_rate and 0.01 <= r.damping <= 0.12
                       for r in m.resonances)
            assert 0.003 <= m.slip <= 0.03 and 0 <= m.modulation_depth <= 0.9 and len(m.shaft_harmonics) == 5
            if m.nuisance_periodic:  # fault-unrelated periodic impacts miss every defect rate by > 10 %
                ratios = m.nuisance_rate / _rates(m)
                assert np.all((np.abs(ratios - 1) > 0.1) & (np.abs(1 / ratios - 1) > 0.1))
    with pytest.raises(ValueError, match="sampling_rate"):
        _machine(0, 0, sampling_rate=1000.0)


def test_simulate_machine_is_deterministic_and_validates():
    m = _machine(2, 0)
    run = lambda seed, **kw: simulate_machine(  # noqa: E731
        "inner_race", m, duration_s=0.5, sampling_rate=FS, rng=np.random.default_rng(seed), **kw)
    a = run(3)
    assert a.dtype == np.float32 and a.shape == (6000,) and np.all(np.isfinite(a))
    assert np.array_equal(a, run(3)) and not np.array_equal(a, run(4))
    clean, noisy = run(5, severity=0.5), run(5, severity=0.5, snr_db=0.0)
    achieved = 10 * np.log10(np.mean(clean.astype(float) ** 2) / np.mean((noisy - clean).astype(float) ** 2))
    assert achieved == pytest.approx(0.0, abs=0.3)
    with pytest.raises(ValueError, match="unknown fault type"):
        simulate_machine("cage", m, duration_s=0.5, sampling_rate=FS, rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match="severity"):
        run(0, severity=1.5)


def _resolvable(machine: Machine) -> bool:
    """Whether no line of one fault falls within 6 % or 3 Hz of another fault's rate.

    Closer lines cannot be told apart by frequency alone. A fault's lines: its rate and two harmonics,
    an inner-race defect's sidebands at shaft speed, and BSF for a ball defect (alternate strong and weak
    hits).
    """
    d = machine.defects
    lines = [
        [d.bpfo, 2 * d.bpfo, 3 * d.bpfo],
        [d.bpfi, 2 * d.bpfi, 3 * d.bpfi, d.bpfi - d.shaft, d.bpfi + d.shaft],
        [2 * d.bsf, 4 * d.bsf, 6 * d.bsf, d.bsf, 3 * d.bsf],
    ]
    for i, own in enumerate(lines):
        for j, other in enumerate(lines):
            if i != j and any(abs(f - g) < max(0.06 * g, 3.0) for f in own for g in other[:1]):
                return False
    return True


@pytest.mark.parametrize("fault_type", FAULT_LINES)
def test_envelope_line_at_the_fault_rate(fault_type):
    expected = FAULT_LINES.index(fault_type)
    checked = 0
    for i in range(150):
        m = _machine(3, i)
        rates = _rates(m)
        if not _resolvable(m):
            continue
        x = simulate_machine(fault_type, m, duration_s=1.0, sampling_rate=FS,
                             rng=np.random.default_rng([3, i, 1]), severity=1.0)
        freqs, amplitude = _envelope(x, m)
        prominence = [_prominence(freqs, amplitude, rate) for rate in rates]
        assert int(np.argmax(prominence)) == expected, (i, fault_type, rates, prominence)
        rate = rates[expected]
        near = np.abs(freqs - rate) <= 0.1 * rate
        peak = freqs[near][np.argmax(amplitude[near])]
        assert peak == pytest.approx(rate, rel=0.03, abs=freqs[1]), (i, fault_type, peak, rate)
        checked += 1
    assert checked >= 15


def test_normal_signals_rarely_show_a_defect_line():
    shown = {fault_type: 0 for fault_type in FAULT_TYPES}
    machines = 30
    for i in range(machines):
        m = _machine(4, i)
        for j, fault_type in enumerate(FAULT_TYPES):  # random severity, often weak
            x = simulate_machine(fault_type, m, duration_s=1.0, sampling_rate=FS,
                                 rng=np.random.default_rng([4, i, j + 1]))
            freqs, amplitude = _envelope(x, m)
            shown[fault_type] += max(_prominence(freqs, amplitude, r) for r in _rates(m)) > 6
    assert shown["normal"] <= 0.1 * machines
    assert all(shown[fault_type] > 2 * shown["normal"] + 5 for fault_type in FAULT_LINES), shown


def test_simulated_dataset():
    dataset = get_dataset("simulated", machines=3, duration_s=0.25, seed=7)
    assert dataset.name == "simulated" and dataset.classes == FAULT_TYPES
    recs = dataset.recordings()
    assert len(recs) == 12 and [r.label for r in recs] == list(FAULT_TYPES) * 3
    assert [r.key for r in recs[:4]] == [f"simulated/m0/{t}" for t in FAULT_TYPES]
    assert sorted({r.condition for r in recs}) == [0.0, 1.0, 2.0]
    for r in recs:
        machine = dataset.machine(int(r.condition))
        assert r.signal.shape == (1, 3000) and r.signal.dtype == np.float32 and r.sampling_rate == 12000
        assert r.rpm == machine.rpm and r.channels == ("DE",) and r.source
        assert r.meta == {"seed": 7, "machine": int(r.condition)}
        assert r.bearing == machine.geometry
    again = get_dataset("simulated", machines=3, duration_s=0.25, seed=7).recordings(conditions=[1])
    assert [r.key for r in again] == [r.key for r in recs[4:8]]
    assert all(np.array_equal(a.signal, b.signal) for a, b in zip(again, recs[4:8], strict=True))
    other = get_dataset("simulated", machines=1, duration_s=0.25, seed=8).recordings()
    assert not np.array_equal(other[0].signal, recs[0].signal)
    with pytest.raises(ValueError, match="DE channel"):
        dataset.recordings(channels=("FE",))


def _quiet(machine: Machine, **changes) -> Machine:
    """``machine`` with no tones, no drift and no fault-unrelated impacts, then ``changes``."""
    base = dict(shaft_harmonics=(0.0,) * 5, tones=(), drift=0.0, nuisance_rate=0.0, forced_db=-200.0,
                noise_colour=0.0, noise_am=(0.0, 0.0))
    return replace(machine, **{**base, **changes})


def _band_power(x: np.ndarray, low: float, high: float) -> float:
    from scipy.signal import welch

    freqs, power = welch(x.astype(float), FS, nperseg=1024)
    return float(power[(freqs >= low) & (freqs <= high)].mean())


def test_healthy_machines_ring_their_modes_from_broadband_forcing():
    # a healthy machine's structure rings too (flow, friction), so ringing alone never means a fault
    for i in range(5):
        m = _machine(5, i)
        mode = max(m.resonances, key=lambda r: r.gain)
        rise = []
        for forced_db in (-200.0, 10.0):
            x = simulate_machine("normal", _quiet(m, forced_db=forced_db, path=((1, 0, 0, 1, 0, 0),)),
                                 duration_s=2.0, sampling_rate=FS, rng=np.random.default_rng([5, i]))
            half = max(mode.damping * mode.freq, 20.0)
            rise.append(_band_power(x, mode.freq - half, mode.freq + half) / _band_power(x, 50.0, 0.49 * FS))
        assert rise[1] > 2.0 * rise[0], (i, mode, rise)


def test_coloured_noise_tilts_the_spectrum():
    m = _quiet(_machine(6, 0), path=((1, 0, 0, 1, 0, 0),))
    tilt = {}
    for colour in (-1.0, 0.0, 2.0):
        x = simulate_machine("normal", replace(m, noise_colour=colour), duration_s=2.0, sampling_rate=FS,
                             rng=np.random.default_rng(6))
        tilt[colour] = _band_power(x, 50.0, 500.0) / _band_power(x, 3000.0, 5000.0)
    assert tilt[2.0] > 30 * tilt[0.0] and tilt[0.0] > 3 * tilt[-1.0] and 0.5 < tilt[0.0] < 2.0, tilt


def test_shaft_modulated_noise_shows_shaft_lines_in_a_healthy_envelope():
    m = _quiet(_machine(7, 0), path=((1, 0, 0, 1, 0, 0),))
    shaft = m.rpm / 60.0
    lines = []
    for am in ((0.0, 0.0), (0.6, 0.0)):
        x = simulate_machine("normal", replace(m, noise_am=am), duration_s=2.0, sampling_rate=FS,
                             rng=np.random.default_rng(7))
        freqs, amplitude = envelope_spectrum(x, FS)
        lines.append(_prominence(freqs, amplitude, shaft))
    assert lines[1] > 5 and lines[0] < 3, lines


def test_random_machines_carry_real_machines_nuisances():
    machines = [_machine(8, i) for i in range(300)]
    shaft = np.array([m.rpm / 60.0 for m in machines])
    orders = [np.array([t.freq for t in m.tones]) / s for m, s in zip(machines, shaft, strict=True)]
    half = [np.any(np.abs(o - np.round(o)) == 0.5) for o in orders]
    many = [np.sum(np.abs(o - np.round(o)) < 1e-9) >= 3 for o in orders]
    misaligned = [m.shaft_harmonics[1] >= 0.5 * m.shaft_harmonics[0] for m in machines]
    assert 0.05 < np.mean(half) < 0.4 and 0.15 < np.mean(many) < 0.7 and 0.25 < np.mean(misaligned) < 0.6
    assert all(t.freq < 0.45 * FS for m in machines for t in m.tones)
    assert all(-15 <= m.forced_db <= 10 and -1 <= m.noise_colour <= 2 for m in machines)
    assert 0.4 < np.mean([m.nuisance_rate > 0 for m in machines]) < 0.8
    assert 0.4 < np.mean([m.noise_am[0] > 0 for m in machines]) < 0.8


def test_an_electrical_line_at_a_defect_rate_has_no_harmonic_family():
    # a healthy motor's electrical modulation can sit right on BPFO: one line, where a defect shows a family
    m = _quiet(_machine(9, 0), path=((1, 0, 0, 1, 0, 0),), forced_db=0.0)
    bpfo = m.defects.bpfo
    healthy = simulate_machine("normal", replace(m, electrical_am=(bpfo, 0.5)), duration_s=2.0,
                               sampling_rate=FS, rng=np.random.default_rng(9))
    faulty = simulate_machine("outer_race", m, duration_s=2.0, sampling_rate=FS,
                              rng=np.random.default_rng(9), severity=1.0)
    lines = {}
    for name, x in (("healthy", healthy), ("faulty", faulty)):
        freqs, amplitude = envelope_spectrum(x, FS)
        lines[name] = [_prominence(freqs, amplitude, k * bpfo) for k in (1, 2, 3)]
    assert lines["healthy"][0] > 5 and max(lines["healthy"][1:]) < 3, lines
    assert lines["faulty"][0] > 5 and lines["faulty"][1] > max(5.0, 2 * lines["healthy"][1]), lines


def test_electrical_modulation_rates():
    machines = [_machine(10, i) for i in range(400)]
    rates = [(m.electrical_am[0], m.defects) for m in machines if m.electrical_am[1] > 0]
    assert 0.35 < len(rates) / len(machines) < 0.65
    mains = np.mean([r in (100.0, 120.0) for r, _ in rates])
    at_defect = np.mean([min(abs(r / f - 1) for f in (d.bpfo, d.bpfi, 2 * d.bsf, d.bsf)) <= 0.02
                         for r, d in rates])
    assert 0.25 < mains < 0.45 and 0.2 < at_defect < 0.5
