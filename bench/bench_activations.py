"""CPU forward throughput of every activation on the same ResNet1d backbone, side by side.

Prints windows/s (batch 256, window 2048 by default), each activation's time per batch over ReLU's, and for
the activations with per-sample parameters, ``forward_with_slopes`` time over ``forward`` time.
Configurations are timed in interleaved rounds, so load from other processes on a shared machine hits them
all alike; ratios use the fastest round of each (least disturbed by other processes), the median is shown too.

    python bench/bench_activations.py [--preset small] [--batch 256] [--window 2048] [--rounds 10]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch

from faultdx.nn import ResNet1d, activation_names, preset_config
from faultdx.nn.activations import has_params


def _time_once(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="small")
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--window", type=int, default=2048)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    x = torch.randn(args.batch, 1, args.window)

    cases: dict[str, Callable[[], object]] = {}
    for name in activation_names():
        model = ResNet1d(preset_config(args.preset, activation=name)).eval()
        cases[name] = lambda m=model: m(x)
        if any(has_params(m) for m in model.modules()):
            cases[f"{name}+slopes"] = lambda m=model: m.forward_with_slopes(x)

    times: dict[str, list[float]] = {k: [] for k in cases}
    with torch.inference_mode():
        for fn in cases.values():  # warm-up
            fn()
        for _ in range(args.rounds):
            for key, fn in cases.items():
                times[key].append(_time_once(fn))
    best = {k: min(v) for k, v in times.items()}
    med = {k: statistics.median(v) for k, v in times.items()}

    print(
        f"preset={args.preset} batch={args.batch} window={args.window} threads={torch.get_num_threads()} "
        f"rounds={args.rounds} torch={torch.__version__} (fastest round; eval, inference_mode)"
    )
    header = ("activation", "ms/batch", "median ms", "windows/s", "x relu", "slopes-on ms", "on/off")
    print(f"{header[0]:<12}" + "".join(f" {h:>12}" for h in header[1:]))
    for name in activation_names():
        t = best[name]
        cells = (1e3 * t, 1e3 * med[name], args.batch / t, t / best["relu"])
        line = f"{name:<12} {cells[0]:12.1f} {cells[1]:12.1f} {cells[2]:12.0f} {cells[3]:12.2f}"
        if f"{name}+slopes" in best:
            t_on = best[f"{name}+slopes"]
            line += f" {1e3 * t_on:12.1f} {t_on / t:12.2f}"
        print(line)
    aprelu_ratio = best["aprelu"] / best["relu"]
    slopes_ratio = best["aprelu+slopes"] / best["aprelu"]
    print(f"APReLU / ReLU time per batch: {aprelu_ratio:.2f}x (target <= 1.5x)")
    print(f"APReLU slopes-on / slopes-off: {slopes_ratio:.2f}x (target <= 1.3x)")


if __name__ == "__main__":
    main()
