"""The network, its AdamW optimiser and the learning-rate schedule, built from a run config."""

from __future__ import annotations

import math

import torch

from faultdx.nn.resnet1d import ResNet1d, preset_config
from faultdx.train.config import RunConfig


def build_model(config: RunConfig, num_classes: int) -> ResNet1d:
    """``config.model.preset`` with its activation, the data's channels and classes, and any overrides."""
    try:
        net_config = preset_config(
            config.model.preset,
            **{
                **config.model.overrides,
                "activation": config.model.activation,
                "in_channels": len(config.data.channels),
                "num_classes": num_classes,
            },
        )
    except (TypeError, ValueError) as err:
        raise ValueError(f"model.overrides: {err}") from err
    return ResNet1d(net_config)


def build_optimizer(model: torch.nn.Module, config: RunConfig) -> torch.optim.AdamW:
    """AdamW; no weight decay on biases and normalisation parameters (1-D tensors)."""
    decay = [p for p in model.parameters() if p.requires_grad and p.ndim > 1]
    no_decay = [p for p in model.parameters() if p.requires_grad and p.ndim <= 1]
    groups = [
        {"params": decay, "weight_decay": config.optim.weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups, lr=config.optim.lr, betas=config.optim.betas)


def build_scheduler(
    optimizer: torch.optim.Optimizer, config: RunConfig, total_steps: int
) -> torch.optim.lr_scheduler.LRScheduler:
    """``onecycle`` (torch OneCycleLR), ``cosine`` (linear warm-up, cosine decay) or ``constant``.

    Runs shorter than four steps get the warm-up + cosine schedule instead of one-cycle."""
    optim = config.optim
    if optim.schedule == "onecycle" and total_steps >= 4:
        return torch.optim.lr_scheduler.OneCycleLR(
            optimizer,
            max_lr=optim.lr,
            total_steps=total_steps,
            # OneCycleLR divides by the warm-up length in steps minus one: keep it at least two steps
            pct_start=min(max(optim.warmup_frac, 2.0 / total_steps), 0.5),
            cycle_momentum=False,
        )
    warmup = max(1, int(optim.warmup_frac * total_steps))

    def factor(step: int) -> float:
        if optim.schedule == "constant":
            return 1.0
        if step < warmup:
            return (step + 1) / warmup
        progress = (step - warmup) / max(1, total_steps - warmup)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
