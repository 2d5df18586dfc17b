"""What a network configuration costs: parameters, multiply-accumulates per window, slope layers.

One place for these figures, used by ``faultdx model list/info`` and by the presets table of docs/networks.md
(rendered from the code by ``faultdx results render``, so the table cannot drift from the presets).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.utils.flop_counter import FlopCounterMode

from faultdx.nn.resnet1d import PRESETS, ResNet1d, ResNet1dConfig, preset_config

# A context vector for counting only (SKF 6205 at 1797 rpm seen at 12 kHz: shaft, BPFO, BPFI, BSF, FTF in
# cycles per sample); physics front ends read it, raw ones ignore it.
EXAMPLE_CONTEXT = (0.0025, 0.0089, 0.0135, 0.0059, 0.001)


@dataclass(frozen=True)
class Cost:
    """A configuration and what one window through it costs."""

    config: ResNet1dConfig
    parameters: int
    macs: int  # convolutions and linear layers; 1 multiply-accumulate = 2 FLOPs
    slopes: dict[str, tuple[int, ...]]  # per-sample parameter layers: name -> shape per window


def network_cost(config: ResNet1dConfig, window: int = 2048) -> Cost:
    """Count ``config`` on one ``window``-sample window; ``ValueError`` if the window is too short for it."""
    model = ResNet1d(config).eval()
    if window < model.config.min_length:
        raise ValueError(f"--window must be >= {model.config.min_length} samples for this network")
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        context = torch.tensor([EXAMPLE_CONTEXT])
        _, slopes = model.forward_with_slopes(torch.zeros(1, model.config.in_channels, window), context)
    return Cost(config=model.config, parameters=sum(p.numel() for p in model.parameters()),
                macs=counter.get_total_flops() // 2,
                slopes={name: tuple(value.shape[1:]) for name, value in slopes.items()})


def preset_cost(preset: str, activation: str = "aprelu", window: int = 2048) -> Cost:
    """:func:`network_cost` of a preset with an activation."""
    return network_cost(preset_config(preset, activation=activation), window)


def presets_table(window: int = 2048) -> str:
    """Markdown: one row per preset with its front end, stem, stages, parameters and MACs (APReLU)."""
    rows = ["| preset | front end | stem | widths × depths, strides | parameters (APReLU) | "
            f"MACs / {window}-sample window |", "|---|---|---|---|---|---|"]
    for name in PRESETS:
        cost = preset_cost(name, "aprelu", window)
        c = cost.config
        rows.append(f"| `{name}` | {c.frontend} | {c.stem_channels} ch, k{c.stem_kernel}/s{c.stem_stride} | "
                    f"{tuple(c.widths)} × {tuple(c.depths)}, {tuple(c.strides)} | {cost.parameters:,} | "
                    f"{cost.macs / 1e6:.2f} M |")
    return "\n".join(rows) + "\n"
