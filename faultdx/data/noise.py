"""Additive white Gaussian noise at a requested signal-to-noise ratio.

The SNR is measured against the clean signal's own power, per row of the last axis (a window's channel, or
a whole 1-D signal): ``noise_power = mean(x**2) / 10**(snr_db / 10)``.
"""

from __future__ import annotations

import numpy as np
import torch


def awgn(x: np.ndarray, snr_db: float, rng: np.random.Generator) -> np.ndarray:
    """Return ``x`` plus seeded white Gaussian noise at ``snr_db`` dB (power per row of the last axis)."""
    x = np.asarray(x)
    power = np.mean(np.square(x, dtype=np.float64), axis=-1, keepdims=True)
    sigma = np.sqrt(power / 10.0 ** (snr_db / 10.0))
    noisy = x + sigma * rng.standard_normal(x.shape)
    return noisy.astype(x.dtype if np.issubdtype(x.dtype, np.floating) else np.float32, copy=False)


def awgn_torch(
    x: torch.Tensor, snr_db: torch.Tensor | float, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Add white Gaussian noise to windows ``x [N, C, W]``; ``snr_db`` is a scalar or one value per window.

    Each window's noise power comes from its own clean power (per channel), so a batch can mix SNRs.
    """
    snr = torch.as_tensor(snr_db, dtype=torch.float32, device=x.device)
    if snr.ndim == 1:
        snr = snr.view(-1, *([1] * (x.ndim - 1)))  # [N, 1, 1]
    power = x.float().pow(2).mean(dim=-1, keepdim=True)  # [N, C, 1]
    sigma = torch.sqrt(power / torch.pow(10.0, snr / 10.0))
    noise = torch.randn(x.shape, generator=generator, device=x.device, dtype=torch.float32)
    return (x.float() + sigma * noise).to(x.dtype if x.is_floating_point() else torch.float32)
