"""CPU forward throughput of every activation on the same network, side by side; written to results/.

Measures the shipped design by default: preset ``physics`` with the ``hybrid`` front end (raw-waveform trunk
beside the defect-spectrum trunk), fed the machine context of an SKF 6205 at 1797 rpm sampled at 12 kHz.
Prints and writes (``results/bench_activations.json``, via :func:`faultdx.results.write_result`) windows/s
(batch 256, window 2048 by default) for every activation, each activation's time per batch over ReLU's, and,
for activations with per-sample parameters, ``forward_with_slopes`` time over ``forward`` time.

Timed with ``torch.utils.benchmark``. Built for a shared machine: throughput is the fastest of the rounds
(least disturbed by other processes), and each ratio is the median over rounds of back-to-back pairs (ReLU
then the activation; forward then forward_with_slopes), so slow load swings cancel out of the ratios.

    python bench/bench_activations.py [--preset physics] [--frontend hybrid] [--batch 256] [--window 2048]
        [--rounds 15] [--threads N] [--activations relu,aprelu,...] [--results-name bench_activations]
"""

from __future__ import annotations

import argparse
import statistics
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.utils.benchmark as benchmark

from faultdx.data.bearing import SKF_6205, context_vector
from faultdx.nn import ResNet1d, activation_names, preset_config
from faultdx.nn.activations import has_params
from faultdx.results import write_result

FRONTENDS = ("hybrid", "defect_spectrum", "raw")
RPM, RATE, BEARING = 1797.0, 12000.0, "SKF 6205"
TARGETS = {"aprelu_vs_relu": 1.5, "slopes_on_off": 1.3}


@dataclass
class Timings:
    """What the rounds measured for one activation."""

    fastest: float = float("inf")  # seconds per batch, best round
    vs_relu: list[float] = field(default_factory=list)  # per round: time / ReLU's time just before
    slopes_on_off: list[float] = field(default_factory=list)  # per round: with slopes / without, back to back


def _seconds(fn: Callable[[], object], calls: int = 2) -> float:
    """Seconds per call of ``fn``, timed by ``torch.utils.benchmark`` (its timer and thread setting) over a
    short block; the rounds in :func:`measure` interleave these blocks so that machine load hits all alike."""
    timer = benchmark.Timer(stmt="fn()", globals={"fn": fn}, num_threads=torch.get_num_threads())
    return timer.timeit(calls).mean


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="physics")
    parser.add_argument("--frontend", choices=FRONTENDS, default="hybrid",
                        help="front-end override (default: hybrid, the shipped design)")
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--window", type=int, default=2048)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--activations", default=",".join(activation_names()),
                        help="comma-separated; relu and aprelu are always measured")
    parser.add_argument("--results-name", default="bench_activations", help="writes results/<name>.json")
    return parser.parse_args(argv)


def chosen_activations(text: str) -> list[str]:
    """relu first, aprelu always, then the others asked for, in the registry's order."""
    asked = {a.strip() for a in text.split(",") if a.strip()} | {"relu", "aprelu"}
    unknown = sorted(asked - set(activation_names()))
    if unknown:
        raise SystemExit(f"unknown activation(s) {unknown}; known: {', '.join(activation_names())}")
    return [n for n in activation_names() if n in asked]


def build_models(preset: str, frontend: str, names: list[str]) -> dict[str, ResNet1d]:
    """One network per activation, same preset and front end, in eval mode."""
    return {n: ResNet1d(preset_config(preset, frontend=frontend, activation=n)).eval() for n in names}


def inputs(batch: int, window: int, needs_context: bool) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Random windows ``[batch, 1, window]`` and the context ``[batch, 5]`` (None for a raw network)."""
    x = torch.randn(batch, 1, window)
    if not needs_context:
        return x, None
    ctx = torch.from_numpy(context_vector(SKF_6205, RPM, RATE))
    return x, ctx.expand(batch, -1).contiguous()


def measure(models: dict[str, ResNet1d], x: torch.Tensor, ctx: torch.Tensor | None,
            rounds: int) -> dict[str, Timings]:
    """Interleaved rounds: in each, every activation right after a ReLU pass, then its slopes pass."""
    with_params = {n for n, m in models.items() if any(has_params(a) for a in m.modules())}
    timings = {n: Timings() for n in models}
    relu = models["relu"]
    with torch.inference_mode():
        for model in models.values():  # warm-up
            model(x, ctx)
            model.forward_with_slopes(x, ctx)
        for _ in range(rounds):
            for name, model in models.items():
                t_relu = _seconds(lambda: relu(x, ctx))
                t = _seconds(lambda m=model: m(x, ctx))
                timings[name].vs_relu.append(t / t_relu)
                timings[name].fastest = min(t, timings[name].fastest)
                if name in with_params:
                    t_slopes = _seconds(lambda m=model: m.forward_with_slopes(x, ctx))
                    timings[name].slopes_on_off.append(t_slopes / t)
    return timings


def summary(args: argparse.Namespace, timings: dict[str, Timings], ctx: torch.Tensor | None) -> dict:
    """The JSON data of ``results/bench_activations.json``."""
    rows = {}
    for name, t in timings.items():
        rows[name] = {
            "ms_per_batch": round(1e3 * t.fastest, 3),
            "windows_per_s": round(args.batch / t.fastest, 1),
            "vs_relu": round(statistics.median(t.vs_relu), 3),
            "slopes_on_off": round(statistics.median(t.slopes_on_off), 3) if t.slopes_on_off else None,
        }
    return {
        "preset": args.preset,
        "frontend": args.frontend,
        "batch": args.batch,
        "window": args.window,
        "threads": torch.get_num_threads(),
        "rounds": args.rounds,
        "context": None if ctx is None else {
            "bearing": BEARING, "rpm": RPM, "sampling_rate": RATE,
            "vector": [round(float(v), 6) for v in ctx[0]],
        },
        "mode": "eval, inference_mode, float32, CPU",
        "activations": rows,
        "aprelu_vs_relu": rows["aprelu"]["vs_relu"],
        "aprelu_slopes_on_off": rows["aprelu"]["slopes_on_off"],
        "targets": TARGETS,
    }


def report(data: dict) -> None:
    """The table on stdout."""
    print(f"preset={data['preset']} frontend={data['frontend']} batch={data['batch']} "
          f"window={data['window']} threads={data['threads']} rounds={data['rounds']} "
          f"torch={torch.__version__} ({data['mode']})")
    print(f"{'activation':<11} {'ms/batch':>9} {'windows/s':>10} {'x relu':>7} {'slopes on/off':>14}")
    for name, r in data["activations"].items():
        line = f"{name:<11} {r['ms_per_batch']:9.1f} {r['windows_per_s']:10.0f} {r['vs_relu']:7.2f}"
        if r["slopes_on_off"] is not None:
            line += f" {r['slopes_on_off']:14.2f}"
        print(line)
    print(f"APReLU / ReLU time per batch: {data['aprelu_vs_relu']:.2f}x "
          f"(target <= {TARGETS['aprelu_vs_relu']}x)")
    print(f"APReLU slopes-on / slopes-off: {data['aprelu_slopes_on_off']:.2f}x "
          f"(target <= {TARGETS['slopes_on_off']}x)")


def main(argv: list[str] | None = None) -> None:
    """Measure, print, write ``results/<results-name>.json``."""
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    models = build_models(args.preset, args.frontend, chosen_activations(args.activations))
    x, ctx = inputs(args.batch, args.window, models["relu"].config.needs_context)
    data = summary(args, measure(models, x, ctx, args.rounds), ctx)
    report(data)
    print(f"wrote {write_result(args.results_name, data)}")


if __name__ == "__main__":
    main()
