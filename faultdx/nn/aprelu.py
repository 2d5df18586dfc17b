"""APReLU, the adaptively parametric rectifier linear unit (Zhao et al., IEEE TIE 2020).

DOI 10.1109/TIE.2020.2972458.

On a feature map ``x [N, C, T]`` the positive part ``max(x, 0)`` and the negative part ``min(x, 0)`` are each
averaged over time; the two C-vectors, concatenated, go through FC → BN → ReLU → FC(C) → BN → sigmoid and
give a per-sample, per-channel slope ``alpha`` in (0, 1); the output is ``max(x, 0) + alpha * min(x, 0)``.

The BatchNorms act on ``[N, features]`` vectors and use running statistics in eval mode, so a sample diagnosed
alone gets the same slopes as inside a batch.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from faultdx.nn.gates import se_gate


class APReLU1d(nn.Module):
    """APReLU over ``[N, C, T]`` feature maps.

    Args:
        channels: number of channels C.
        reduction: the first FC maps 2C features to ``max(1, C // reduction)``; 1 (default) is the paper's C.
    """

    #: Names of the per-sample parameters :meth:`forward_with_params` returns, in order.
    param_names: tuple[str, ...] = ("alpha",)

    def __init__(self, channels: int, *, reduction: int = 1) -> None:
        super().__init__()
        if channels < 1:
            raise ValueError(f"APReLU1d: channels must be >= 1, got {channels}")
        if reduction < 1:
            raise ValueError(f"APReLU1d: reduction must be >= 1, got {reduction}")
        self.channels = channels
        hidden = max(1, channels // reduction)
        self.gate = se_gate(2 * channels, hidden, channels, out_norm=True)  # FC-BN-ReLU-FC-BN-sigmoid

    def forward_with_params(self, x: Tensor) -> tuple[Tensor, tuple[Tensor]]:
        """Return ``(y [N, C, T], (alpha [N, C],))``."""
        pos = torch.relu(x)  # [N, C, T]
        pos_mean = pos.mean(dim=-1)  # [N, C]
        neg_mean = x.mean(dim=-1) - pos_mean  # GAP of min(x, 0) without materialising it
        alpha = self.gate(torch.cat([pos_mean, neg_mean], dim=1))  # [N, 2C] -> [N, C], in (0, 1)
        # max(x, 0) + alpha * min(x, 0) == lerp(x, max(x, 0), 1 - alpha): exactly x where x >= 0, one pass
        y = torch.lerp(x, pos, (1.0 - alpha).unsqueeze(-1).to(x.dtype))  # AMP: weight in x's dtype
        return y, (alpha,)

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_with_params(x)[0]

    def extra_repr(self) -> str:
        return f"channels={self.channels}, hidden={self.gate[0].out_features}"
