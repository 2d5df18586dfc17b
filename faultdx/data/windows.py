"""Resampling, framing into fixed-length windows, and per-window standardisation.

Normalisation in faultdx is per-window standardisation (zero mean, unit std per window and channel), applied
by training, evaluation and the Diagnoser alike, *after* any noise has been added. ``WindowSet.x`` holds raw
windows.
"""

from __future__ import annotations

from fractions import Fraction
from typing import TypeVar

import numpy as np
import torch

EPS = 1e-8

ArrayOrTensor = TypeVar("ArrayOrTensor", np.ndarray, torch.Tensor)


def resample(signal: np.ndarray, from_hz: float, to_hz: float) -> np.ndarray:
    """Resample along the last axis with anti-aliased polyphase filtering (``scipy.signal.resample_poly``).

    The rate ratio is approximated by a fraction with a denominator of at most 1000 (exact for 48k→12k).
    Returns float32, clipped to its range (the filter's overshoot of finite samples near ±3.4e38 stays
    finite); a no-op (as float32) when the rates match.
    """
    if from_hz <= 0 or to_hz <= 0:
        raise ValueError(f"sampling rates must be positive, got from_hz={from_hz}, to_hz={to_hz}")
    signal = np.asarray(signal)
    if from_hz == to_hz:
        return signal.astype(np.float32, copy=False)
    from scipy.signal import resample_poly

    ratio = Fraction(to_hz / from_hz).limit_denominator(1000)
    out = resample_poly(signal.astype(np.float64, copy=False), ratio.numerator, ratio.denominator, axis=-1)
    top = float(np.finfo(np.float32).max)
    return np.clip(out, -top, top, out=out).astype(np.float32)


def frame(signal: np.ndarray, window: int, hop: int) -> np.ndarray:
    """Cut ``signal [C, T]`` into ``[N, C, window]`` windows starting every ``hop`` samples.

    Only whole windows are returned (``N = 1 + (T - window) // hop``, or 0 when ``T < window``). The result
    is a read-only strided view of ``signal`` (no copy); index it or ``np.ascontiguousarray`` it to own it.
    """
    if window <= 0 or hop <= 0:
        raise ValueError(f"window and hop must be positive, got window={window}, hop={hop}")
    signal = np.asarray(signal)
    if signal.ndim == 1:
        signal = signal[None, :]
    if signal.ndim != 2:
        raise ValueError(f"frame expects a [channels, samples] signal, got shape {signal.shape}")
    channels, length = signal.shape
    if length < window:
        return np.empty((0, channels, window), dtype=signal.dtype)
    count = 1 + (length - window) // hop
    channel_stride, sample_stride = signal.strides
    return np.lib.stride_tricks.as_strided(  # [N, C, W] view: window n starts at sample n * hop
        signal, shape=(count, channels, window), strides=(sample_stride * hop, channel_stride, sample_stride),
        writeable=False,
    )


def standardize(x: ArrayOrTensor) -> ArrayOrTensor:
    """Per window and channel: subtract the mean, divide by the std (+eps). Same type out, float32.

    The statistics are taken in float64: in float32 the sum of samples near ±3.4e38 overflows to inf and
    the window becomes NaN. Every finite input gives a finite output (a constant window gives zeros).
    """
    if isinstance(x, torch.Tensor):
        centred = x.double()
        centred = centred - centred.mean(dim=-1, keepdim=True)
        std = centred.square().mean(dim=-1, keepdim=True).sqrt()
        return (centred / (std + EPS)).float()
    centred = np.array(x, dtype=np.float64)  # a copy: the caller's array (often a strided view) is kept
    centred -= centred.mean(axis=-1, keepdims=True)
    std = np.sqrt(np.einsum("...i,...i->...", centred, centred) / max(centred.shape[-1], 1))[..., None]
    centred /= std + EPS
    return centred.astype(np.float32)
