"""Channel-wise soft thresholding of deep residual shrinkage networks (DRSN-CW; Zhao et al., IEEE TII 2020).

On ``x [N, C, T]``: ``m = GAP(|x|)`` per channel; a scale ``s`` in (0, 1) from FC → BN → ReLU → FC → sigmoid
on ``m``; threshold ``tau = s * m`` (so it is positive and never exceeds the mean magnitude);
``y = sign(x) * max(|x| − tau, 0)``.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from faultdx.nn.gates import se_gate


class SoftShrinkage1d(nn.Module):
    """Adaptive channel-wise soft thresholding.

    Args:
        channels: number of channels C.
        reduction: hidden width of the threshold sub-network is ``max(1, C // reduction)`` (paper: C).
    """

    #: Per-sample parameters returned by :meth:`forward_with_params`: the thresholds ``[N, C]``.
    param_names: tuple[str, ...] = ("tau",)

    def __init__(self, channels: int, *, reduction: int = 1) -> None:
        super().__init__()
        if channels < 1:
            raise ValueError(f"SoftShrinkage1d: channels must be >= 1, got {channels}")
        if reduction < 1:
            raise ValueError(f"SoftShrinkage1d: reduction must be >= 1, got {reduction}")
        self.channels = channels
        hidden = max(1, channels // reduction)
        self.gate = se_gate(channels, hidden, channels)  # FC-BN-ReLU-FC-sigmoid

    def forward_with_params(self, x: Tensor) -> tuple[Tensor, tuple[Tensor]]:
        """Return ``(y [N, C, T], (tau [N, C],))``."""
        magnitude = torch.linalg.vector_norm(x, ord=1, dim=-1) / x.shape[-1]  # GAP(|x|) [N, C], no |x| copy
        tau = (self.gate(magnitude) * magnitude).unsqueeze(-1).to(x.dtype)  # [N, C, 1]
        y = x - torch.minimum(torch.maximum(x, -tau), tau)  # == sign(x) * max(|x| - tau, 0)
        return y, (tau.squeeze(-1),)

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_with_params(x)[0]

    def extra_repr(self) -> str:
        return f"channels={self.channels}"
