"""Signal-quality gate: broken measurements are named, working ones (simulated and real) pass."""

from __future__ import annotations

import numpy as np
import pytest

from faultdx.data.catalogue import cwru_files
from faultdx.data.cwru import read_cwru_file
from faultdx.data.synthetic import simulate
from faultdx.diagnose.quality import KINDS, check_signal, check_windows, welch_density
from faultdx.paths import data_dir
from tests.data_helpers import STANDIN, missing_data

RATE = 12000.0


def machine(seconds: float = 1.0, rpm: float = 1797.0, label: str = "inner_race",
            seed: int = 0) -> np.ndarray:
    return simulate(label, duration_s=seconds, rpm=rpm, seed=seed).astype(np.float64)


@pytest.mark.parametrize("label", ["normal", "inner_race", "outer_race", "ball"])
@pytest.mark.parametrize("rpm", [600.0, 1200.0, 1797.0, 3000.0])
def test_simulated_machines_pass(label: str, rpm: float) -> None:
    for seed in range(3):
        for seconds in (0.2, 1.0):
            quality = check_signal(machine(seconds, rpm, label, seed), RATE, rpm=rpm)
            assert quality.ok, (label, rpm, seed, seconds, quality.as_dict())


def coloured_noise(size: int, exponent: float, rng: np.random.Generator) -> np.ndarray:
    """A dead sensor's amplifier noise with power falling as 1/f**exponent (pink 1, brown 2), unit RMS."""
    spectrum = np.fft.rfft(rng.standard_normal(size))
    spectrum /= np.maximum(np.arange(spectrum.size), 1.0) ** (exponent / 2)
    y = np.fft.irfft(spectrum, size)
    return y / np.std(y)


def broken(kind: str) -> np.ndarray:
    """A one-second simulated machine signal with one kind of sensor fault."""
    x = machine()
    peak = np.max(np.abs(x))
    rng = np.random.default_rng(1)
    if kind == "white_noise":
        return np.std(x) * rng.standard_normal(x.size)
    if kind in ("pink_noise", "brown_noise"):
        return np.std(x) * coloured_noise(x.size, 1.0 if kind == "pink_noise" else 2.0, rng)
    if kind == "flat_line":
        return np.full_like(x, 0.3)
    if kind == "clipping":
        return np.clip(x, -0.2 * peak, 0.2 * peak)
    if kind == "dropout":
        y = x.copy()
        y[x.size // 3: 2 * x.size // 3] = 0.0
        return y
    if kind == "dc_step":
        return x + np.std(x) * (np.arange(x.size) > 0.4 * x.size)
    if kind == "spikes":
        y = x.copy()
        y[[1000, 7000]] = 5 * peak
        return y
    if kind == "too_short":
        return x[:600]
    raise AssertionError(kind)


@pytest.mark.parametrize("fault, kind", [
    ("white_noise", "no_machine"), ("pink_noise", "no_machine"), ("brown_noise", "no_machine"),
    ("flat_line", "flat_line"), ("clipping", "clipping"),
    ("dropout", "dropout"), ("dc_step", "dc_step"), ("spikes", "spikes"), ("too_short", "too_short"),
])
def test_each_fault_is_named(fault: str, kind: str) -> None:
    quality = check_signal(broken(fault), RATE, rpm=1797.0)
    assert not quality.ok
    assert kind in quality.kinds
    form = quality.as_dict()
    assert form["ok"] is False
    assert {p["kind"] for p in form["problems"]} <= set(KINDS)
    assert all(p["message"] and p["channel"] == 0 for p in form["problems"])


def test_the_clean_signal_behind_the_faults_passes() -> None:
    assert check_signal(machine(), RATE, rpm=1797.0).as_dict() == {"ok": True, "problems": []}


def test_a_few_samples_at_a_rail_are_clipping_but_a_sine_is_not() -> None:
    """Clipping at half the peak of an impulsive signal puts only a few samples at the rail, behind a hard
    edge of the histogram; a pure sine piles as many near its extremes, but with a dense slope below."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal(12000)
    x[[2000, 5000, 9000]] = [12.0, -11.0, 12.5]  # three impacts, each ringing for a few samples
    for at in (2000, 5000, 9000):
        x[at + 1:at + 3] = x[at] * np.array([0.9, 0.6])
    peak = np.max(np.abs(x))
    clipped = np.clip(x, -0.5 * peak, 0.5 * peak)  # 6 samples at the top rail, 3 at the bottom one
    assert "clipping" in check_signal(clipped, RATE).kinds
    assert "clipping" not in check_signal(x, RATE).kinds
    sine = np.sin(2 * np.pi * 50.0 * np.arange(12000) / RATE)
    assert "clipping" not in check_signal(sine, RATE).kinds


@pytest.mark.parametrize("colour", ["pink_noise", "brown_noise"])
def test_coloured_noise_is_no_machine_not_a_step(colour: str) -> None:
    """Coloured noise wanders at low frequencies: its spectrum is not flat and its level drifts, yet no line
    stands above its whitened floor; the gate names the missing machine, not a DC step."""
    rng = np.random.default_rng(7)
    for seconds in (0.5, 1.0, 3.0):
        x = coloured_noise(int(seconds * RATE), 1.0 if colour == "pink_noise" else 2.0, rng)
        assert check_signal(x, RATE, rpm=1797.0).kinds == ("no_machine",), (colour, seconds)


def test_non_finite_samples() -> None:
    x = machine()
    x[100] = np.nan
    assert check_signal(x, RATE).kinds == ("non_finite",)


def test_the_channel_is_named() -> None:
    signal = np.stack([machine(), broken("flat_line")])
    quality = check_signal(signal, RATE)
    assert [(p.kind, p.channel) for p in quality.problems] == [("flat_line", 1)]


def test_too_short_depends_on_the_shaft_speed() -> None:
    x = machine(0.15, rpm=600.0, label="normal")  # 1.5 revolutions at 600 rpm
    assert "too_short" in check_signal(x, RATE, rpm=600.0).kinds
    assert "too_short" not in check_signal(x, RATE).kinds


def test_one_framed_window_is_never_too_short() -> None:
    """/v2's windows have the model's length: one 2048-sample window is 0.17 s at 12 kHz (1.7 revolutions
    at 600 rpm) and 0.043 s at 48 kHz, both under what a whole signal needs, and still judged on the rest."""
    window = machine(2048 / RATE, rpm=600.0).reshape(1, 1, -1)
    assert "too_short" in check_signal(window[0], RATE, rpm=600.0).kinds
    assert check_windows(window, RATE, rpm=600.0).ok
    assert check_windows(window, 4 * RATE).ok
    flat = np.zeros((1, 1, 2048))
    assert check_windows(flat, 4 * RATE, rpm=600.0).kinds == ("flat_line",)


@pytest.mark.parametrize("length,segment", [(2048, 256), (12000, 2048), (30001, 4096), (5000, 255)])
def test_the_batched_welch_is_scipys(length: int, segment: int) -> None:
    """The gate's one-FFT Welch estimate equals scipy.signal.welch (the thresholds were set with it)."""
    from scipy.signal import welch

    x = np.random.default_rng(length).standard_normal(length) + np.sin(0.3 * np.arange(length))
    freqs, power = welch_density(x, RATE, segment)
    want_freqs, want_power = welch(x, fs=RATE, nperseg=segment)
    np.testing.assert_allclose(freqs, want_freqs)
    np.testing.assert_allclose(power, want_power, rtol=1e-10)


def test_time_is_linear_in_the_samples() -> None:
    import time

    x = np.tile(machine(1.0), 30)  # 30 s at 12 kHz
    started = time.perf_counter()
    check_signal(x, RATE)
    assert time.perf_counter() - started < 10.0


def test_real_cwru_recordings_pass_and_their_faults_are_caught() -> None:
    root = data_dir()
    entries = [e for e in cwru_files() if e.set == "12k_drive_end" and (root / e.relpath).is_file()]
    if len(entries) < 36 or STANDIN:
        missing_data(f"the 36 real CWRU 12 kHz drive-end recordings under {root}")
    rng = np.random.default_rng(0)
    for entry in entries[::4]:
        x = np.asarray(read_cwru_file(root / entry.relpath, entry, ("DE",))[0], dtype=np.float64)
        assert check_signal(x, entry.sampling_rate, rpm=entry.rpm).ok, entry.filename
        noise = np.std(x) * rng.standard_normal(x.size)
        assert "no_machine" in check_signal(noise, entry.sampling_rate, rpm=entry.rpm).kinds
        pink = coloured_noise(x.size, 1.0, rng)
        assert check_signal(pink, entry.sampling_rate, rpm=entry.rpm).kinds == ("no_machine",), entry.filename
        clipped = np.clip(x, -0.2 * np.abs(x).max(), 0.2 * np.abs(x).max())
        assert "clipping" in check_signal(clipped, entry.sampling_rate).kinds


def test_bad_signals_raise_a_sensor_alarm_not_a_fault() -> None:
    from faultdx.monitor.alarms import AlarmRule, Measurement, conditions

    recent = [Measurement("A", "bad_signal", 1.0)] * 3 + [Measurement("A", "normal", 1.0)] * 2
    held = conditions(recent, AlarmRule(3, 5))
    assert set(held) == {("sensor", "bad_signal")}
    assert "sensor" in held[("sensor", "bad_signal")].message
