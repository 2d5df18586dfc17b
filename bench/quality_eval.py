"""The signal-quality gate on every real recording: faults injected → caught; unmodified → not flagged.

For each recording under FAULTDX_DATA (``bench/real_recordings.py``: CWRU 12 kHz drive end, 97.mat at 48 kHz,
MFPT, HIT-SM MFS and self-built) the whole recording and ``--excerpts`` 1 s excerpts are checked as they are,
and with each injected fault (``INJECTIONS``). Caught = the gate says not ok; the kind it named is counted
too. The margins of the clipping and ``no_machine`` rules are recorded beside (``margins``): the largest value
any clean piece reaches against the smallest any injected one reaches. Writes ``results/quality.json``;
``faultdx results render`` puts its tables into docs/quality.md.

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
from faultdx.diagnose import quality  # noqa: E402
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
CLIPPED = ("clipping at 20 % of peak", "clipping at 50 % of peak")
NOISE = ("white noise (dead sensor)", "pink noise")


def _clip_pile(x: np.ndarray) -> tuple[int, float]:
    """(samples within the clipping tolerance of the fuller extreme, their edge ratio: that count against
    the mean count per tolerance bin just below), as the gate's clipping rule measures them."""
    tolerance = quality.CLIP_TOLERANCE * float(x.max() - x.min())
    best = (0, 0.0)
    for extreme in (x.min(), x.max()):
        distance = np.abs(x - extreme)
        pile = int(np.count_nonzero(distance <= tolerance))
        edge = (quality.CLIP_EDGE_BINS + 1) * tolerance
        below = int(np.count_nonzero((distance > tolerance) & (distance <= edge)))
        best = max(best, (pile, pile / max(below / quality.CLIP_EDGE_BINS, 1e-9)))
    return best


def _line_decades(x: np.ndarray, rate: float) -> tuple[float, float] | None:
    """(-log10 of the chance that noise alone puts as many bins above the whitened floor, the highest bin's
    distance above the one-line threshold) where the whitened rule judges ``x`` (150 bins or more)."""
    from scipy.stats import binom

    freqs, log_power, averages, _ = quality.band_spectrum(x, rate)
    if freqs.size < quality.WHITENED_MIN_BINS:
        return None
    lines, _, peak = quality.whitened_lines(freqs, log_power, averages)
    chance = binom.sf(lines - 1, freqs.size, quality.BIN_FALSE_ALARM)
    return float(-np.log10(max(chance, 1e-300))), peak


class Margins:
    """The extremes of the clipping and whitened-line statistics over clean and injected pieces."""

    def __init__(self) -> None:
        self.values: dict[str, list[float]] = {}

    def add(self, key: str, value: float) -> None:
        self.values.setdefault(key, []).append(value)

    def measure(self, x: np.ndarray, rate: float, name: str | None) -> None:
        if name is None or name in CLIPPED:
            pile, ratio = _clip_pile(x)
            self.add("clean_pile" if name is None else "clipped_pile", pile)
            if name is not None:
                self.add("clipped_edge_ratio", ratio)
        if name is None or name in NOISE:
            lines = _line_decades(x, rate)
            if lines is not None:
                prefix = "clean" if name is None else "noise"
                self.add(f"{prefix}_line_decades", lines[0])
                self.add(f"{prefix}_line_peak", lines[1])

    def summary(self) -> dict:
        v = self.values
        decades = round(-np.log10(quality.LINES_FALSE_ALARM), 1)
        return {
            f"clipping pile, largest clean (rule {quality.CLIP_MIN_COUNT})": max(v["clean_pile"]),
            "clipping pile, smallest injected": min(v["clipped_pile"]),
            f"clipping edge ratio, smallest injected (rule {quality.CLIP_EDGE_RATIO:g})":
                round(min(v["clipped_edge_ratio"]), 1),
            f"whitened line decades, smallest clean (rule {decades:g})":
                round(min(v["clean_line_decades"]), 1),
            "whitened line decades, largest white or pink noise": round(max(v["noise_line_decades"]), 1),
            f"whitened highest line, largest white or pink noise (rule {quality.WHITENED_PEAK_MARGIN:g})":
                round(max(v["noise_line_peak"]), 2),
            "pieces judged by the whitened rule (clean, noise)": [len(v["clean_line_decades"]),
                                                                  len(v["noise_line_decades"])],
        }


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
    margins = Margins()
    started = time.perf_counter()
    for recording in real_recordings():
        for length, seconds in LENGTHS.items():
            for i, piece in enumerate(excerpts(recording.signal, recording.sampling_rate, seconds, count)):
                case = f"{recording.name}/{length}#{i}"
                quality = check_signal(piece, recording.sampling_rate, rpm=recording.rpm)
                _tally(clean, (recording.dataset, length), not quality.ok, False)
                margins.measure(piece, recording.sampling_rate, None)
                if not quality.ok:
                    flagged.append(f"{case}: {', '.join(quality.kinds)}")
                for name, (kind, inject) in INJECTIONS.items():
                    bad = inject(piece, recording.sampling_rate, rng)
                    quality = check_signal(bad, recording.sampling_rate, rpm=recording.rpm)
                    _tally(injected, (name, recording.dataset), not quality.ok, kind in quality.kinds)
                    margins.measure(bad, recording.sampling_rate, name)
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
        "margins": margins.summary(),
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
    print("margins:", *(f"{k}: {v}" for k, v in data["margins"].items()), sep="\n  ")
    if not args.no_write:
        print(write_result("quality", data))


if __name__ == "__main__":
    main()
