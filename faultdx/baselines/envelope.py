"""Classic envelope analysis as a model: band → squared envelope → spectrum → defect-line evidence.

The textbook bearing diagnosis, with nothing learned: demodulate the band where the defect impacts ring (the
band whose squared envelope is most impulsive, or a fixed one), take the envelope spectrum, and ask at which
defect frequency — BPFO (outer race), BPFI (inner race) or 2×BSF (a ball strikes both races once per spin) —
lines stand out of their neighbourhood at harmonics 1-3. If none stands out by ``threshold``, "normal".

It has the network's interface (``forward(x, context) → logits`` in :data:`FAULT_TYPES` order), so the
Diagnoser serves it like a trained network: :mod:`faultdx.diagnose.models` registers the kind ``"envelope"``
(this module knows nothing of the Diagnoser), and :func:`load_envelope` is the model named ``"envelope"``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any, Literal

import torch
from torch import Tensor, nn

from faultdx.data.base import FAULT_TYPES
from faultdx.data.bearing import bearing_from
from faultdx.modeldir import LoadedModel, build_meta
from faultdx.nn.frontend import band_masks, envelope_spectra, squared_envelopes

ENVELOPE_NAME = "envelope"
# context columns (BSF, BPFI, BPFO) and the line multiple: a ball defect strikes both races, at 2×BSF
DEFECT_LINES = {"ball": (3, 2.0), "inner_race": (2, 1.0), "outer_race": (1, 1.0)}
LOBE_BINS = 2.0  # half-width of a Hann-tapered line's main lobe, in bins: not part of the floor around it
MIN_FLOOR_BINS = 6.0  # the floor needs this many bins each side even where ±neighbourhood is narrower


def kurtogram_bands(levels: int = 3) -> tuple[tuple[float, float], ...]:
    """A fast kurtogram's 1/3-binary tree (fractions of Nyquist): widths 1, 1/2, 1/3, 1/4, ..., 1/2^levels."""
    counts = sorted([2**level for level in range(levels + 1)] + [3 * 2**level for level in range(levels - 1)])
    return tuple((i / count, (i + 1) / count) for count in counts for i in range(count))


@dataclass(frozen=True)
class EnvelopeConfig:
    """How the envelope reference picks its band and weighs defect lines.

    ``band="kurtosis"`` picks, per window, the candidate band (``candidates``, fractions of Nyquist) whose
    squared envelope has the highest kurtosis; ``band="fixed"`` demodulates ``fixed_band`` (Hz).
    Evidence of a defect = mean over ``harmonics`` of (max within ±``tolerance`` of h·f) / (median within
    ±``neighbourhood`` of h·f). ``threshold``: evidence below which a window is "normal"; ``sharpness``:
    logits are ``sharpness · log(evidence)``, so evidence twice the threshold gives about 0.9 confidence.
    """

    # Fixed 2-5.5 kHz, the classic choice for rolling bearings: the kurtogram, measured on 4096-sample
    # windows, picked bands of one-off impulses and called 36 % of a normal recording faulty (fixed: 7 %).
    band: Literal["kurtosis", "fixed"] = "fixed"
    fixed_band: tuple[float, float] = (2000.0, 5500.0)
    candidates: tuple[tuple[float, float], ...] = kurtogram_bands()
    harmonics: int = 3
    tolerance: float = 0.02
    neighbourhood: float = 0.2
    threshold: float = 2.0
    sharpness: float = 4.0
    peak_points: int = 9
    floor_points: int = 64
    needs_context: bool = True
    min_length: int = 256

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, with the model kind (``"envelope"``) a model directory's config names."""
        return {"kind": ENVELOPE_NAME, **asdict(self)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> EnvelopeConfig:
        """Inverse of :meth:`to_dict` (JSON lists become tuples); unknown keys are a ``ValueError``."""
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in d.items() if k != "kind"}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown EnvelopeConfig field(s) {unknown}; valid: {sorted(known)}")
        if "fixed_band" in values:
            values["fixed_band"] = tuple(values["fixed_band"])
        if "candidates" in values:
            values["candidates"] = tuple(tuple(band) for band in values["candidates"])
        return cls(**values)


class EnvelopeReference(nn.Module):
    """``(x [N, C, W], context [N, 5]) → logits [N, 4]`` (FAULT_TYPES order) by envelope analysis.

    Only the first channel is read. ``sampling_rate`` (the windows' rate) turns a fixed band in Hz into
    fractions of Nyquist. No parameters: the module is its config.
    """

    def __init__(self, config: EnvelopeConfig | None = None, *, sampling_rate: float = 12000.0) -> None:
        super().__init__()
        self.config = config or EnvelopeConfig()
        self.sampling_rate = float(sampling_rate)
        nyquist = self.sampling_rate / 2
        low, high = self.config.fixed_band
        if self.config.band == "fixed" and not 0 <= low < high <= nyquist:
            raise ValueError(f"fixed_band must satisfy 0 <= low < high <= {nyquist:g} Hz, got {(low, high)}")
        fixed = ((low / nyquist, high / nyquist),)
        self.bands = self.config.candidates if self.config.band == "kurtosis" else fixed
        harmonic = torch.arange(1, self.config.harmonics + 1, dtype=torch.float32)
        self.register_buffer("harmonic", harmonic, persistent=False)

    def masks(self, length: int, device: torch.device) -> Tensor:
        """Candidate band masks for ``length``-sample windows (built per call: no module state)."""
        return band_masks(self.bands, length // 2 + 1).to(device)

    def envelope_spectrum(self, x: Tensor) -> Tensor:
        """``x [N, W]`` → envelope spectrum ``[N, 1, W // 2 + 1]`` of the chosen band of each window."""
        envelopes = squared_envelopes(x, self.masks(x.shape[-1], x.device))  # [N, B, W]
        if envelopes.shape[1] > 1:
            # spectral kurtosis of the complex envelope z: E|z|^4 / (E|z|^2)^2 - 2; impacts make it large
            kurtosis = envelopes.square().mean(-1) / envelopes.mean(-1).square().clamp_min(1e-30) - 2
            best = kurtosis.argmax(dim=1)
            envelopes = envelopes[torch.arange(len(x), device=x.device), best][:, None]
        return envelope_spectra(envelopes)

    def evidence(self, x: Tensor, context: Tensor) -> Tensor:
        """``[N, 3]`` line evidence of ball (2×BSF), inner race (BPFI), outer race (BPFO)."""
        spectrum = self.envelope_spectrum(x[:, 0, :].float())[:, 0]  # [N, F]
        return self.line_evidence(spectrum, context, x.shape[-1])

    def line_evidence(self, spectrum: Tensor, context: Tensor, width: int) -> Tensor:
        """``[N, 3]`` line evidence in envelope spectra ``[N, F]`` of ``width``-sample windows: per family,
        the mean over harmonics of the line's peak over the median of its neighbourhood. (A mean spectrum
        of a signal's windows keeps what repeats at the defect rate and lets one-off impacts and noise
        average out: :func:`faultdx.diagnose.confidence.recording_lines`.)"""
        cfg = self.config
        columns, multiple = zip(*(DEFECT_LINES[t] for t in FAULT_TYPES[1:]), strict=True)
        line = context.float()[:, list(columns)] * torch.tensor(multiple, device=spectrum.device)  # [N, 3]
        centre = line[:, :, None] * self.harmonic * width  # [N, 3, H] in bins
        u = torch.linspace(-1.0, 1.0, cfg.peak_points, device=spectrum.device)
        peak_reach = torch.clamp(cfg.tolerance * centre, min=0.5)  # a line is located to half a bin at best
        peak = _sample(spectrum, centre[..., None] + peak_reach[..., None] * u).amax(-1)
        # the floor: both flanks of ±neighbourhood, outside the line's own main lobe
        inner = LOBE_BINS + peak_reach
        outer = torch.maximum(cfg.neighbourhood * centre, inner + MIN_FLOOR_BINS)
        v = torch.linspace(0.0, 1.0, cfg.floor_points // 2, device=spectrum.device)
        reach = inner[..., None] + (outer - inner)[..., None] * v
        flanks = torch.cat([centre[..., None] - reach, centre[..., None] + reach], dim=-1)
        floor = _sample(spectrum, flanks).median(-1).values.clamp_min(1e-12)
        return (peak / floor).mean(-1)  # [N, 3]

    def forward(self, x: Tensor, context: Tensor) -> Tensor:
        if context.dim() != 2 or context.shape[1] != 5 or context.shape[0] != x.shape[0]:
            raise ValueError(f"context must be [N={x.shape[0]}, 5], got {tuple(context.shape)}")
        return self.logits(self.evidence(x, context))

    def logits(self, evidence: Tensor) -> Tensor:
        """``[N, 4]`` logits (FAULT_TYPES order) of line evidence ``[N, 3]``: normal sits at the threshold."""
        normal = torch.full_like(evidence[:, :1], math.log(self.config.threshold))
        return self.config.sharpness * torch.cat([normal, evidence.log()], dim=1)

    def forward_with_slopes(self, x: Tensor, context: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        """The logits and no slopes (there are no adaptive activations)."""
        return self.forward(x, context), {}


def load_envelope(
    *,
    window: int = 4096,  # 0.34 s at 12 kHz: 2048 samples resolve too few lines at 25-30 Hz shafts
    sampling_rate: float = 12000.0,
    bearing: str = "SKF 6205",
    config: EnvelopeConfig | None = None,
) -> LoadedModel:
    """The envelope reference as a loaded model (name ``"envelope"``), with the metadata a model directory
    would hold. ``bearing`` is the geometry assumed when a request names none."""
    model = EnvelopeReference(config, sampling_rate=sampling_rate)
    meta = build_meta(model, {
        "name": ENVELOPE_NAME,
        "version": "1",
        "model": model.config.to_dict(),
        "classes": list(FAULT_TYPES),
        "window": window,
        "hop": window,
        "sampling_rate": sampling_rate,
        "channels": ["DE"],
        "dataset": {"name": "none (no training)"},
        "bearing": bearing_from(bearing).as_request(),
    })
    return LoadedModel(model.eval(), meta)


def _sample(spectrum: Tensor, position: Tensor) -> Tensor:
    """``spectrum [N, F]`` linearly interpolated at fractional bins ``position [N, ...]`` (clamped)."""
    n, f = spectrum.shape
    position = position.clamp(0, f - 1.001)
    low = position.floor()
    index = low.long().reshape(n, -1)
    lo = spectrum.gather(1, index).reshape(position.shape)
    hi = spectrum.gather(1, index + 1).reshape(position.shape)
    return torch.lerp(lo, hi, position - low)
