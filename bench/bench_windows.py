"""Windows per second from the leakage-free split of the real CWRU files, after the first read.

Loads the 12 kHz drive-end set (37 files present: 36 faults + 97.mat resampled 48k -> 12k) through
``get_dataset("cwru").recordings()`` and cuts it with ``time_split`` (70/15/15 %, window 2048; train hop as
given, val/test hop = window). The first read decodes the MAT files into the .npy cache (a fresh temporary
cache unless --keep-cache); every later round is recordings() + time_split() from the cache (in-process
memo), timed in interleaved rounds so load from other processes hits every hop alike. Windows/s counts all
three splits.
Falls back to the synthetic dataset when FAULTDX_DATA has no CWRU files.

    FAULTDX_DATA=../shared/data python bench/bench_windows.py [--hops 2048 512 256] [--rounds 15]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time

TARGET = 200_000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--window", type=int, default=2048)
    parser.add_argument("--hops", type=int, nargs="+", default=[2048, 512, 256])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--keep-cache", action="store_true", help="use $FAULTDX_CACHE instead of a temp dir")
    args = parser.parse_args()
    tmp = None
    if not args.keep_cache:
        tmp = tempfile.TemporaryDirectory(prefix="faultdx-bench-cache-")
        os.environ["FAULTDX_CACHE"] = tmp.name

    from faultdx.data.registry import get_dataset
    from faultdx.data.splits import time_split
    from faultdx.paths import cache_dir, data_dir

    dataset = get_dataset("cwru")
    start = time.perf_counter()
    recordings = dataset.recordings()
    first = time.perf_counter() - start
    if not recordings:
        print(f"no CWRU files under {data_dir()}; using the synthetic dataset instead")
        dataset = get_dataset("synthetic")
        start = time.perf_counter()
        recordings = dataset.recordings()
        first = time.perf_counter() - start
    samples = sum(r.num_samples for r in recordings)
    print(f"dataset {dataset.name}: {len(recordings)} recordings, {samples:,} samples at "
          f"{recordings[0].sampling_rate:g} Hz; cache {cache_dir()}")
    print(f"first read (decode MAT + resample + write cache): {first:.2f} s")
    from faultdx.data import cache

    cache._memo.clear()  # what a new process sees: only the .npy files
    start = time.perf_counter()
    dataset.recordings()
    cached = time.perf_counter() - start
    print(f"read from the .npy cache (a new process): {cached:.3f} s; "
          f"later reads in this process come from memory")

    def run(hop: int) -> int:
        recs = dataset.recordings()
        splits = time_split(recs, window=args.window, hop=hop, classes=dataset.classes, eval_hop=args.window)
        return sum(len(s) for s in splits.values())

    counts = {hop: run(hop) for hop in args.hops}  # warm-up
    times: dict[int, list[float]] = {hop: [] for hop in args.hops}
    for _ in range(args.rounds):
        for hop in args.hops:
            t0 = time.perf_counter()
            run(hop)
            times[hop].append(time.perf_counter() - t0)

    print(f"\nwindow {args.window}, split 70/15/15 %, val/test hop {args.window}, {args.rounds} rounds "
          f"(target >= {TARGET:,} windows/s)")
    print(f"{'train hop':>9} {'windows':>8} {'best ms':>8} {'median ms':>10} {'windows/s (best)':>17} "
          f"{'windows/s (median)':>19}  target")
    rows = []
    for hop in args.hops:
        best, median = min(times[hop]), statistics.median(times[hop])
        rate_best, rate_median = counts[hop] / best, counts[hop] / median
        verdict = "met" if rate_median >= TARGET else ("best round only" if rate_best >= TARGET else "MISSED")
        print(f"{hop:>9} {counts[hop]:>8} {best * 1e3:>8.1f} {median * 1e3:>10.1f} {rate_best:>17,.0f} "
              f"{rate_median:>19,.0f}  {verdict}")
        rows.append({"train_hop": hop, "windows": counts[hop], "windows_per_s_median": rate_median,
                     "windows_per_s_best": rate_best, "target": TARGET, "verdict": verdict})
    from faultdx.results import write_result

    path = write_result("bench_windows", {
        "dataset": dataset.name, "recordings": len(recordings), "samples": samples, "window": args.window,
        "rounds": args.rounds, "first_read_s": first, "cached_read_s": cached, "rows": rows,
    }, command="bench_windows.py " + " ".join(sys.argv[1:]))
    print(f"wrote {path}")
    if tmp is not None:
        tmp.cleanup()


if __name__ == "__main__":
    main()
