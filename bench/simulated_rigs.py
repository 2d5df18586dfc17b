"""Fault type on simulated machines no model trained on: other bearings, 600-1400 rpm, 20 and 51.2 kHz.

Each machine comes from the domain-randomised simulator with seeds outside every training set, one
recording of 2 s per fault type, sent through the `Diagnoser` (the service's path) with its rpm and its
bearing as a geometry object, at its own sampling rate. Scored per window for the shipped model and the
envelope reference, at a clear fault (severity 0.8: +9 dB over the background) and at a random one
(−15 to +15 dB).

    python bench/simulated_rigs.py [--machines 40] [--models hybrid-aprelu,envelope]
"""

from __future__ import annotations

import argparse
import dataclasses

import numpy as np

from faultdx.data.base import FAULT_TYPES
from faultdx.data.synthetic import random_machine, simulate_machine
from faultdx.diagnose import Diagnoser
from faultdx.paths import DEFAULT_MODEL
from faultdx.results import write_result

SEED = 777  # the training sets use seeds 0-9
RATES = (20000.0, 51200.0)
SEVERITIES = {"clear (+9 dB)": 0.8, "random (-15 to +15 dB)": None}


def machines(count: int) -> list[tuple[float, object, dict]]:
    """(sampling rate, machine at 600-1400 rpm, its bearing as an API geometry object) for each machine."""
    out = []
    for i in range(count):
        rate = RATES[i % len(RATES)]
        machine = random_machine(np.random.default_rng([SEED, i, 0]), rate)
        rpm = float(np.random.default_rng([SEED, i, 9]).uniform(600, 1400))
        machine = dataclasses.replace(machine, rpm=rpm)
        g = machine.geometry
        bearing = {"balls": g.n_balls, "ball_diameter_mm": g.ball_diameter,
                   "pitch_diameter_mm": g.pitch_diameter, "contact_angle_deg": g.contact_angle_deg}
        out.append((rate, machine, bearing))
    return out


def score(diagnoser: Diagnoser, rigs: list, severity: float | None) -> dict[str, float]:
    """Share of windows whose fault type is right, per fault type and overall (mean of the four)."""
    right: dict[str, list[float]] = {t: [] for t in FAULT_TYPES}
    for i, (rate, machine, bearing) in enumerate(rigs):
        for k, fault in enumerate(FAULT_TYPES):
            rng = np.random.default_rng([SEED, i, k + 1])
            signal = simulate_machine(fault, machine, duration_s=2.0, sampling_rate=rate, rng=rng,
                                      severity=severity)
            [result] = diagnoser.diagnose(signal, rate, rpm=machine.rpm, bearing=bearing)
            right[fault].append(float(np.mean(np.array(result.window_fault_types) == fault)))
    figures = {t: float(np.mean(v)) for t, v in right.items()}
    return {**figures, "mean": float(np.mean(list(figures.values())))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--machines", type=int, default=40)
    parser.add_argument("--models", default=f"{DEFAULT_MODEL},envelope")
    args = parser.parse_args()
    rigs = machines(args.machines)
    table: dict[str, dict[str, dict[str, float]]] = {}
    for name in args.models.split(","):
        diagnoser = Diagnoser.from_dir(name)
        table[name] = {label: score(diagnoser, rigs, severity) for label, severity in SEVERITIES.items()}
        for label, figures in table[name].items():
            print(f"{name:16s} {label:24s} " + " ".join(f"{k} {100 * v:.1f}" for k, v in figures.items()))
    write_result("simulated_rigs", {"machines": args.machines, "rates_hz": list(RATES), "rpm": [600, 1400],
                                    "seed": SEED, "window_accuracy": table})


if __name__ == "__main__":
    main()
