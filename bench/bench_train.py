"""Training throughput per activation, side by side in one run; written to results/bench_train_<device>.json.

    python bench/bench_train.py                      # CPU
    python bench/bench_train.py --device cuda        # a GPU (AMP as `faultdx train` picks it)

Throughput = training windows per second of one optimiser step (forward, backward, AdamW) on a batch of
2048-sample windows, after warm-up; it includes noise augmentation and standardisation as in training.
Accuracy targets come from `faultdx compare --protocols` (results/protocols.json), never from this script.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

from faultdx.data.base import CWRU_10_CLASSES, WindowSet, type_membership
from faultdx.data.bearing import SKF_6205, context_vector
from faultdx.train.config import load_config
from faultdx.train.device import resolve_device, resolve_precision
from faultdx.train.distributed import DistInfo
from faultdx.train.loop import DeviceSplit, train_one_epoch
from faultdx.train.optim import build_model, build_optimizer, build_scheduler

ACTIVATIONS = ("relu", "prelu", "dyrelu_b", "shrinkage", "aprelu")


RECIPE = Path(__file__).resolve().parent.parent / "models" / "hybrid-aprelu.train.yaml"  # the shipped design


def random_split(n: int, device: torch.device) -> DeviceSplit:
    """``n`` random 2048-sample windows of the 10 CWRU classes; context: SKF 6205, 1797 rpm, 12 kHz."""
    classes = CWRU_10_CLASSES
    y = np.random.default_rng(0).integers(0, len(classes), n)
    context = np.repeat(context_vector(SKF_6205, 1797.0, 12000.0)[None], n, axis=0)
    x = np.random.default_rng(1).standard_normal((n, 1, 2048), dtype=np.float32)
    windows = WindowSet(x=x, y=y, recording=np.zeros(n, int), start=np.zeros(n, int), classes=classes,
                        keys=("random",), sampling_rate=12000.0,
                        fault_type=type_membership(classes)[y].argmax(1), context=context)
    return DeviceSplit.from_windows(windows, device)


def throughput(device_spec: str, preset: str, batch: int, steps: int, threads: int | None) -> None:
    device = resolve_device(device_spec)
    precision = resolve_precision("auto", device)
    if threads:
        torch.set_num_threads(threads)
    if device.type == "cpu":
        torch.set_flush_denormal(True)
    name = (
        torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} thr"
    )
    print(f"training throughput, preset {preset}, batch {batch}, {precision.name}, {name}")
    print(f"{'activation':<12} {'windows/s':>10}")
    rows = {}
    for activation in ACTIVATIONS:
        config = load_config(RECIPE, [f"model.activation={activation}", f"model.preset={preset}"])
        torch.manual_seed(0)
        model = build_model(config, 10).to(device)
        optimizer = build_optimizer(model, config)
        scheduler = build_scheduler(optimizer, config, 10 * steps)
        data = random_split(batch * steps, device)
        kwargs = dict(
            optimizer=optimizer,
            scheduler=scheduler,
            scaler=precision.scaler(device),
            precision=precision,
            augment=config.augment,
            batch_size=batch,
            seed=0,
            grad_clip=1.0,
            label_smoothing=0.0,
            dist_info=DistInfo(),
        )
        train_one_epoch(model, random_split(2 * batch, device), epoch=0, **kwargs)
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        train_one_epoch(model, data, epoch=1, **kwargs)
        if device.type == "cuda":
            torch.cuda.synchronize()
        rows[activation] = batch * steps / (time.perf_counter() - start)
        print(f"{activation:<12} {rows[activation]:>10.0f}")
    from faultdx.results import write_result

    path = write_result(f"bench_train_{device.type}", {
        "preset": preset, "batch": batch, "steps": steps, "window": 2048, "precision": precision.name,
        "device": name, "windows_per_s": rows,
    }, command="bench_train.py " + " ".join(sys.argv[1:]))
    print(f"wrote {path}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--preset", default="physics", help="the shipped recipe's preset (hybrid front end)")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    throughput(args.device, args.preset, args.batch, args.steps, args.threads)


if __name__ == "__main__":
    main()
