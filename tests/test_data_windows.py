"""Windows, standardisation, resampling (incl. the 48 kHz CWRU normal baseline) and AWGN."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from faultdx.data.noise import awgn, awgn_torch
from faultdx.data.windows import frame, resample, standardize
from tests.data_helpers import isolated_cache, needs_cwru  # noqa: F401


def test_frame_shapes_and_contents():
    x = np.arange(2 * 100, dtype=np.float32).reshape(2, 100)
    w = frame(x, window=10, hop=7)
    assert w.shape == (1 + (100 - 10) // 7, 2, 10)
    np.testing.assert_array_equal(w[3, 1], x[1, 21:31])
    assert frame(x, window=101, hop=1).shape == (0, 2, 101)
    assert frame(np.arange(50.0), window=10, hop=10).shape == (5, 1, 10)
    with pytest.raises(ValueError, match="window and hop must be positive"):
        frame(x, window=0, hop=1)


def test_standardize_numpy_and_torch_agree():
    rng = np.random.default_rng(0)
    x = rng.normal(3.0, 5.0, size=(4, 2, 256)).astype(np.float64)
    x[0, 0] = 7.0  # constant window: eps keeps it finite
    z = standardize(x)
    assert z.dtype == np.float32
    np.testing.assert_allclose(z[1:].mean(axis=-1), 0, atol=1e-5)
    np.testing.assert_allclose(z[1:].std(axis=-1), 1, atol=1e-4)
    assert np.all(np.isfinite(z)) and np.all(z[0, 0] == 0)
    zt = standardize(torch.from_numpy(x))
    assert isinstance(zt, torch.Tensor) and zt.dtype == torch.float32
    np.testing.assert_allclose(zt.numpy(), z, atol=1e-5)


def test_resample_is_antialiased():
    fs = 48000
    t = np.arange(fs) / fs
    x = np.sin(2 * np.pi * 1000 * t) + np.sin(2 * np.pi * 9000 * t)  # 9 kHz is above the 12 kHz Nyquist
    y = resample(x, 48000, 12000)
    assert y.dtype == np.float32 and y.shape == (12000,)
    spectrum = np.abs(np.fft.rfft(y)) / y.size
    freqs = np.fft.rfftfreq(y.size, 1 / 12000)
    assert spectrum[np.argmin(np.abs(freqs - 1000))] > 0.4
    assert spectrum[np.argmin(np.abs(freqs - 3000))] < 1e-3  # 9 kHz would alias to 3 kHz without the filter
    np.testing.assert_array_equal(resample(x, 100, 100), x.astype(np.float32))


def _band_edge(windows: np.ndarray, fs: float) -> float:
    """Highest frequency whose mean power exceeds 1e-6 of the spectrum peak."""
    power = np.mean(np.abs(np.fft.rfft(windows[:, 0], axis=-1)) ** 2, axis=0)
    freqs = np.fft.rfftfreq(windows.shape[-1], 1 / fs)
    return float(freqs[np.nonzero(power > 1e-6 * power.max())[0].max()])


@needs_cwru
def test_cwru_normal_and_fault_spectra_both_end_at_6khz():
    """97.mat is 48 kHz: once resampled it must look like the 12 kHz fault files in bandwidth, not wider."""
    from faultdx.data.registry import get_dataset

    dataset = get_dataset("cwru", sampling_rate=12000)
    by_number = {e.number: e for e in dataset.files()}
    normal, fault = dataset.load(by_number[97]), dataset.load(by_number[105])
    assert normal.sampling_rate == fault.sampling_rate == 12000
    assert normal.meta["file_sampling_rate"] == 48000 and fault.meta["file_sampling_rate"] == 12000
    assert abs(normal.num_samples - 243938 / 4) <= 1  # 5.08 s at 48 kHz -> 5.08 s at 12 kHz
    for rec in (normal, fault):
        windows = frame(rec.signal, 2048, 2048)
        assert (
            _band_edge(windows, 12000) >= 5900
        )  # content up to Nyquist = 6 kHz
        freqs = np.fft.rfftfreq(2048, 1 / 12000)
        assert freqs.max() == 6000
    # the same file at its own rate reaches far beyond 6 kHz: the resampling is what aligns the classes
    raw = get_dataset("cwru", sampling_rate=None).load(by_number[97])
    assert raw.sampling_rate == 48000 and _band_edge(frame(raw.signal, 8192, 8192), 48000) > 12000


def test_awgn_achieves_requested_snr():
    rng = np.random.default_rng(1)
    clean = np.sin(np.linspace(0, 2000 * np.pi, 400_000)) * 3.0
    for snr in (-4.0, 0.0, 6.0, 20.0):
        noisy = awgn(clean, snr, np.random.default_rng(7))
        achieved = 10 * np.log10(np.mean(clean**2) / np.mean((noisy - clean) ** 2))
        assert abs(achieved - snr) < 0.1, (snr, achieved)
    a, b = awgn(clean, 0.0, np.random.default_rng(3)), awgn(clean, 0.0, np.random.default_rng(3))
    np.testing.assert_array_equal(a, b)  # seeded
    assert not np.array_equal(a, awgn(clean, 0.0, rng))


def test_awgn_torch_per_window_snr():
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(256, 1, 2048, generator=gen) * torch.linspace(0.1, 10, 256).view(-1, 1, 1)
    snr = torch.tensor([-6.0, 0.0, 10.0, 30.0]).repeat(64)
    noisy = awgn_torch(x, snr, generator=torch.Generator().manual_seed(1))
    ratio = x.pow(2).mean(dim=(1, 2)) / (noisy - x).pow(2).mean(dim=(1, 2))
    for value in (-6.0, 0.0, 10.0, 30.0):
        mask = snr == value
        achieved = 10 * torch.log10(ratio[mask].mean())  # each window's noise scaled to its own power
        assert abs(float(achieved) - value) < 0.1
    same = awgn_torch(x, 5.0, generator=torch.Generator().manual_seed(1))
    again = awgn_torch(x, 5.0, generator=torch.Generator().manual_seed(1))
    assert torch.equal(same, again) and same.shape == x.shape
