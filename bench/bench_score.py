"""Scaling of `faultdx score`: the local engine at 1 and 2 processes and Ray Data on a local cluster, on the
same archive, side by side in one run (interleaved rounds), and what a 10,000-hour archive costs on N nodes.

The archive: every real recording under ``FAULTDX_DATA`` (CWRU and MFPT, with their shaft speed and bearing
in a sidecar, as a plant would give them) plus ``--simulated`` files of ``--seconds`` each in every format
(:func:`faultdx.data.archive.write_archive`). Each round scores the whole archive once per engine into a
fresh table, in a rotating order; the tables must agree row for row. Per engine: wall time (with the start of
processes or actors and the model loading), files/s and windows/s over it, the start-up (until the first row
came back), the steady windows/s over the second half of the files, and (local engine) the CPU time per
window of the whole run, start-up included, of this process and its workers. The 1-process CPU time per
window is the per-window cost; from it, the cost of a 10,000-hour archive (windows at the model's rate and
hop) in core-hours and its wall-clock time on N nodes of ``--node-cores`` cores, assuming linear scaling
across cores and nodes (the measured 2-process speed-up is shown beside it). The machine's cores may be shared
with other work: the load average before and after every round is recorded.

Prints a table and writes ``results/scaling.json`` (:func:`faultdx.results.write_result`).

    python bench/bench_score.py [--rounds 3] [--simulated 24] [--seconds 10] [--model hybrid-aprelu]
        [--node-cores 16] [--results-name scaling]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import tempfile
from pathlib import Path

import pandas as pd

from faultdx.data.archive import write_archive
from faultdx.paths import DEFAULT_MODEL, data_dir
from faultdx.results import write_result
from faultdx.score import score_archive

ENGINES = {"local, 1 process": ("local", 1), "local, 2 processes": ("local", 2), "Ray, 2 actors": ("ray", 2)}
ARCHIVE_HOURS = 10_000
NODES = (1, 4, 16, 64)


def real_sidecar_rows(root: Path, folder: Path) -> list[dict]:
    """Every real recording linked into ``folder/real`` with its shaft speed and bearing."""
    from faultdx.data.catalogue import cwru_file

    rows = []
    for path in sorted(root.glob("cwru/*/*.mat")) + sorted(root.glob("mfpt/*.mat")):
        name = path.relative_to(root).as_posix()
        if name.startswith("cwru"):
            rpm, bearing = cwru_file(int(path.stem)).rpm, "SKF 6205"
        else:
            rpm, bearing = 1500.0, "MFPT NICE"
        link = folder / "real" / name
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(path)
        rows.append({"file": f"real/{name}", "asset": name.split("/")[0], "rpm": rpm, "bearing": bearing})
    return rows


def build_archive(folder: Path, simulated: int, seconds: float) -> tuple[Path, dict]:
    _, sidecar = write_archive(folder, simulated, seconds=seconds)
    rows = pd.read_csv(sidecar)
    real = real_sidecar_rows(data_dir(), folder)
    pd.concat([rows, pd.DataFrame(real)], ignore_index=True).to_csv(sidecar, index=False)
    return sidecar, {"real_files": len(real), "simulated_files": simulated, "simulated_seconds": seconds}


def cpu_seconds() -> float:
    """CPU time of this process and its finished children (the local pool's workers; not Ray's)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def run_engine(label: str, folder: Path, sidecar: Path, out: Path, model: str) -> tuple[dict, pd.DataFrame]:
    engine, workers = ENGINES[label]
    out.unlink(missing_ok=True)
    cpu = cpu_seconds()
    summary = score_archive([folder], out, model=model, engine=engine, workers=workers, sidecar=sidecar)
    cpu = cpu_seconds() - cpu
    table = pd.read_parquet(out).sort_values("file").reset_index(drop=True)
    return {
        "cpu_ms_per_window": 1e3 * cpu / summary.windows if engine == "local" else None,
        "seconds": summary.seconds, "first_row_s": summary.first_row_s, "files": summary.files,
        "windows": summary.windows, "errors": summary.errors, "files_per_s": summary.files_per_s,
        "windows_per_s": summary.windows_per_s, "steady_windows_per_s": summary.steady_windows_per_s,
    }, table


def median_of(rounds: list[dict], key: str) -> float | None:
    values = [r[key] for r in rounds if r[key] is not None]
    return statistics.median(values) if values else None


def projection(core_s_per_window: float, windows_per_hour: float, node_cores: int) -> dict:
    windows = ARCHIVE_HOURS * windows_per_hour
    core_hours = windows * core_s_per_window / 3600
    return {
        "archive_hours": ARCHIVE_HOURS, "windows": windows, "core_hours": core_hours,
        "node_cores": node_cores,
        "assumption": "linear scaling over cores and nodes at the measured CPU time per window",
        "nodes": [{"nodes": n, "cores": n * node_cores, "wall_hours": core_hours / (n * node_cores)}
                  for n in NODES],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--simulated", type=int, default=24, help="simulated files added to the real ones")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each simulated file")
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--node-cores", type=int, default=16, help="cores per node in the projection")
    parser.add_argument("--results-name", default="scaling")
    args = parser.parse_args()

    import ray

    from faultdx.diagnose import Diagnoser
    from faultdx.score.engines import start_local_ray

    meta = Diagnoser.from_dir(args.model).meta
    start_local_ray(2)  # as `faultdx score --engine ray` starts it: loopback only
    rounds: dict[str, list[dict]] = {label: [] for label in ENGINES}
    load: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="bench-score-") as tmp:
        folder, outs = Path(tmp) / "archive", Path(tmp) / "out"
        outs.mkdir()
        sidecar, archive = build_archive(folder, args.simulated, args.seconds)
        labels = list(ENGINES)
        for r in range(args.rounds):
            order = labels[r % len(labels):] + labels[: r % len(labels)]
            before = os.getloadavg()[0]
            tables = {}
            for label in order:
                figures, tables[label] = run_engine(label, folder, sidecar, outs / "t.parquet", args.model)
                rounds[label].append(figures)
                print(f"round {r + 1} {label:<20} {figures['seconds']:6.1f} s  "
                      f"{figures['files_per_s']:6.2f} files/s  {figures['windows_per_s']:8.0f} windows/s  "
                      f"steady {figures['steady_windows_per_s'] or 0:8.0f} windows/s", flush=True)
            load.append({"round": r + 1, "before": round(before, 2), "after": round(os.getloadavg()[0], 2)})
            first = tables[labels[0]]
            for label in labels[1:]:
                pd.testing.assert_frame_equal(first, tables[label], check_exact=True)
        archive.update(files=int(first.shape[0]), windows=int(first["windows"].sum()),
                       recorded_hours=float(first["duration_s"].sum()) / 3600,
                       errors=int(first["error"].notna().sum()))
    ray.shutdown()

    engines = {}
    figures = ("seconds", "first_row_s", "files_per_s", "windows_per_s", "steady_windows_per_s",
               "cpu_ms_per_window")
    for label, (engine, workers) in ENGINES.items():
        engines[label] = {"engine": engine, "workers": workers, "rounds": rounds[label],
                          **{k: median_of(rounds[label], k) for k in figures}}
    one = engines["local, 1 process"]
    for e in engines.values():
        e["speedup_vs_1_process"] = (e["steady_windows_per_s"] / one["steady_windows_per_s"]
                                     if e["steady_windows_per_s"] and one["steady_windows_per_s"] else None)
    core_s_per_window = one["cpu_ms_per_window"] / 1e3
    windows_per_hour = 3600 * meta.sampling_rate / meta.hop
    data = {
        "model": meta.name, "model_rate": meta.sampling_rate, "window": meta.window, "hop": meta.hop,
        "cores": os.cpu_count(), "rounds": args.rounds, "archive": archive, "engines": engines,
        "load_average": load, "load_average_note": "the machine's cores are shared with other sessions",
        "core_ms_per_window": 1e3 * core_s_per_window, "windows_per_recorded_hour": windows_per_hour,
        "projection": projection(core_s_per_window, windows_per_hour, args.node_cores),
    }
    path = write_result(args.results_name, data)
    from faultdx.results_render import render_scaling

    print(render_scaling({"data": data}))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
