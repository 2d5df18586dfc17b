"""`faultdx compare`: activations x seeds on one protocol, summarised as mean ± std.

For every activation and seed it trains (1) a leakage-free time-split run, scored on its test split clean and
with white noise, and (2) by-condition runs on the fault classes: train on all loads but one, test on that
one, for every choice of held-out load. Both the best-on-validation and the last-epoch model are scored.
Finished runs (those with ``test.json``) are reused, so an interrupted compare picks up where it stopped.
"""

from __future__ import annotations

import contextlib
import json
import os
import statistics
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from faultdx.atomic import write_text_atomic
from faultdx.data.registry import get_dataset
from faultdx.train.config import RunConfig, load_config, parse_override, set_dotted, validate_config
from faultdx.train.run import train

SELECTIONS = ("best", "last")


@dataclass(frozen=True)
class RunSpec:
    """One training run of the comparison."""

    kind: str  # "time" or "cross"
    activation: str
    seed: int
    test_condition: float | None = None

    @property
    def name(self) -> str:
        suffix = "" if self.test_condition is None else f"-test{self.test_condition:g}"
        return f"{self.kind}/{self.activation}-s{self.seed}{suffix}"


def plan_runs(
    activations: list[str], seeds: list[int], cross_load_seeds: list[int], conditions: list[float]
) -> list[RunSpec]:
    """Time-split runs first (the clean / noisy columns), then the cross-load folds."""
    runs = [RunSpec("time", a, s) for s in seeds for a in activations]
    runs += [RunSpec("cross", a, s, c) for s in cross_load_seeds for c in conditions for a in activations]
    return runs


def run_config(
    base: RunConfig,
    spec: RunSpec,
    out: Path,
    conditions: list[float],
    cross_overrides: list[str] | None = None,
) -> RunConfig:
    """The config of one run: ``base`` with the activation, seed and split of ``spec`` (and, for cross-load
    runs, ``cross_overrides`` such as a coarser hop)."""
    raw = base.model_dump(mode="json")
    set_dotted(raw, "model.activation", spec.activation)
    set_dotted(raw, "seed", spec.seed)
    set_dotted(raw, "out_dir", str(out))
    set_dotted(raw, "name", spec.name)
    if spec.kind == "cross":
        set_dotted(raw, "split.protocol", "condition")
        set_dotted(raw, "split.train_conditions", [c for c in conditions if c != spec.test_condition])
        set_dotted(raw, "split.test_conditions", [spec.test_condition])
        # CWRU's normal class exists only at 0 HP: by-load splits use the fault classes
        if "normal" not in raw["data"]["exclude_classes"]:
            raw["data"]["exclude_classes"] = [*raw["data"]["exclude_classes"], "normal"]
        for item in cross_overrides or []:
            set_dotted(raw, *parse_override(item))
    return validate_config(raw)


def run_compare(
    *,
    activations: list[str],
    seeds: list[int],
    cross_load_seeds: list[int],
    config_path: Path | None = None,
    overrides: list[str] | None = None,
    cross_overrides: list[str] | None = None,
    out: Path = Path("runs/compare"),
    conditions: list[float] | None = None,
    log: Callable[[str], None] = print,
) -> str:
    """Train every planned run not finished yet, then write and return the markdown table."""
    base = load_config(config_path, overrides or [])
    conditions = conditions or list(get_dataset(base.data.name, **base.data.options).conditions)
    out = Path(out)
    specs = plan_runs(activations, seeds, cross_load_seeds, conditions)
    for i, spec in enumerate(specs, start=1):
        train_missing(
            out / spec.name,
            lambda spec=spec: run_config(base, spec, out, conditions, cross_overrides),
            label=f"[{i}/{len(specs)}] {spec.name}",
            log=log,
        )
    table = summarise(out, specs)
    write_text_atomic(out / "table.md", table)
    return table


def train_missing(
    run_dir: Path, make_config: Callable[[], RunConfig], *, label: str, log: Callable[[str], None] = print
) -> bool:
    """Train the run in ``run_dir`` unless it is finished (has ``test.json``) or another process holds it;
    an interrupted run resumes from its state. Returns whether this call trained it."""
    if (run_dir / "test.json").is_file():
        return False
    with claim_run(run_dir) as mine:
        if not mine or (run_dir / "test.json").is_file():
            return False  # another compare process is training it (or just finished it)
        log(label)
        resume = (run_dir / "state" / "state.json").is_file()
        train(make_config(), run_dir=run_dir, resume=resume, log=None)
        return True


@contextlib.contextmanager
def claim_run(run_dir: Path) -> Iterator[bool]:
    """Claim a run with an exclusive lock file, so that several compare processes share the work; a lock
    left by a killed process (its pid is gone) is taken over."""
    run_dir.parent.mkdir(parents=True, exist_ok=True)
    lock = run_dir.parent / f".{run_dir.name}.lock"
    for _ in range(2):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            if _alive(lock):
                yield False
                return
            lock.unlink(missing_ok=True)
            continue
        try:
            os.write(fd, str(os.getpid()).encode())
            os.close(fd)
            yield True
        finally:
            lock.unlink(missing_ok=True)
        return
    yield False


def _alive(lock: Path) -> bool:
    try:
        pid = int(lock.read_text() or "0")
        os.kill(pid, 0)
    except (OSError, ValueError):
        return False
    return True


def collect(out: Path, specs: list[RunSpec]) -> list[dict[str, Any]]:
    """Test figures of every finished run."""
    rows = []
    for spec in specs:
        path = out / spec.name / "test.json"
        if path.is_file():
            test = json.loads(path.read_text(encoding="utf-8"))
            records = (out / spec.name / "metrics.jsonl").read_text(encoding="utf-8").splitlines()
            seconds = json.loads(records[-1])["elapsed_s"] if records else None
            rows.append({"spec": spec, "test": test, "seconds": seconds})
    return rows


def summarise(out: Path, specs: list[RunSpec]) -> str:
    """Markdown: mean ± std over seeds per activation (clean, noisy, cross-load; best and last), plus the
    cross-load matrix per activation."""
    rows = collect(out, specs)
    activations = list(dict.fromkeys(s.activation for s in specs))
    time_rows = [r for r in rows if r["spec"].kind == "time"]
    cross_rows = [r for r in rows if r["spec"].kind == "cross"]
    noisy_key = _noisy_key(time_rows)
    header = ["activation"]
    for sel in SELECTIONS:
        header += [f"clean {sel}", f"{_snr_label(noisy_key)} {sel}", f"cross-load {sel}"]
    lines = ["| " + " | ".join(header) + " |", "|---" * len(header) + "|"]
    for act in activations:
        cells = [act]
        for sel in SELECTIONS:
            mine = [r for r in time_rows if r["spec"].activation == act]
            cells.append(_mean_std([r["test"][sel]["accuracy"] for r in mine]))
            cells.append(_mean_std([r["test"][sel].get(noisy_key) for r in mine if noisy_key]))
            cells.append(_mean_std(_cross_means(cross_rows, act, sel)))
        lines.append("| " + " | ".join(cells) + " |")
    seeds = sorted({r["spec"].seed for r in time_rows})
    folds: dict[tuple[str, int], int] = {}
    for r in cross_rows:
        key = (r["spec"].activation, r["spec"].seed)
        folds[key] = folds.get(key, 0) + 1
    cross_seeds = sorted({seed for (_, seed), n in folds.items() if n == 4})
    minutes = [r["seconds"] / 60 for r in time_rows if r["seconds"]]
    lines += [
        "",
        f"Test accuracy (%), mean ± std over seeds {seeds} (time split); cross-load = "
        f"9 fault classes, train on three loads, test on the fourth, mean of the four choices per seed "
        f"(seeds with all four folds: {cross_seeds}). best = best-on-validation model, last = last epoch.",
    ]
    if minutes:
        lines.append(f"Time-split run time: {min(minutes):.1f}–{max(minutes):.1f} min per run.")
    lines += ["", *_cross_matrix(cross_rows, activations)]
    return "\n".join(lines) + "\n"


def _cross_means(cross_rows: list[dict], activation: str, selection: str) -> list[float]:
    """Per seed, the mean over held-out loads (only seeds with all four folds done)."""
    by_seed: dict[int, list[float]] = {}
    for r in cross_rows:
        if r["spec"].activation == activation:
            by_seed.setdefault(r["spec"].seed, []).append(r["test"][selection]["accuracy"])
    return [statistics.fmean(v) for v in by_seed.values() if len(v) == 4]


def _cross_matrix(cross_rows: list[dict], activations: list[str]) -> list[str]:
    if not cross_rows:
        return []
    conditions = sorted({r["spec"].test_condition for r in cross_rows})
    lines = [
        "Cross-load, best-on-val model, test accuracy (%) per held-out load (trained on the other three), "
        "mean over seeds:",
        "",
        "| activation | " + " | ".join(f"test {c:g} HP" for c in conditions) + " |",
        "|---" * (len(conditions) + 1) + "|",
    ]
    for act in activations:
        cells = []
        for c in conditions:
            accs = [
                r["test"]["best"]["accuracy"]
                for r in cross_rows
                if r["spec"].activation == act and r["spec"].test_condition == c
            ]
            cells.append(_mean_std(accs))
        lines.append(f"| {act} | " + " | ".join(cells) + " |")
    return lines


def _noisy_key(rows: list[dict]) -> str | None:
    for r in rows:
        for key in r["test"]["best"]:
            if key.startswith("accuracy_snr_"):
                return key
    return None


def _snr_label(key: str | None) -> str:
    return "noisy" if key is None else key.removeprefix("accuracy_snr_").replace("dB", " dB")


def _mean_std(values: list[float | None]) -> str:
    """``"mean ± std"`` in percent over the values that are not None (``"–"`` for none, ``(n=1)`` for one)."""
    values = [v for v in values if v is not None]
    if not values:
        return "–"
    mean = 100 * statistics.fmean(values)
    if len(values) == 1:
        return f"{mean:.2f} (n=1)"
    return f"{mean:.2f} ± {100 * statistics.stdev(values):.2f}"
