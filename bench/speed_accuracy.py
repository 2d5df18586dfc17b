"""Accuracy of ``faultdx.context.speed.estimate_rpm`` against known shaft speeds → ``results/speed_estimation.json``.

Cases: every CWRU 12 kHz drive-end file present (truth: the ``RPM`` variable in the file; DE channel), the
48 kHz normal baseline 97.mat, every MFPT file (truth: 25 Hz shaft = 1500 rpm) and simulated signals
(600-3600 rpm, normal / inner race / outer race / ball). Each is estimated on the whole recording, on 1 s
excerpts and on 0.17 s excerpts (2048 samples at 12 kHz), since the service often gets short signals.

    FAULTDX_DATA=/path/to/data python bench/speed_accuracy.py [--excerpts 5]
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator

import numpy as np

from faultdx.data.catalogue import cwru_files, mfpt_files
from faultdx.data.cwru import read_cwru_file
from faultdx.data.mfpt import read_mfpt_file
from faultdx.data.synthetic import simulate
from faultdx.paths import data_dir
from faultdx.results import write_result
from faultdx.context.speed import estimate_rpm

SIM_RPMS = (600.0, 1200.0, 1797.0, 2400.0, 3600.0)
SIM_LABELS = ("normal", "inner_race", "outer_race", "ball")
# excerpt length in seconds; 0.17 s = 2048 samples at 12 kHz
LENGTHS = {"whole": None, "1s": 1.0, "0.17s": 2048 / 12000}


def recordings() -> Iterator[tuple[str, str, np.ndarray, float, float]]:
    """(group, name, signal, sampling rate, true rpm) of every case present."""
    root = data_dir()
    for entry in cwru_files():
        path = root / entry.relpath
        if entry.set in ("12k_drive_end", "normal_baseline") and path.is_file():
            group = "cwru_12k_de" if entry.set == "12k_drive_end" else "cwru_normal_48k"
            signal = read_cwru_file(path, entry, ("DE",))[0]
            yield group, entry.filename, signal, entry.sampling_rate, entry.rpm
    for entry in mfpt_files():
        path = root / entry.relpath
        if path.is_file():
            signal, rate, shaft_hz, _ = read_mfpt_file(path)
            yield "mfpt", entry.file, signal[0], rate, shaft_hz * 60.0
    for seed, (rpm, label) in enumerate((r, lab) for r in SIM_RPMS for lab in SIM_LABELS):
        signal = simulate(label, duration_s=10.0, rpm=rpm, seed=seed)
        yield "simulated", f"{label}@{rpm:g}", signal, 12000.0, rpm


def excerpts(signal: np.ndarray, rate: float, length: str, count: int) -> list[np.ndarray]:
    """The whole signal, or ``count`` evenly spaced excerpts of the given length."""
    size = LENGTHS[length]
    if size is None:
        return [signal]
    n = int(round(size * rate))
    return [signal[s:s + n] for s in np.linspace(0, signal.size - n, count).astype(int)]


def summary(errors: list[tuple[str, float, float]]) -> dict:
    """Count, median |% error|, share within ±2 % and ±5 %, worst case of ``(name, truth, estimate)``."""
    pct = np.array([100.0 * (est - truth) / truth for _, truth, est in errors])
    worst = int(np.argmax(np.abs(pct)))
    name, truth, est = errors[worst]
    return {
        "count": len(errors),
        "median_abs_pct_error": round(float(np.median(np.abs(pct))), 3),
        "within_2pct": round(float(np.mean(np.abs(pct) <= 2.0)), 3),
        "within_5pct": round(float(np.mean(np.abs(pct) <= 5.0)), 3),
        "worst": {"case": name, "true_rpm": truth, "estimated_rpm": round(est, 1),
                  "pct_error": round(float(pct[worst]), 2)},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--excerpts", type=int, default=5, help="excerpts per recording, short lengths")
    args = parser.parse_args()
    errors: dict[tuple[str, str], list[tuple[str, float, float]]] = {}
    for group, name, signal, rate, truth in recordings():
        for length in LENGTHS:
            pieces = excerpts(np.asarray(signal, dtype=np.float64), rate, length, args.excerpts)
            for i, piece in enumerate(pieces):
                estimate = estimate_rpm(piece, rate)
                errors.setdefault((group, length), []).append((f"{name}#{i}", truth, estimate))
    table = {f"{group}/{length}": summary(errs) for (group, length), errs in errors.items()}
    print(f"{'group/length':28s} {'n':>4s} {'med|%|':>7s} {'≤2%':>6s} {'≤5%':>6s}  worst")
    for key, row in table.items():
        w = row["worst"]
        print(f"{key:28s} {row['count']:4d} {row['median_abs_pct_error']:7.2f} {row['within_2pct']:6.2f} "
              f"{row['within_5pct']:6.2f}  {w['case']} {w['true_rpm']:g}→{w['estimated_rpm']:g} "
              f"({w['pct_error']:+.1f}%)")
    data = {
        "method": "harmonic sum (1/k weights, 10 harmonics) on the whitened log spectrum, half-way penalty, "
                  "peak refinement",
        "excerpts_per_recording": args.excerpts,
        "lengths": {"whole": "whole recording", "1s": "1 s excerpts",
                    "0.17s": "2048/12000 s excerpts (2048 samples at 12 kHz)"},
        "groups": table,
    }
    print(write_result("speed_estimation", data))


if __name__ == "__main__":
    main()
