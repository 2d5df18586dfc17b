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
import torch.nn.functional as F

from faultdx.data.base import WindowSet, type_membership
from faultdx.data.noise import awgn_torch
from faultdx.data.windows import standardize
from faultdx.train.config import AugmentConfig
from faultdx.train.device import Precision
from faultdx.train.distributed import DistInfo, all_reduce_sum


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


def perturb_speed(
    x: torch.Tensor, max_change: float, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Time-stretch a random half of the windows ``[N, C, W]`` about their centre by a factor uniform in
    ``1 ± max_change`` (linear interpolation; the few samples a compression needs from outside the window
    repeat its edge). Returns the windows and each one's frequency factor ``[N]`` (1 where unchanged)."""
    n, c, w = x.shape
    if max_change == 0.0:
        return x, torch.ones(n, device=x.device)
    factor = 1.0 + max_change * (2.0 * torch.rand(n, generator=generator, device=x.device) - 1.0)  # [N]
    chosen = torch.rand(n, generator=generator, device=x.device) < 0.5  # [N]
    factor = torch.where(chosen, factor, torch.ones_like(factor))
    centre = (w - 1) / 2
    position = torch.arange(w, device=x.device, dtype=x.dtype)  # [W]
    source = (centre + (position - centre) * factor[:, None].to(x.dtype)).clamp(0, w - 1)  # [N, W]
    low = source.floor().long().clamp(max=w - 2)  # [N, W]
    weight = (source - low.to(x.dtype))[:, None, :]  # [N, 1, W]
    low = low[:, None, :].expand(n, c, w)
    return torch.lerp(x.gather(2, low), x.gather(2, low + 1), weight), factor


def random_path(x: torch.Tensor, max_db: float, generator: torch.Generator) -> torch.Tensor:
    """Pass a random half of the windows ``[N, C, W]`` through a random transfer path: a spectral tilt and a
    resonance-like bump of up to ±``max_db`` dB, then a random band limit (high-pass below up to 0.3 and
    low-pass above at least 0.5 of Nyquist). Another sensor position, mounting or rig changes exactly this;
    the defect periodicity, which the label depends on, it leaves intact."""
    if max_db == 0.0:
        return x
    n, device = x.shape[0], x.device
    spectrum = torch.fft.rfft(x, dim=-1)  # [N, C, F]
    f = torch.linspace(0.0, 1.0, spectrum.shape[-1], device=device)  # fraction of Nyquist

    def uniform(low: float, high: float) -> torch.Tensor:
        return low + (high - low) * torch.rand(n, 1, generator=generator, device=device)

    tilt = uniform(-max_db, max_db) * (f - 0.5)
    bump = uniform(-max_db, max_db) * torch.exp(-0.5 * ((f - uniform(0.1, 0.9)) / uniform(0.03, 0.2)) ** 2)
    passband = (f >= uniform(0.0, 0.3)) & (f <= uniform(0.5, 1.0))
    gain = torch.where(passband, 10.0 ** ((tilt + bump) / 20.0), torch.zeros_like(tilt))  # [N, F]
    chosen = torch.rand(n, 1, generator=generator, device=device) < 0.5
    gain = torch.where(chosen, gain, torch.ones_like(gain))
    return torch.fft.irfft(spectrum * gain[:, None, :], n=x.shape[-1], dim=-1)


def jitter_context(context: torch.Tensor, jitter: float, generator: torch.Generator) -> torch.Tensor:
    """Scale each row of ``context [N, 5]`` by a factor uniform in ``1 ± jitter`` (a stated rpm is never
    exact)."""
    if jitter == 0.0:
        return context
    u = 2.0 * torch.rand(context.shape[0], 1, generator=generator, device=context.device) - 1.0
    return context * (1.0 + jitter * u)


def type_log_probs(logits: torch.Tensor, membership: torch.Tensor) -> torch.Tensor:
    """Log-probability of each fault type ``[N, 4]``: log of the summed probabilities of its classes.

    A type with no class (normal in a 9-class model) gets a log-probability near -1e4, not -inf: a
    logsumexp over nothing but -inf has a NaN gradient, which would poison the weights even where unused.
    """
    log_p = torch.log_softmax(logits.float(), dim=-1)  # [N, K]
    absent = torch.where(membership > 0, 0.0, -1e4)  # [K, 4]
    return torch.logsumexp(log_p[:, :, None] + absent[None], dim=1)


def partial_label_loss(
    logits: torch.Tensor, y: torch.Tensor, fault_type: torch.Tensor, membership: torch.Tensor,
    label_smoothing: float = 0.0,
) -> torch.Tensor:
    """Cross-entropy on the class where it is known (``y >= 0``), on the fault type elsewhere."""
    known = y >= 0
    per_window = -type_log_probs(logits, membership).gather(1, fault_type[:, None])[:, 0]
    if known.any():
        class_loss = F.cross_entropy(logits.float()[known], y[known], label_smoothing=label_smoothing,
                                     reduction="none")
        per_window = per_window.masked_scatter(known, class_loss)
    return per_window.mean()


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
        x, factor = perturb_speed(data.x[index], augment.speed, generator)  # factor 1 when speed is 0
        x = random_path(x, augment.path_db, generator)
        context = jitter_context(data.context[index] * factor[:, None], augment.context_jitter, generator)
        x = standardize(add_noise(x, augment, generator))  # [B, C, W], same on every rank
        mine = slice(rank * local, (rank + 1) * local)
        x, context, y, types = x[mine], context[mine], data.y[index][mine], data.fault_type[index][mine]
        with precision.autocast(device):
            logits = model(x, context)  # [b, K]
        loss = partial_label_loss(logits, y, types, data.membership, label_smoothing)
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        if grad_clip is not None:
            scaler.unscale_(optimizer)
            torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
        scaler.step(optimizer)
        scaler.update()
        scheduler.step()
        with torch.no_grad():
            correct = (type_log_probs(logits, data.membership).argmax(1) == types).sum().double()
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
    context: torch.Tensor,
    *,
    batch_size: int,
    precision: Precision,
    snr_db: float | None = None,
    seed: int = 0,
) -> torch.Tensor:
    """Logits ``[N, K]`` (float32, on x's device) for raw windows ``x`` with their ``context [N, 5]``,
    optionally with AWGN at ``snr_db``.

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
            outputs.append(model(standardize(batch), context[begin : begin + batch_size]).float())
    return torch.cat(outputs) if outputs else torch.empty(0, device=x.device)


@dataclass
class EvalStats:
    """Loss, class accuracy (None when no window has a known class), fault-type accuracy and macro-F1."""

    loss: float
    accuracy: float | None
    type_accuracy: float
    type_macro_f1: float


def evaluate_split(
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
                     macro_f1(data.fault_type, types))


def macro_f1(truth: torch.Tensor, predicted: torch.Tensor) -> float:
    """Mean F1 over the fault types present in ``truth``."""
    scores = []
    for t in truth.unique():
        tp = ((predicted == t) & (truth == t)).sum().item()
        denominator = (predicted == t).sum().item() + (truth == t).sum().item()
        scores.append(2 * tp / denominator if denominator else 0.0)
    return float(np.mean(scores)) if scores else 0.0
