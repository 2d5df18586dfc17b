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

import numpy as np
import torch

from faultdx.data.base import WindowSet, type_membership
from faultdx.data.noise import awgn_torch
from faultdx.data.windows import standardize
from faultdx.nn.inference import batched_forward
from faultdx.train.augment import add_noise, jitter_context, perturb_speed, random_path
from faultdx.train.config import AugmentConfig
from faultdx.train.device import Precision
from faultdx.train.distributed import DistInfo, all_reduce_sum
from faultdx.train.losses import partial_label_loss, type_log_probs
from faultdx.train.metrics import macro_f1


@dataclass
class DeviceSplit:
    """Raw (unstandardised) windows ``x [N, C, W]`` on the training device, their class ``y [N]`` (-1 where
    only the fault type is known), fault type ``fault_type [N]`` and context vector ``context [N, 5]``."""

    x: torch.Tensor
    y: torch.Tensor
    fault_type: torch.Tensor
    context: torch.Tensor
    membership: torch.Tensor  # [K, 4]: class k is of fault type t

    @classmethod
    def from_windows(cls, windows: WindowSet, device: torch.device) -> DeviceSplit:
        def put(a: np.ndarray, dtype: torch.dtype) -> torch.Tensor:
            return torch.from_numpy(np.ascontiguousarray(a)).to(device=device, dtype=dtype)

        return cls(
            x=put(windows.x, torch.float32),
            y=put(windows.y, torch.long),
            fault_type=put(windows.fault_type, torch.long),
            context=put(windows.context, torch.float32),
            membership=put(type_membership(windows.classes), torch.float32),
        )

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


def steps_per_epoch(num_windows: int, batch_size: int) -> int:
    """Full batches only: every step sees ``batch_size`` windows (split evenly over DDP ranks)."""
    steps = num_windows // batch_size
    if steps == 0:
        raise ValueError(f"batch_size {batch_size} exceeds the {num_windows} training windows")
    return steps


@dataclass
class Batch:
    """One step's inputs on this rank: standardised windows, their context, class and fault type."""

    x: torch.Tensor
    context: torch.Tensor
    y: torch.Tensor
    fault_type: torch.Tensor


def augmented_batch(
    data: DeviceSplit, index: torch.Tensor, augment: AugmentConfig, generator: torch.Generator
) -> Batch:
    """The global batch ``index`` of ``data`` after speed change, transfer path, context jitter and noise (the
    draws in this order, the same on every rank), standardised per window."""
    x, factor = perturb_speed(data.x[index], augment.speed, generator)  # factor 1 when speed is 0
    x = random_path(x, augment.path_db, generator)
    context = jitter_context(data.context[index] * factor[:, None], augment.context_jitter, generator)
    x = standardize(add_noise(x, augment, generator))  # [B, C, W]
    return Batch(x, context, data.y[index], data.fault_type[index])


def _rank_slice(batch: Batch, rank: int, local: int) -> Batch:
    mine = slice(rank * local, (rank + 1) * local)
    return Batch(batch.x[mine], batch.context[mine], batch.y[mine], batch.fault_type[mine])


@dataclass
class Optimisation:
    """What one optimiser step needs besides the model and the loss."""

    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    scaler: torch.amp.GradScaler
    grad_clip: float | None

    def step(self, model: torch.nn.Module, loss: torch.Tensor) -> None:
        """Backward (scaled), optional gradient clipping, optimiser and scheduler step."""
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        if self.grad_clip is not None:
            self.scaler.unscale_(self.optimizer)
            torch.nn.utils.clip_grad_norm_(model.parameters(), self.grad_clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.scheduler.step()


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
    device, world = data.x.device, dist_info.world_size
    if batch_size % world:
        raise ValueError(f"batch_size {batch_size} must be divisible by the {world} processes")
    local = batch_size // world
    generator = epoch_generator(seed, epoch, device)
    order = torch.randperm(len(data), generator=generator, device=device)
    steps = steps_per_epoch(len(data), batch_size)
    optimisation = Optimisation(optimizer, scheduler, scaler, grad_clip)
    model.train()
    totals = torch.zeros(3, dtype=torch.float64, device=device)  # loss sum, correct, count
    start = time.perf_counter()
    for step in range(steps):
        index = order[step * batch_size : (step + 1) * batch_size]
        batch = _rank_slice(augmented_batch(data, index, augment, generator), dist_info.rank, local)
        with precision.autocast(device):
            logits = model(batch.x, batch.context)  # [b, K]
        loss = partial_label_loss(logits, batch.y, batch.fault_type, data.membership, label_smoothing)
        optimisation.step(model, loss)
        with torch.no_grad():
            correct = (type_log_probs(logits, data.membership).argmax(1) == batch.fault_type).sum().double()
            totals += torch.stack([loss.detach().double() * local, correct, totals.new_tensor(local)])
        if on_step is not None:
            on_step(step + 1, steps)
    loss_sum, correct, count = all_reduce_sum(totals, dist_info).tolist()
    return EpochStats(loss_sum / count, correct / count, int(count), time.perf_counter() - start)


def predict_logits(
    model: torch.nn.Module,
    x: torch.Tensor,
    context: torch.Tensor,
    *,
    batch_size: int,
    precision: Precision,
    snr_db: float | None = None,
    seed: int = 0,
) -> torch.Tensor:
    """Logits ``[N, K]`` (float32, on x's device) for raw windows ``x`` with their ``context [N, 5]``,
    optionally with AWGN at ``snr_db``, through the one batched forward helper.

    The noise is seeded by ``seed``, so every model compared at one SNR sees the very same noisy windows.
    """
    model.eval()
    generator = torch.Generator(device=x.device)
    generator.manual_seed(seed)

    def prepare(batch: torch.Tensor, rows: slice) -> torch.Tensor:
        return standardize(batch if snr_db is None else awgn_torch(batch, snr_db, generator))

    if x.shape[0] == 0:
        return torch.empty(0, device=x.device)
    return batched_forward(model, x, context, batch_size=batch_size, prepare=prepare,
                           autocast=lambda: precision.autocast(x.device)).logits


@dataclass
class EvalStats:
    """Loss, class accuracy (None when no window has a known class), fault-type accuracy and macro-F1."""

    loss: float
    accuracy: float | None
    type_accuracy: float
    type_macro_f1: float


def evaluate(
    model: torch.nn.Module,
    data: DeviceSplit,
    *,
    batch_size: int,
    precision: Precision,
    snr_db: float | None = None,
    seed: int = 0,
) -> EvalStats:
    """Loss and accuracies of ``model`` on ``data`` (clean, or at ``snr_db``)."""
    logits = predict_logits(
        model, data.x, data.context, batch_size=batch_size, precision=precision, snr_db=snr_db, seed=seed
    )
    loss = partial_label_loss(logits, data.y, data.fault_type, data.membership).item()
    known = data.y >= 0
    accuracy = (logits[known].argmax(1) == data.y[known]).float().mean().item() if known.any() else None
    types = type_log_probs(logits, data.membership).argmax(1)
    return EvalStats(loss, accuracy, (types == data.fault_type).float().mean().item(),
                     macro_f1(data.fault_type.cpu().numpy(), types.cpu().numpy()))
