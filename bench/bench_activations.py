"""CPU forward throughput of every activation on the same ResNet1d backbone, side by side.

Prints windows/s (batch 256, window 2048 by default), each activation's time per batch over ReLU's, and for
the activations with per-sample parameters, ``forward_with_slopes`` time over ``forward`` time.
Configurations are timed in interleaved rounds, so load from other processes on a shared machine hits them
all alike; each figure is the fastest round (least disturbed). Beside wall-clock time it reports process
CPU time per batch, which a busy machine disturbs less (``--threads 1`` gives the cleanest CPU-time ratios).

    python bench/bench_activations.py [--preset small] [--batch 256] [--rounds 10] [--threads 2]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import torch

from faultdx.nn import ResNet1d, activation_names, preset_config
from faultdx.nn.activations import has_params


def _time_once(fn: Callable[[], object]) -> tuple[float, float]:
    """(wall seconds, process CPU seconds) of one call."""
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


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

    samples: dict[str, list[tuple[float, float]]] = {k: [] for k in cases}
    with torch.inference_mode():
        for fn in cases.values():  # warm-up
            fn()
        for _ in range(args.rounds):
            for key, fn in cases.items():
                samples[key].append(_time_once(fn))
    wall = {k: min(s[0] for s in v) for k, v in samples.items()}
    cpu = {k: min(s[1] for s in v) for k, v in samples.items()}

    print(
        f"preset={args.preset} batch={args.batch} window={args.window} threads={torch.get_num_threads()} "
        f"rounds={args.rounds} torch={torch.__version__} (fastest round; eval, inference_mode)"
    )
    header = ("activation", "wall ms", "windows/s", "x relu", "cpu ms", "cpu x relu", "slopes on/off")
    header += ("cpu on/off",)
    print(f"{header[0]:<11}" + "".join(f" {h:>13}" for h in header[1:]))
    for name in activation_names():
        cells = [1e3 * wall[name], args.batch / wall[name], wall[name] / wall["relu"]]
        cells += [1e3 * cpu[name], cpu[name] / cpu["relu"]]
        line = f"{name:<11} {cells[0]:13.1f} {cells[1]:13.0f}" + "".join(f" {c:13.2f}" for c in cells[2:])
        if f"{name}+slopes" in wall:
            line += f" {wall[f'{name}+slopes'] / wall[name]:13.2f} {cpu[f'{name}+slopes'] / cpu[name]:13.2f}"
        print(line)
    print(
        f"APReLU / ReLU time per batch: wall {wall['aprelu'] / wall['relu']:.2f}x, "
        f"cpu {cpu['aprelu'] / cpu['relu']:.2f}x (target <= 1.5x)"
    )
    print(
        f"APReLU slopes-on / slopes-off: wall {wall['aprelu+slopes'] / wall['aprelu']:.2f}x, "
        f"cpu {cpu['aprelu+slopes'] / cpu['aprelu']:.2f}x (target <= 1.3x)"
    )


if __name__ == "__main__":
    main()
