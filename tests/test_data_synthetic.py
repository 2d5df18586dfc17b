"""Bearing defect frequencies, envelope spectrum and the physics-based simulator."""

from __future__ import annotations

import numpy as np
import pytest

from faultdx.data.base import CWRU_10_CLASSES
from faultdx.data.bearing import MFPT_NICE, SKF_6205, BearingGeometry, defect_frequencies
from faultdx.data.registry import get_dataset
from faultdx.data.synthetic import simulate
from faultdx.nn.frontend import envelope_spectrum
from tests.data_helpers import isolated_cache  # noqa: F401


def test_defect_frequencies_match_published_values():
    # CWRU's published multiples of shaft speed for the SKF 6205 (BSF listed there as 2 x BSF)
    f = defect_frequencies(SKF_6205, 1.0)
    assert f.bpfi == pytest.approx(5.4152, abs=2e-3)
    assert f.bpfo == pytest.approx(3.5848, abs=2e-3)
    assert f.ftf == pytest.approx(0.39828, abs=2e-4)
    assert 2 * f.bsf == pytest.approx(4.7135, abs=3e-3)
    # the scalars stored inside the MFPT files at 25 Hz shaft rate
    m = defect_frequencies(MFPT_NICE, 25.0)
    assert (m.bpfo, m.bpfi) == pytest.approx((81.125, 118.875), abs=0.02)
    # (their FTF scalar, 14.8375, disagrees with their own BPFO: for a fixed outer race FTF = BPFO / n)
    assert m.ftf == pytest.approx(81.125 / 8, abs=0.01)
    assert m.bsf == pytest.approx(63.91, abs=0.1)
    assert set(f.as_dict()) == {"shaft", "bpfo", "bpfi", "bsf", "ftf"}
    with pytest.raises(ValueError, match="ball_diameter_mm"):
        BearingGeometry(9, 40.0, 39.0)


def test_envelope_spectrum_finds_modulation_frequency():
    fs = 12000
    t = np.arange(2 * fs) / fs
    x = (1 + np.cos(2 * np.pi * 90 * t)) * np.sin(2 * np.pi * 3000 * t)
    freqs, amplitude = envelope_spectrum(x, fs, band=(2000, 4000))
    assert freqs[np.argmax(amplitude)] == pytest.approx(90, abs=0.5)
    with pytest.raises(ValueError, match="band must satisfy"):
        envelope_spectrum(x, fs, band=(4000, 7000))


@pytest.mark.parametrize("rpm", [1797, 1730])
@pytest.mark.parametrize(
    "label", ["outer_race_007", "inner_race_014", "ball_021", "ball_007", "inner_race_021"]
)
def test_simulator_envelope_peaks_at_defect_frequency(label, rpm):
    freqs_by_type = defect_frequencies(SKF_6205, rpm / 60).as_dict()
    expected = freqs_by_type[
        {"outer_race": "bpfo", "inner_race": "bpfi", "ball": "bsf"}[label.rsplit("_", 1)[0]]
    ]
    for seed in (0, 1):
        x = simulate(label, duration_s=4.0, rpm=rpm, seed=seed)
        freqs, amplitude = envelope_spectrum(x, 12000, band=(2000, 5000))
        smooth = np.convolve(amplitude, np.ones(5), mode="same")  # slip spreads a line over ~1 Hz
        search = (freqs > 20) & (freqs < 500)
        peak = freqs[search][np.argmax(smooth[search])]
        assert peak == pytest.approx(expected, abs=1.0), (label, seed, peak, expected)


def test_simulator_is_deterministic_and_distinct():
    a = simulate("ball_014", duration_s=1.0, seed=3)
    assert a.dtype == np.float32 and a.shape == (12000,)
    assert np.array_equal(a, simulate("ball_014", duration_s=1.0, seed=3))
    assert not np.array_equal(a, simulate("ball_014", duration_s=1.0, seed=4))
    normal = simulate("normal", duration_s=1.0)
    kurtosis = lambda x: float(np.mean((x - x.mean()) ** 4) / np.var(x) ** 2)  # noqa: E731
    assert kurtosis(simulate("outer_race_021", duration_s=1.0)) > kurtosis(normal) + 1  # impulsive
    noisy = simulate("ball_014", duration_s=1.0, seed=3, snr_db=0.0)
    achieved = 10 * np.log10(np.mean(a.astype(float) ** 2) / np.mean((noisy - a).astype(float) ** 2))
    assert achieved == pytest.approx(0.0, abs=0.15)
    with pytest.raises(ValueError, match="unknown defect size"):
        simulate("ball_028", duration_s=1.0)
    with pytest.raises(ValueError, match="no known fault type"):
        simulate("cage", duration_s=1.0)


def test_synthetic_dataset():
    dataset = get_dataset("synthetic", duration_s=0.5)
    assert dataset.classes == CWRU_10_CLASSES
    recs = dataset.recordings()
    assert len(recs) == 40 and {r.condition for r in recs} == {0, 1, 2, 3}
    assert {r.label for r in recs} == set(CWRU_10_CLASSES)
    assert all(r.signal.shape == (1, 6000) and r.sampling_rate == 12000 for r in recs)
    again = get_dataset("synthetic", duration_s=0.5).recordings(conditions=[2])
    assert len(again) == 10 and all(r.rpm == 1750 for r in again)
    assert np.array_equal(again[3].signal, next(r for r in recs if r.key == again[3].key).signal)
    assert get_dataset("synthetic", label_set="4class", duration_s=0.2).recordings()[5].label == "inner_race"
