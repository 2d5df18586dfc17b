"""Dynamic ReLU (Chen et al., ECCV 2020, arXiv 2003.10027), for ``[N, C, T]`` feature maps.

``y_c = max_k (a_c^k * x_c + b_c^k)`` with K = 2 linear pieces whose coefficients come from a hyper function
of the whole input: global average pool → FC → ReLU → FC → ``2σ(·) − 1`` gives residuals in [−1, 1] around
α¹ = 1, α² = β¹ = β² = 0, scaled by λ_a = 1.0 (slopes) and λ_b = 0.5 (intercepts). The last FC starts at
zero, so an untrained DY-ReLU is exactly ReLU.

* DY-ReLU-A (``channel_wise=False``): one set of 2K coefficients per sample, shared by space and channels.
* DY-ReLU-B (``channel_wise=True``): 2K coefficients per sample and channel.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from faultdx.nn.gates import keep_state_dict_names, se_gate

_K = 2  # linear pieces (the paper's default)


class DyReLU1d(nn.Module):
    """DY-ReLU-A or -B with K = 2.

    Args:
        channels: number of channels C.
        channel_wise: False for DY-ReLU-A, True for DY-ReLU-B.
        reduction: hidden width of the hyper function is ``max(1, C // reduction)``.
        lambda_a, lambda_b: ranges of the slope and intercept residuals.
    """

    #: Per-sample coefficients returned by :meth:`forward_with_params`, each ``[N, C]``.
    param_names: tuple[str, ...] = ("a1", "b1", "a2", "b2")

    def __init__(
        self,
        channels: int,
        *,
        channel_wise: bool,
        reduction: int = 4,
        lambda_a: float = 1.0,
        lambda_b: float = 0.5,
    ) -> None:
        super().__init__()
        if channels < 1:
            raise ValueError(f"DyReLU1d: channels must be >= 1, got {channels}")
        if reduction < 1:
            raise ValueError(f"DyReLU1d: reduction must be >= 1, got {reduction}")
        self.channels = channels
        self.channel_wise = channel_wise
        groups = channels if channel_wise else 1
        hidden = max(1, channels // reduction)
        # The hyper function: FC-ReLU-FC, saved under its original names fc1.* / fc2.*.
        self.gate = se_gate(channels, hidden, 2 * _K * groups, hidden_norm=False, sigmoid=False)
        keep_state_dict_names(self, {"gate.0.": "fc1.", "gate.2.": "fc2."})
        nn.init.zeros_(self.fc2.weight)  # residuals start at 0: untrained DY-ReLU == ReLU
        nn.init.zeros_(self.fc2.bias)
        # Initial coefficients and residual scales, laid out as [a1, a2, b1, b2].
        self.register_buffer("init", torch.tensor([1.0, 0.0, 0.0, 0.0]), persistent=False)
        scale = torch.tensor([lambda_a, lambda_a, lambda_b, lambda_b])
        self.register_buffer("scale", scale, persistent=False)

    @property
    def fc1(self) -> nn.Linear:
        """The hyper function's first FC (channels → hidden)."""
        return self.gate[0]

    @property
    def fc2(self) -> nn.Linear:
        """The hyper function's last FC (hidden → 4 coefficients per group), zero at initialisation."""
        return self.gate[2]

    def coefficients(self, x: Tensor) -> Tensor:
        """Per-sample coefficients ``[N, C or 1, 4]`` laid out as ``(a1, a2, b1, b2)``."""
        n = x.shape[0]
        theta = self.gate(x.mean(dim=-1))  # [N, 4 * groups]
        residual = 2.0 * torch.sigmoid(theta) - 1.0  # in [-1, 1]
        return self.init + self.scale * residual.view(n, -1, 2 * _K)  # [N, groups, 4]

    def forward_with_params(self, x: Tensor) -> tuple[Tensor, tuple[Tensor, Tensor, Tensor, Tensor]]:
        """Return ``(y [N, C, T], (a1, b1, a2, b2))``, each coefficient ``[N, C]`` (shared ones expanded)."""
        coef = self.coefficients(x).to(x.dtype)  # [N, G, 4]; fp32 init buffers would upcast under AMP
        a1, a2, b1, b2 = (coef[..., i : i + 1] for i in range(4))  # each [N, G, 1]
        piece1, piece2 = x * a1, x * a2  # [N, C, T] each
        piece1 += b1  # in place on fresh tensors: saves two large allocations
        piece2 += b2
        y = torch.maximum(piece1, piece2)
        shape = (x.shape[0], self.channels)
        return y, tuple(c.squeeze(-1).expand(shape) for c in (a1, b1, a2, b2))

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_with_params(x)[0]

    def extra_repr(self) -> str:
        return f"channels={self.channels}, channel_wise={self.channel_wise}, k={_K}"
