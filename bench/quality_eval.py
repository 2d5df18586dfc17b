"""The signal-quality gate on every real recording: faults injected → caught; unmodified → not flagged.

For each recording under FAULTDX_DATA (``bench/real_recordings.py``: CWRU 12 kHz drive end, 97.mat at 48 kHz,
MFPT, HIT-SM MFS and self-built) the whole recording and ``--excerpts`` 1 s excerpts are checked as they are,
and with each injected fault (``INJECTIONS``). Caught = the gate says not ok; the kind it named is counted
too. Writes ``results/quality.json``; ``faultdx results render`` puts its tables into docs/quality.md.

    FAULTDX_DATA=/path/to/data python bench/quality_eval.py [--excerpts 5]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.real_recordings import excerpts, real_recordings  # noqa: E402
from faultdx.diagnose.quality import check_signal  # noqa: E402
from faultdx.results import write_result  # noqa: E402

Injection = Callable[[np.ndarray, float, np.random.Generator], np.ndarray]


def _peak(x: np.ndarray) -> float:
    return float(np.max(np.abs(x - np.median(x))))


def _clip(level: float) -> Injection:
    def inject(x: np.ndarray, rate: float, rng: np.random.Generator) -> np.ndarray:
        centre = np.median(x)
        limit = level * _peak(x)
        return np.clip(x, centre - limit, centre + limit)
    return inject


def _dropout(share: float, middle: bool) -> Injection:
    def inject(x: np.ndarray, rate: float, rng: np.random.Generator) -> np.ndarray:
        n = int(share * x.size)
        start = (x.size - n) // 2 if middle else int(rng.integers(0, x.size - n))
        y = x.copy()
        y[start:start + n] = 0.0
        return y
    return inject


def _step(x: np.ndarray, rate: float, rng: np.random.Generator) -> np.ndarray:
    """A DC step of one RMS of the signal at a random point from 20 % to 80 % of it."""
    y = x.copy()
    at = int(rng.uniform(0.2, 0.8) * x.size)
    y[at:] += np.std(x) * rng.choice([-1.0, 1.0])
    return y


def _spikes(x: np.ndarray, rate: float, rng: np.random.Generator) -> np.ndarray:
    """Single-sample glitches at 5 times the signal's peak, 3 per second (at least one)."""
    y = x.copy()
    count = max(1, int(3 * x.size / rate))
    where = rng.choice(x.size, size=count, replace=False)
    y[where] = np.median(x) + 5.0 * _peak(x) * rng.choice([-1.0, 1.0], size=count)
    return y


def _white(x: np.ndarray, rate: float, rng: np.random.Generator) -> np.ndarray:
    """A dead or disconnected accelerometer: white noise of the signal's RMS."""
    return np.std(x) * rng.standard_normal(x.size)


def _pink(x: np.ndarray, rate: float, rng: np.random.Generator) -> np.ndarray:
    """Amplifier noise: 1/f (pink) noise of the signal's RMS."""
    spectrum = np.fft.rfft(rng.standard_normal(x.size))
    f = np.arange(spectrum.size, dtype=np.float64)
    spectrum /= np.sqrt(np.maximum(f, 1.0))
    y = np.fft.irfft(spectrum, x.size)
    return np.std(x) * y / np.std(y)


INJECTIONS: dict[str, tuple[str, Injection]] = {
    "flat line": ("flat_line", lambda x, rate, rng: np.full_like(x, np.mean(x))),
    "dropout, middle third": ("dropout", _dropout(1 / 3, True)),
    "dropout, 5 % at random": ("dropout", _dropout(0.05, False)),
    "clipping at 20 % of peak": ("clipping", _clip(0.2)),
    "clipping at 50 % of peak": ("clipping", _clip(0.5)),
    "DC step of 1 RMS": ("dc_step", _step),
    "spikes at 5x peak, 3/s": ("spikes", _spikes),
    "white noise (dead sensor)": ("no_machine", _white),
    "pink noise": ("no_machine", _pink),
    "too short (0.05 s)": ("too_short", lambda x, rate, rng: x[:int(0.05 * rate)]),
}
LENGTHS = {"whole": None, "1s": 1.0}


def _tally(table: dict, key: tuple[str, str], caught: bool, right: bool) -> None:
    row = table.setdefault(key, {"count": 0, "caught": 0, "right_kind": 0})
    row["count"] += 1
    row["caught"] += int(caught)
    row["right_kind"] += int(right)


def evaluate(count: int, seed: int) -> dict:
    """Run every recording, excerpt and injection; return the results' ``data``."""
    rng = np.random.default_rng(seed)
    clean: dict = {}
    injected: dict = {}
    missed: list[str] = []
    flagged: list[str] = []
    started = time.perf_counter()
    for recording in real_recordings():
        for length, seconds in LENGTHS.items():
            for i, piece in enumerate(excerpts(recording.signal, recording.sampling_rate, seconds, count)):
                case = f"{recording.name}/{length}#{i}"
                quality = check_signal(piece, recording.sampling_rate, rpm=recording.rpm)
                _tally(clean, (recording.dataset, length), not quality.ok, False)
                if not quality.ok:
                    flagged.append(f"{case}: {', '.join(quality.kinds)}")
                for name, (kind, inject) in INJECTIONS.items():
                    bad = inject(piece, recording.sampling_rate, rng)
                    quality = check_signal(bad, recording.sampling_rate, rpm=recording.rpm)
                    _tally(injected, (name, recording.dataset), not quality.ok, kind in quality.kinds)
                    if quality.ok:
                        missed.append(f"{name}: {case}")
    seconds = time.perf_counter() - started
    rate = {k: {**v, "share": round(v["caught"] / v["count"], 4)} for k, v in clean.items()}
    caught = {k: {**v, "share": round(v["caught"] / v["count"], 4),
                  "right_kind_share": round(v["right_kind"] / v["count"], 4)} for k, v in injected.items()}
    return {
        "lengths": {"whole": "whole recording", "1s": f"{count} evenly spaced 1 s excerpts per recording"},
        "injections": {name: kind for name, (kind, _) in INJECTIONS.items()},
        "clean_flagged": {f"{d}/{length}": v for (d, length), v in rate.items()},
        "injected_caught": {f"{name}|{d}": v for (name, d), v in caught.items()},
        "flagged_examples": flagged[:20],
        "missed_examples": missed[:20],
        "seconds": round(seconds, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--excerpts", type=int, default=5, help="1 s excerpts per recording")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args()
    data = evaluate(args.excerpts, args.seed)
    for key, row in data["clean_flagged"].items():
        print(f"clean {key:28s} {row['caught']:4d}/{row['count']:4d} flagged")
    for key, row in data["injected_caught"].items():
        print(f"{key:50s} caught {row['caught']:4d}/{row['count']:4d}  right kind {row['right_kind']:4d}")
    print("flagged:", *data["flagged_examples"], sep="\n  ")
    print("missed:", *data["missed_examples"], sep="\n  ")
    if not args.no_write:
        print(write_result("quality", data))


if __name__ == "__main__":
    main()
