"""Training-time augmentations: shaft-speed perturbation (time stretch) of raw windows."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from faultdx.train.augment import perturb_speed, random_path
from faultdx.train.config import ConfigError, load_config

RATE = 12_000.0
WINDOW = 2048


def _tone(freq: float, n: int) -> torch.Tensor:
    t = torch.arange(WINDOW, dtype=torch.float32) / RATE
    return torch.sin(2 * torch.pi * freq * t).repeat(n, 1, 1)  # [n, 1, W]


def _peak_hz(window: torch.Tensor) -> float:
    spectrum = np.abs(np.fft.rfft(window.numpy() * np.hanning(WINDOW)))
    return float(np.argmax(spectrum) * RATE / WINDOW)


def test_zero_change_is_the_identity():
    x = torch.randn(4, 2, WINDOW)
    y, factor = perturb_speed(x, 0.0, torch.Generator().manual_seed(0))
    assert y is x
    assert torch.equal(factor, torch.ones(4))


def test_stretched_windows_move_a_tone_by_their_factor_and_half_stay_untouched():
    x = _tone(1000.0, 400)
    y, factor = perturb_speed(x, 0.1, torch.Generator().manual_seed(1))
    assert y.shape == x.shape
    untouched = torch.isclose(y, x, atol=1e-6).all(dim=(1, 2))
    assert 0.35 < untouched.float().mean() < 0.65  # a random half keeps its speed
    peaks = np.array([_peak_hz(w[0]) for w in y[~untouched]])
    resolution = RATE / WINDOW
    assert peaks.min() >= 900 - resolution and peaks.max() <= 1100 + resolution
    assert peaks.max() - peaks.min() > 100  # the factors spread over the range, not one value
    # the returned factor is the one each tone moved by (the context vector is scaled by it)
    np.testing.assert_allclose(peaks, 1000.0 * factor[~untouched].numpy(), atol=resolution)
    assert torch.all(factor[untouched] == 1.0)


def test_perturbation_is_reproducible_from_the_generator():
    x = torch.randn(8, 1, WINDOW)
    a = perturb_speed(x, 0.05, torch.Generator().manual_seed(3))[0]
    b = perturb_speed(x, 0.05, torch.Generator().manual_seed(3))[0]
    torch.testing.assert_close(a, b)


def test_random_path_reshapes_the_spectrum_of_half_the_windows_and_keeps_the_rest():
    x = torch.randn(64, 1, WINDOW)
    y = random_path(x, 12.0, torch.Generator().manual_seed(5))
    assert y.shape == x.shape
    untouched = torch.isclose(y, x, atol=1e-4).all(dim=(1, 2))
    assert 0.3 < untouched.float().mean() < 0.7
    gain = torch.fft.rfft(y, dim=-1).abs() / torch.fft.rfft(x, dim=-1).abs()  # [N, 1, F]
    changed = gain[~untouched, 0]
    assert changed.max() <= 10 ** (24 / 20) * 1.01  # tilt + bump: at most 2 × 12 dB
    assert (changed < 1e-3).any(dim=1).float().mean() > 0.9  # a band limit removed some of the spectrum
    z = random_path(x, 12.0, torch.Generator().manual_seed(5))
    torch.testing.assert_close(y, z)
    assert random_path(x, 0.0, torch.Generator()) is x


def test_speed_option_is_validated_by_name():
    assert load_config(overrides=["augment.speed=0.05"]).augment.speed == 0.05
    with pytest.raises(ConfigError, match="augment.speed"):
        load_config(overrides=["augment.speed=0.7"])
