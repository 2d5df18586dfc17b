"""Physics front end: a window becomes envelope spectra on the axes of its bearing's own defect frequencies.

A localised bearing defect makes impacts at a defect frequency (BPFO, BPFI, 2×BSF) that ring a structural
resonance; demodulating the resonance band (the Hilbert envelope) and taking its spectrum shows lines at that
frequency and its harmonics. Where those lines fall in Hz depends on the shaft speed and the bearing geometry,
and where the resonance lies depends on the rig. This front end removes both from what the network must learn:

1. the window's spectrum is split into ``bands`` (fractions of Nyquist, raised-cosine edges) and the squared
   Hilbert envelope of each band is taken;
2. each envelope's spectrum (Hann taper) is normalised by its geometric-mean level, so its values are
   "how far a line stands out of the floor" whatever the gain of the sensor or the transfer path;
3. the spectrum is read on one axis per defect frequency (shaft, BPFO, BPFI, BSF: ``orders`` × that frequency,
   maximum over each cell so a line is never missed between grid points), from the **context vector** —
   shaft, BPFO, BPFI, BSF, FTF in cycles per sample (see :mod:`faultdx.context`).

Output ``[N, bands × axes + 1, length]``: on the BPFO axis an outer-race fault shows peaks at orders 1, 2, 3
on any machine. The last channel is a comb ``cos(2π·order)`` marking integer orders, so a
translation-equivariant network followed by global pooling still knows where the integers are.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

AXES = ("shaft", "bpfo", "bpfi", "bsf")  # context-vector columns the spectrum is read on (FTF is column 4)
CONTEXT_SIZE = 5


@dataclass(frozen=True)
class FrontendConfig:
    """Bands (fractions of Nyquist), the order range of each defect axis, and its resolution."""

    bands: tuple[tuple[float, float], ...] = ((0.1, 0.95), (0.15, 0.45), (0.35, 0.65), (0.6, 0.95))
    max_order: float = 5.5
    length: int = 128
    oversample: int = 2  # sub-points per grid cell whose maximum is the cell's value

    @property
    def channels(self) -> int:
        return len(self.bands) * len(AXES) + 1


def band_masks(bands: tuple[tuple[float, float], ...], bins: int) -> Tensor:
    """``[B, bins]`` raised-cosine band-pass masks over rfft bins 0..Nyquist."""
    f = torch.linspace(0.0, 1.0, bins)
    masks = []
    for low, high in bands:
        edge = 0.05 * (high - low) + 1e-3
        rise = torch.clamp((f - (low - edge)) / (2 * edge), 0, 1)
        fall = torch.clamp(((high + edge) - f) / (2 * edge), 0, 1)
        masks.append(0.5 - 0.5 * torch.cos(math.pi * torch.minimum(rise, fall)))
    return torch.stack(masks)


def squared_envelopes(x: Tensor, masks: Tensor) -> Tensor:
    """``x [N, T]`` → squared Hilbert envelope of each band ``[N, B, T]`` (``masks [B, T // 2 + 1]``).

    Band signal and its Hilbert transform come from two inverse real FFTs (``-j·X`` is ``(Im X, -Re X)``), so
    every tensor between the FFTs is real: ONNX exporters take that graph as it is.
    """
    t = x.shape[-1]
    spectrum = torch.view_as_real(torch.fft.rfft(x, dim=-1))  # [N, F, 2]
    re = spectrum[:, None, :, 0] * masks  # [N, B, F]
    im = spectrum[:, None, :, 1] * masks
    band = torch.fft.irfft(torch.view_as_complex(torch.stack([re, im], dim=-1)), n=t, dim=-1)
    hilbert = torch.fft.irfft(torch.view_as_complex(torch.stack([im, -re], dim=-1)), n=t, dim=-1)
    return band.square() + hilbert.square()


def envelope_spectra(envelope: Tensor) -> Tensor:
    """``[N, B, T]`` envelopes → amplitude spectra ``[N, B, T // 2 + 1]`` over their geometric-mean level.

    The geometric mean is a floor that a few strong lines barely move (unlike the mean) and costs no sort
    (unlike the median). It is taken below 1/16 cycle per sample, where every band's envelope has content
    (a narrow band's envelope has none above its width) and where defect lines live.
    """
    t = envelope.shape[-1]
    taper = torch.hann_window(t, periodic=False, dtype=envelope.dtype, device=envelope.device)
    centred = (envelope - envelope.mean(dim=-1, keepdim=True)) * taper
    spectrum = torch.view_as_real(torch.fft.rfft(centred, dim=-1))  # [N, B, F, 2]
    amplitude = spectrum.square().sum(dim=-1).sqrt() + 1e-20  # [N, B, F]
    floor = amplitude[..., 1 : t // 16].log().mean(dim=-1, keepdim=True).exp()
    return amplitude / floor


def envelope_spectrum(
    signal: np.ndarray, sampling_rate: float, band: tuple[float, float] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Envelope spectrum of a whole signal ``[T]`` → ``(freqs [F] Hz, amplitude [F])``, F = T // 2 + 1.

    The front end's own numbers (:func:`squared_envelopes`, :func:`envelope_spectra`) on one band: what the
    network and the envelope model read, so a line the page shows is a line they see. ``band=(low, high)`` Hz
    is a raised-cosine band (:func:`band_masks`); without it the whole band (DC excluded). Amplitudes are
    multiples of the spectrum's floor (its geometric-mean level), in float64.
    """
    x = np.asarray(signal, dtype=np.float64).reshape(-1)
    if x.size < 16:
        raise ValueError(f"envelope spectrum needs at least 16 samples, got {x.size}")
    bins = x.size // 2 + 1
    if band is None:
        mask = torch.ones(1, bins, dtype=torch.float64)
        mask[:, 0] = 0.0  # an offset is no modulation
    else:
        low, high = band
        nyquist = sampling_rate / 2
        if not 0 < low < high < nyquist:
            raise ValueError(f"band must satisfy 0 < low < high < {nyquist:g} Hz, got {band}")
        mask = band_masks(((low / nyquist, high / nyquist),), bins).double()
    spectra = envelope_spectra(squared_envelopes(torch.from_numpy(x)[None], mask))  # [1, 1, F]
    return np.fft.rfftfreq(x.size, d=1.0 / sampling_rate), spectra[0, 0].numpy()


def read_on_axes(spectra: Tensor, context: Tensor, orders: Tensor, window: int) -> Tensor:
    """Sample ``spectra [N, B, F]`` (bin k = k / T cycles/sample, F = T // 2 + 1) at ``orders [L, S]`` × each
    defect frequency of ``context [N, 5]`` → ``[N, B, A, L]``, the max over the S sub-points of each cell."""
    n, b, f = spectra.shape
    freqs = context[:, : len(AXES)]  # [N, A] cycles/sample
    position = freqs[:, :, None, None] * orders * window  # [N, A, L, S] fractional bins
    position = torch.nan_to_num(position, nan=0.0).clamp(min=0.0).clamp(max=float(f) - 1.001)
    low = position.floor()
    weight = (position - low)[:, None]  # [N, 1, A, L, S]
    index = low.long().reshape(n, 1, -1).expand(n, b, -1)  # [N, B, A·L·S]
    shape = (n, b, *position.shape[1:])
    lo = spectra.gather(2, index).reshape(shape)
    hi = spectra.gather(2, index + 1).reshape(shape)
    return torch.lerp(lo, hi, weight).amax(dim=-1)  # [N, B, A, L]


class DefectSpectrumFrontend(nn.Module):
    """``(x [N, C, T], context [N, 5]) → [N, channels, length]``: log envelope spectra on defect axes + comb.

    Only the first input channel is demodulated (one sensor per bearing).
    """

    def __init__(self, config: FrontendConfig) -> None:
        super().__init__()
        self.config = config
        cells = torch.linspace(0.0, config.max_order, config.length + 1)  # cell edges
        sub = (torch.arange(config.oversample) + 0.5) / config.oversample
        orders = cells[:-1, None] + (cells[1:] - cells[:-1])[:, None] * sub  # [L, S]
        centre = (cells[:-1] + cells[1:]) / 2
        self.register_buffer("orders", orders, persistent=False)
        self.register_buffer("comb", torch.cos(2 * math.pi * centre), persistent=False)

    def masks(self, length: int, device: torch.device) -> Tensor:
        """Band masks for ``length``-sample windows (built per call: microseconds, and no module state)."""
        return band_masks(self.config.bands, length // 2 + 1).to(device)

    def forward(self, x: Tensor, context: Tensor) -> Tensor:
        if context.dim() != 2 or context.shape[1] != CONTEXT_SIZE or context.shape[0] != x.shape[0]:
            raise ValueError(f"context must be [N={x.shape[0]}, {CONTEXT_SIZE}], got {tuple(context.shape)}")
        signal = x[:, 0, :].float()
        envelopes = squared_envelopes(signal, self.masks(signal.shape[-1], signal.device))
        spectra = envelope_spectra(envelopes)
        on_axes = read_on_axes(spectra, context.float(), self.orders, signal.shape[-1])  # [N, B, A, L]
        features = torch.log1p(on_axes).flatten(1, 2)  # [N, B·A, L]
        comb = self.comb.expand(x.shape[0], 1, -1)
        return torch.cat([features, comb], dim=1)
