"""Training-time augmentation of raw windows ``[N, C, W]`` on the device: noise at a random SNR, speed
changes, random transfer paths and context jitter. Every draw comes from the epoch's generator, so an epoch
replays exactly (see :func:`faultdx.train.loop.epoch_generator`)."""

from __future__ import annotations

import torch

from faultdx.data.noise import awgn_torch
from faultdx.train.config import AugmentConfig


def add_noise(x: torch.Tensor, config: AugmentConfig, generator: torch.Generator) -> torch.Tensor:
    """AWGN at an SNR uniform in ``config.snr_db`` on a random ``config.prob`` share of the windows."""
    if not config.noise or config.prob == 0.0:
        return x
    n = x.shape[0]
    low, high = config.snr_db
    snr = low + (high - low) * torch.rand(n, generator=generator, device=x.device)  # [N]
    noisy = awgn_torch(x, snr, generator)
    chosen = torch.rand(n, generator=generator, device=x.device) < config.prob  # [N]
    return torch.where(chosen[:, None, None], noisy, x)


def perturb_speed(
    x: torch.Tensor, max_change: float, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Time-stretch a random half of the windows ``[N, C, W]`` about their centre by a factor uniform in
    ``1 ± max_change`` (linear interpolation; the few samples a compression needs from outside the window
    repeat its edge). Returns the windows and each one's frequency factor ``[N]`` (1 where unchanged)."""
    n, c, w = x.shape
    if max_change == 0.0:
        return x, torch.ones(n, device=x.device)
    factor = 1.0 + max_change * (2.0 * torch.rand(n, generator=generator, device=x.device) - 1.0)  # [N]
    chosen = torch.rand(n, generator=generator, device=x.device) < 0.5  # [N]
    factor = torch.where(chosen, factor, torch.ones_like(factor))
    centre = (w - 1) / 2
    position = torch.arange(w, device=x.device, dtype=x.dtype)  # [W]
    source = (centre + (position - centre) * factor[:, None].to(x.dtype)).clamp(0, w - 1)  # [N, W]
    low = source.floor().long().clamp(max=w - 2)  # [N, W]
    weight = (source - low.to(x.dtype))[:, None, :]  # [N, 1, W]
    low = low[:, None, :].expand(n, c, w)
    return torch.lerp(x.gather(2, low), x.gather(2, low + 1), weight), factor


def random_path(x: torch.Tensor, max_db: float, generator: torch.Generator) -> torch.Tensor:
    """Pass a random half of the windows ``[N, C, W]`` through a random transfer path: a spectral tilt and a
    resonance-like bump of up to ±``max_db`` dB, then a random band limit (high-pass below up to 0.3 and
    low-pass above at least 0.5 of Nyquist). Another sensor position, mounting or rig changes exactly this;
    the defect periodicity, which the label depends on, it leaves intact."""
    if max_db == 0.0:
        return x
    n, device = x.shape[0], x.device
    spectrum = torch.fft.rfft(x, dim=-1)  # [N, C, F]
    f = torch.linspace(0.0, 1.0, spectrum.shape[-1], device=device)  # fraction of Nyquist

    def uniform(low: float, high: float) -> torch.Tensor:
        return low + (high - low) * torch.rand(n, 1, generator=generator, device=device)

    tilt = uniform(-max_db, max_db) * (f - 0.5)
    bump = uniform(-max_db, max_db) * torch.exp(-0.5 * ((f - uniform(0.1, 0.9)) / uniform(0.03, 0.2)) ** 2)
    passband = (f >= uniform(0.0, 0.3)) & (f <= uniform(0.5, 1.0))
    gain = torch.where(passband, 10.0 ** ((tilt + bump) / 20.0), torch.zeros_like(tilt))  # [N, F]
    chosen = torch.rand(n, 1, generator=generator, device=device) < 0.5
    gain = torch.where(chosen, gain, torch.ones_like(gain))
    return torch.fft.irfft(spectrum * gain[:, None, :], n=x.shape[-1], dim=-1)


def jitter_context(context: torch.Tensor, jitter: float, generator: torch.Generator) -> torch.Tensor:
    """Scale each row of ``context [N, 5]`` by a factor uniform in ``1 ± jitter`` (a stated rpm is never
    exact)."""
    if jitter == 0.0:
        return context
    u = 2.0 * torch.rand(context.shape[0], 1, generator=generator, device=context.device) - 1.0
    return context * (1.0 + jitter * u)
