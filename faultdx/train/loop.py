"""One epoch of training and batched prediction, on windows kept as tensors on the device.

The whole windowed dataset lives on the device (CWRU at 12 kHz is a few hundred MB at most), so there is no
DataLoader: each step indexes a batch, adds noise at a random SNR, standardises per window (the same
preprocessing as the Diagnoser, after the noise) and runs forward/backward.

Randomness (shuffle order, noise) comes from a generator seeded by ``(seed, epoch)``: an epoch restarted after
a crash replays exactly, and every DDP rank draws the same global batch and noise, then keeps its own slice.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from faultdx.data.base import WindowSet
from faultdx.data.noise import awgn_torch
from faultdx.data.windows import standardize
from faultdx.train.config import AugmentConfig
from faultdx.train.device import Precision
from faultdx.train.distributed import DistInfo, all_reduce_sum


@dataclass
class DeviceSplit:
    """Raw (unstandardised) windows ``x [N, C, W]`` and labels ``y [N]`` on the training device."""

    x: torch.Tensor
    y: torch.Tensor

    @classmethod
    def from_windows(cls, windows: WindowSet, device: torch.device) -> DeviceSplit:
        x = torch.from_numpy(windows.x).to(device=device, dtype=torch.float32)
        return cls(x=x, y=torch.from_numpy(windows.y).to(device=device, dtype=torch.long))

    def __len__(self) -> int:
        return int(self.y.shape[0])


@dataclass
class EpochStats:
    """Mean loss and accuracy over the epoch's training windows (all ranks), and throughput."""

    loss: float
    accuracy: float
    windows: int
    seconds: float

    @property
    def windows_per_s(self) -> float:
        return self.windows / max(self.seconds, 1e-9)


def epoch_generator(seed: int, epoch: int, device: torch.device) -> torch.Generator:
    """The generator for one epoch's shuffle and noise."""
    generator = torch.Generator(device=device)
    generator.manual_seed(seed * 100_003 + epoch)
    return generator


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


def perturb_speed(x: torch.Tensor, max_change: float, generator: torch.Generator) -> torch.Tensor:
    """Time-stretch a random half of the windows ``[N, C, W]`` about their centre by a factor uniform in
    ``1 ± max_change`` (linear interpolation; the few samples a compression needs from outside the window
    repeat its edge)."""
    if max_change == 0.0:
        return x
    n, c, w = x.shape
    factor = 1.0 + max_change * (2.0 * torch.rand(n, generator=generator, device=x.device) - 1.0)  # [N]
    chosen = torch.rand(n, generator=generator, device=x.device) < 0.5  # [N]
    factor = torch.where(chosen, factor, torch.ones_like(factor))
    centre = (w - 1) / 2
    position = torch.arange(w, device=x.device, dtype=x.dtype)  # [W]
    source = (centre + (position - centre) * factor[:, None].to(x.dtype)).clamp(0, w - 1)  # [N, W]
    low = source.floor().long().clamp(max=w - 2)  # [N, W]
    weight = (source - low.to(x.dtype))[:, None, :]  # [N, 1, W]
    low = low[:, None, :].expand(n, c, w)
    return torch.lerp(x.gather(2, low), x.gather(2, low + 1), weight)


def steps_per_epoch(num_windows: int, batch_size: int) -> int:
    """Full batches only: every step sees ``batch_size`` windows (split evenly over DDP ranks)."""
    steps = num_windows // batch_size
    if steps == 0:
        raise ValueError(f"batch_size {batch_size} exceeds the {num_windows} training windows")
    return steps


def train_one_epoch(
    model: torch.nn.Module,
    data: DeviceSplit,
    *,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    scaler: torch.amp.GradScaler,
    precision: Precision,
    augment: AugmentConfig,
    batch_size: int,
    seed: int,
    epoch: int,
    grad_clip: float | None,
    label_smoothing: float,
    dist_info: DistInfo,
    on_step: Callable[[int, int], None] | None = None,
) -> EpochStats:
    """Train ``model`` (possibly DDP-wrapped) for one epoch over ``data``; ``batch_size`` is global."""
    device = data.x.device
    world, rank = dist_info.world_size, dist_info.rank
    if batch_size % world:
        raise ValueError(f"batch_size {batch_size} must be divisible by the {world} processes")
    local = batch_size // world
    generator = epoch_generator(seed, epoch, device)
    order = torch.randperm(len(data), generator=generator, device=device)
    steps = steps_per_epoch(len(data), batch_size)
    model.train()
    totals = torch.zeros(3, dtype=torch.float64, device=device)  # loss sum, correct, count
    start = time.perf_counter()
    for step in range(steps):
        index = order[step * batch_size : (step + 1) * batch_size]
        x = perturb_speed(data.x[index], augment.speed, generator)  # returns its input when speed is 0
        x = standardize(add_noise(x, augment, generator))  # [B, C, W], same on every rank
        x, y = x[rank * local : (rank + 1) * local], data.y[index][rank * local : (rank + 1) * local]
        with precision.autocast(device):
            logits = model(x)  # [b, K]
        loss = F.cross_entropy(logits.float(), y, label_smoothing=label_smoothing)
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        if grad_clip is not None:
            scaler.unscale_(optimizer)
            torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
        scaler.step(optimizer)
        scaler.update()
        scheduler.step()
        with torch.no_grad():
            correct = (logits.argmax(1) == y).sum().double()
            totals += torch.stack([loss.detach().double() * local, correct, totals.new_tensor(local)])
        if on_step is not None:
            on_step(step + 1, steps)
    totals = all_reduce_sum(totals, dist_info)
    loss_sum, correct, count = totals.tolist()
    return EpochStats(loss_sum / count, correct / count, int(count), time.perf_counter() - start)


@torch.no_grad()
def predict_logits(
    model: torch.nn.Module,
    x: torch.Tensor,
    *,
    batch_size: int,
    precision: Precision,
    snr_db: float | None = None,
    seed: int = 0,
) -> torch.Tensor:
    """Logits ``[N, K]`` (float32, on x's device) for raw windows ``x``, optionally with AWGN at ``snr_db``.

    The noise is seeded by ``seed``, so every model compared at one SNR sees the very same noisy windows.
    """
    model.eval()
    generator = torch.Generator(device=x.device)
    generator.manual_seed(seed)
    outputs = []
    for begin in range(0, x.shape[0], batch_size):
        batch = x[begin : begin + batch_size]
        if snr_db is not None:
            batch = awgn_torch(batch, snr_db, generator)
        with precision.autocast(x.device):
            outputs.append(model(standardize(batch)).float())
    return torch.cat(outputs) if outputs else torch.empty(0, device=x.device)


@dataclass
class EvalStats:
    loss: float
    accuracy: float


def evaluate_split(
    model: torch.nn.Module,
    data: DeviceSplit,
    *,
    batch_size: int,
    precision: Precision,
    snr_db: float | None = None,
    seed: int = 0,
) -> EvalStats:
    """Cross-entropy and accuracy of ``model`` on ``data`` (clean, or at ``snr_db``)."""
    logits = predict_logits(
        model, data.x, batch_size=batch_size, precision=precision, snr_db=snr_db, seed=seed
    )
    loss = F.cross_entropy(logits, data.y).item()
    accuracy = (logits.argmax(1) == data.y).float().mean().item()
    return EvalStats(loss, accuracy)
