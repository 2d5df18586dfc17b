"""CPU forward throughput of every activation on the same ResNet1d backbone, side by side.

Prints windows/s (batch 256, window 2048 by default) for every activation, each activation's time per batch
over ReLU's, and, for activations with per-sample parameters, ``forward_with_slopes`` time over ``forward``
time. Built for a shared machine: throughput is the fastest of the rounds (least disturbed by other
processes), and each ratio is the median over rounds of back-to-back pairs (ReLU then the activation;
forward then forward_with_slopes), so slow swings in machine load cancel out of the ratios.

    python bench/bench_activations.py [--preset small] [--batch 256] [--window 2048] [--rounds 15]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch

from faultdx.nn import ResNet1d, activation_names, preset_config
from faultdx.nn.activations import has_params


def _seconds(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="small")
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--window", type=int, default=2048)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    x = torch.randn(args.batch, 1, args.window)

    models = {n: ResNet1d(preset_config(args.preset, activation=n)).eval() for n in activation_names()}
    with_params = [n for n, m in models.items() if any(has_params(a) for a in m.modules())]
    fastest: dict[str, float] = {}
    vs_relu: dict[str, list[float]] = {n: [] for n in models}
    slopes_on_off: dict[str, list[float]] = {n: [] for n in with_params}
    with torch.inference_mode():
        for model in models.values():  # warm-up
            model(x)
            model.forward_with_slopes(x)
        for _ in range(args.rounds):
            for name, model in models.items():
                t_relu = _seconds(lambda: models["relu"](x))
                t = _seconds(lambda m=model: m(x))
                vs_relu[name].append(t / t_relu)
                fastest[name] = min(t, fastest.get(name, t))
                if name in slopes_on_off:
                    slopes_on_off[name].append(_seconds(lambda m=model: m.forward_with_slopes(x)) / t)

    print(
        f"preset={args.preset} batch={args.batch} window={args.window} threads={torch.get_num_threads()} "
        f"rounds={args.rounds} torch={torch.__version__} (eval, inference_mode)"
    )
    print(f"{'activation':<11} {'ms/batch':>9} {'windows/s':>10} {'x relu':>7} {'slopes on/off':>14}")
    for name in models:
        t = fastest[name]
        line = f"{name:<11} {1e3 * t:9.1f} {args.batch / t:10.0f} {statistics.median(vs_relu[name]):7.2f}"
        if name in slopes_on_off:
            line += f" {statistics.median(slopes_on_off[name]):14.2f}"
        print(line)
    print(f"APReLU / ReLU time per batch: {statistics.median(vs_relu['aprelu']):.2f}x (target <= 1.5x)")
    slopes_ratio = statistics.median(slopes_on_off["aprelu"])
    print(f"APReLU slopes-on / slopes-off: {slopes_ratio:.2f}x (target <= 1.3x)")


if __name__ == "__main__":
    main()
