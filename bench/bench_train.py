"""Training figures side by side: throughput per activation, and the issue's targets against measured runs.

    python bench/bench_train.py                      # throughput + targets (reads runs/compare, runs/ship-v1)
    python bench/bench_train.py --device cuda        # throughput on a GPU (AMP as `faultdx train` picks it)
    python bench/bench_train.py --skip-throughput --compare runs/compare --ship runs/ship-v1

Throughput = training windows per second of one optimiser step (forward, backward, AdamW) on a batch of
2048-sample windows, after warm-up; it includes noise augmentation and standardisation as in training.
Targets are read from finished runs (`faultdx compare`, and the shipped model's run folder), never re-trained.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch

from faultdx.train.config import load_config
from faultdx.train.device import resolve_device, resolve_precision
from faultdx.train.distributed import DistInfo
from faultdx.train.loop import DeviceSplit, train_one_epoch
from faultdx.train.optim import build_model, build_optimizer, build_scheduler

ACTIVATIONS = ("relu", "prelu", "dyrelu_b", "shrinkage", "aprelu")


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
    for activation in ACTIVATIONS:
        config = load_config(None, [f"model.activation={activation}", f"model.preset={preset}"])
        torch.manual_seed(0)
        model = build_model(config, 10).to(device)
        optimizer = build_optimizer(model, config)
        scheduler = build_scheduler(optimizer, config, 10 * steps)
        data = DeviceSplit(
            torch.randn(batch * steps, 1, 2048, device=device), torch.randint(0, 10, (batch * steps,))
        )
        data.y = data.y.to(device)
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
        train_one_epoch(model, DeviceSplit(data.x[: 2 * batch], data.y[: 2 * batch]), epoch=0, **kwargs)
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        train_one_epoch(model, data, epoch=1, **kwargs)
        if device.type == "cuda":
            torch.cuda.synchronize()
        print(f"{activation:<12} {batch * steps / (time.perf_counter() - start):>10.0f}")


def _load(path: Path) -> dict | None:
    return json.loads(path.read_text()) if path.is_file() else None


def targets(compare: Path, ship: Path, activation: str) -> None:
    rows = []
    time_runs = sorted((compare / "time").glob(f"{activation}-s*/test.json"))
    clean = {sel: [_load(p)[sel]["accuracy"] for p in time_runs] for sel in ("best", "last")}
    noisy = {sel: [_load(p)[sel].get("accuracy_snr_-4dB") for p in time_runs] for sel in ("best", "last")}
    cross: dict[str, dict[int, list[float]]] = {"best": {}, "last": {}}
    for path in sorted((compare / "cross").glob(f"{activation}-s*-test*/test.json")):
        seed = int(path.parent.name.split("-s")[1].split("-")[0])
        for sel in ("best", "last"):
            cross[sel].setdefault(seed, []).append(_load(path)[sel]["accuracy"])
    cross_means = {
        sel: [statistics.fmean(v) for v in by.values() if len(v) == 4] for sel, by in cross.items()
    }
    rows.append(("clean test accuracy (time split)", ">= 99.5 %", clean, 99.5))
    rows.append(("accuracy at SNR -4 dB (time split)", ">= 90 %", noisy, 90.0))
    rows.append(("by-condition, 9 classes, 3 loads -> 4th", ">= 97 %", cross_means, 97.0))
    print(f"\ntargets for {activation} ({compare}): mean ± std over seeds, n = seeds")
    print(f"{'target':<42} {'goal':<10} {'best-on-val':<22} {'last epoch':<22} met")
    for label, goal, values, threshold in rows:
        cells, met = [], True
        for sel in ("best", "last"):
            vals = [100 * v for v in values[sel] if v is not None]
            if not vals:
                cells.append("not run")
                met = False
                continue
            std = statistics.stdev(vals) if len(vals) > 1 else 0.0
            cells.append(f"{statistics.fmean(vals):.2f} ± {std:.2f} (n={len(vals)})")
            met &= statistics.fmean(vals) >= threshold and len(vals) >= 3
        print(f"{label:<42} {goal:<10} {cells[0]:<22} {cells[1]:<22} {'yes' if met else 'NO'}")
    records = (
        [json.loads(line) for line in (ship / "metrics.jsonl").read_text().splitlines()]
        if (ship / "metrics.jsonl").is_file()
        else []
    )
    if records:
        minutes = records[-1]["elapsed_s"] / 60
        test = _load(ship / "test.json") or {}
        acc = 100 * test.get("best", {}).get("accuracy", float("nan"))
        measured = f"{minutes:.1f} min, {len(records)} epochs, test {acc:.2f} %"
        verdict = "yes" if minutes <= 10 else "NO"
        print(f"{'CPU training of the shipped preset':<42} {'<= 10 min':<10} {measured:<45} {verdict}")
    else:
        print(f"CPU training of the shipped preset: no run folder at {ship}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--preset", default="small")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--compare", type=Path, default=Path("runs/compare"))
    parser.add_argument("--ship", type=Path, default=Path("runs/ship-v1"))
    parser.add_argument("--activation", default="aprelu")
    parser.add_argument("--skip-throughput", action="store_true")
    args = parser.parse_args()
    if not args.skip_throughput:
        throughput(args.device, args.preset, args.batch, args.steps, args.threads)
    targets(args.compare, args.ship, args.activation)


if __name__ == "__main__":
    main()
