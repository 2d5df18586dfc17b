"""Device and precision choice, and the mixed-precision code path exercised on CPU (bf16 autocast)."""

from __future__ import annotations

import pytest
import torch

from faultdx.data.base import CWRU_10_CLASSES, type_membership
from faultdx.train.augment import add_noise
from faultdx.train.config import load_config
from faultdx.train.device import resolve_device, resolve_precision
from faultdx.train.distributed import DistInfo
from faultdx.train.loop import DeviceSplit, evaluate, train_one_epoch
from faultdx.train.optim import build_model, build_optimizer, build_scheduler


def test_auto_device_and_precision_on_this_machine():
    device = resolve_device("auto")
    assert device.type == ("cuda" if torch.cuda.is_available() else "cpu")
    if device.type == "cpu":
        assert resolve_precision("auto", device).name == "fp32"


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the errors raised on a machine without CUDA")
def test_unavailable_cuda_and_fp16_on_cpu_are_clear_errors():
    with pytest.raises(ValueError, match="CUDA is not available"):
        resolve_device("cuda")
    with pytest.raises(ValueError, match="fp16 needs a CUDA device"):
        resolve_precision("fp16", torch.device("cpu"))


def test_bf16_autocast_step_trains_and_noise_is_reproducible():
    config = load_config(None, ["model.overrides={widths: [8, 8, 8], depths: [1, 1, 1], stem_channels: 8}"])
    device = torch.device("cpu")
    precision = resolve_precision("bf16", device)
    assert precision.name == "bf16" and not precision.use_scaler
    torch.manual_seed(0)
    x = torch.randn(64, 1, 2048)
    y = torch.randint(0, 10, (64,))
    x[y == 3] += torch.sin(torch.arange(2048) * 0.3)  # one learnable class
    context = torch.tensor([[0.0025, 0.0089, 0.0135, 0.0059, 0.001]]).expand(64, 5)
    data = DeviceSplit(x, y, fault_type=y.clamp(max=3), context=context,
                       membership=torch.from_numpy(type_membership(CWRU_10_CLASSES)))
    model = build_model(config, 10)
    optimizer = build_optimizer(model, config)
    scheduler = build_scheduler(optimizer, config, 8)
    before = [p.detach().clone() for p in model.parameters()]
    stats = train_one_epoch(
        model,
        data,
        optimizer=optimizer,
        scheduler=scheduler,
        scaler=precision.scaler(device),
        precision=precision,
        augment=config.augment,
        batch_size=16,
        seed=0,
        epoch=0,
        grad_clip=1.0,
        label_smoothing=0.0,
        dist_info=DistInfo(),
    )
    assert stats.windows == 64 and torch.isfinite(torch.tensor(stats.loss))
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))
    clean = evaluate(model, data, batch_size=32, precision=precision)
    noisy = evaluate(model, data, batch_size=32, precision=precision, snr_db=-4, seed=1)
    again = evaluate(model, data, batch_size=32, precision=precision, snr_db=-4, seed=1)
    assert noisy.loss == again.loss and noisy.loss != clean.loss
    generator = torch.Generator().manual_seed(0)
    noised = add_noise(x, config.augment, generator)
    changed = (noised != x).any(dim=(1, 2)).float().mean().item()
    assert 0.25 < changed < 0.75  # augment.prob = 0.5 of the windows get noise


@pytest.mark.parametrize("schedule", ["onecycle", "cosine", "constant"])
@pytest.mark.parametrize("total_steps", [1, 2, 5, 7, 100])
def test_schedules_run_any_number_of_steps(schedule, total_steps):
    config = load_config(None, [f"optim.schedule={schedule}", "optim.lr=0.01"])
    optimizer = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))], lr=config.optim.lr)
    scheduler = build_scheduler(optimizer, config, total_steps)
    rates = []
    for _ in range(total_steps):
        optimizer.step()
        scheduler.step()
        rates.append(scheduler.get_last_lr()[0])
    assert all(0 <= r <= 0.01 + 1e-12 for r in rates)
    if schedule != "constant" and total_steps >= 5:
        assert max(rates) > rates[-1]  # warms up, then decays
