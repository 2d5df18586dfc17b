"""A whole scoring run: check the arguments, list the files, skip what is done, run an engine, write."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from faultdx.paths import DEFAULT_MODEL
from faultdx.score.engines import run_local, run_ray
from faultdx.score.inputs import ScoreInputError, check_context, discover, plan, read_sidecar
from faultdx.score.rows import history_recorder
from faultdx.score.sink import ResultSink, done_files, parts_dir

Engine = Literal["local", "ray"]
ENGINES: tuple[str, ...] = ("local", "ray")


@dataclass
class ScoreSummary:
    """What a run did. ``first_row_s``: seconds until the first row came back (start-up and one file);
    ``half_s`` / ``half_windows``: when half of the run's files were done, and the windows by then."""

    out: Path
    files: int = 0
    skipped: int = 0
    errors: int = 0
    windows: int = 0
    seconds: float = 0.0
    first_row_s: float | None = None
    total: int = 0
    half_s: float | None = None
    half_windows: int = 0
    engine: str = "local"
    workers: int = 1
    model: str = ""
    errors_seen: list[str] = field(default_factory=list)

    @property
    def files_per_s(self) -> float:
        return self.files / self.seconds if self.seconds else 0.0

    @property
    def windows_per_s(self) -> float:
        return self.windows / self.seconds if self.seconds else 0.0

    @property
    def steady_windows_per_s(self) -> float | None:
        """Windows/s over the second half of the files: every process or actor has long started by then
        (the local pool starts its processes as work arrives; Ray starts its actors before)."""
        if self.half_s is None or self.seconds <= self.half_s:
            return None
        return (self.windows - self.half_windows) / (self.seconds - self.half_s)



def score_archive(
    paths: Iterable[str | Path],
    out: str | Path,
    *,
    model: str | Path = DEFAULT_MODEL,
    engine: str = "local",
    workers: int | None = None,
    address: str | None = None,
    sidecar: str | Path | None = None,
    defaults: dict[str, Any] | None = None,
    progress: bool = False,
    history: Any = None,
    on_row: Callable[[dict[str, Any]], None] | None = None,
) -> ScoreSummary:
    """Score every recording under ``paths`` into the Parquet table ``out`` (resuming it) → summary.

    ``defaults``: ``asset``, ``rpm``, ``bearing``, ``rate`` for files the ``sidecar`` does not cover.
    ``history``: a :class:`faultdx.monitor.store.Store` to store every diagnosis in its asset's history
    (every file then needs an existing asset). ``on_row`` sees every new row before it is written.
    ``workers``: processes (local, default: one per core) or actors (Ray, default: one per CPU of the
    cluster).
    """
    from faultdx.diagnose import Diagnoser
    from faultdx.modeldir import CheckpointError

    if engine not in ENGINES:
        raise ScoreInputError(f"engine must be one of {', '.join(ENGINES)}, got {engine!r}", "engine")
    if workers is not None and (isinstance(workers, bool) or workers < 1):
        raise ScoreInputError(f"workers must be a positive number of processes, got {workers!r}", "workers")
    if address is not None and engine != "ray":
        raise ScoreInputError("address is the Ray cluster to join: use it with engine ray", "address")
    if engine == "ray":
        _require_ray()
    out = Path(out)
    if out.suffix.lower() != ".parquet":
        raise ScoreInputError(f"{out}: the output is a .parquet file", "out")
    try:
        diagnoser = Diagnoser.from_dir(model)  # checked here; every worker loads its own
    except (CheckpointError, OSError, ValueError) as err:
        raise ScoreInputError(str(err), "model") from None
    model_ref = str(diagnoser.path) if diagnoser.path is not None else str(model)
    defaults = check_context(**(defaults or {}))
    contexts = read_sidecar(sidecar) if sidecar is not None else {}
    done = done_files(out)
    exclude = [out, parts_dir(out), *([sidecar] if sidecar is not None else [])]
    total = skipped = 0
    assets: set[str | None] = set()
    for job in plan(discover(paths, exclude), contexts, defaults):  # names only: the progress bar's total
        if job.file in done:
            skipped += 1
        else:
            total += 1
            assets.add(job.asset)
    if history is not None:
        if None in assets:
            raise ScoreInputError("storing in the asset history needs every file's asset: give it in the "
                                  "sidecar's `asset` column or with --asset", "history")
        record = history_recorder(history, sorted(assets))
        on_row = record if on_row is None else _both(record, on_row)
    jobs = plan((key for key in discover(paths, exclude) if key not in done), contexts, defaults)
    if engine == "local":
        workers = workers or os.cpu_count() or 1
    summary = ScoreSummary(out, skipped=skipped, total=total, engine=engine, workers=workers or 0,
                           model=diagnoser.name)
    rows = run_local(jobs, model_ref, workers) if engine == "local" else run_ray(jobs, model_ref, workers,
                                                                                  address)
    sink = ResultSink(out)
    started = time.perf_counter()
    try:
        with _progress(progress, total) as advance:
            for row in rows:
                if on_row is not None:
                    on_row(row)  # first: a row that failed there is not kept, so a resumed run redoes it
                sink.add(row)
                _count(summary, row, time.perf_counter() - started)
                advance(summary)
    except BaseException:
        sink.flush()  # what was scored is kept: the next run resumes after it
        raise
    summary.seconds = time.perf_counter() - started
    sink.merge()
    return summary


def _both(first: Callable[[dict[str, Any]], None], then: Callable[[dict[str, Any]], None]
          ) -> Callable[[dict[str, Any]], None]:
    def call(row: dict[str, Any]) -> None:
        first(row)
        then(row)

    return call


def _count(summary: ScoreSummary, row: dict[str, Any], elapsed: float) -> None:
    summary.files += 1
    summary.windows += row["windows"] or 0
    if summary.first_row_s is None:
        summary.first_row_s = elapsed
    if summary.files == max(1, summary.total // 2):
        summary.half_s, summary.half_windows = elapsed, summary.windows
    if row["error"] is not None:
        summary.errors += 1
        if len(summary.errors_seen) < 5:
            summary.errors_seen.append(f"{row['file']}: {row['error']}")


def _require_ray() -> None:
    try:
        import ray  # noqa: F401
        import ray.data  # noqa: F401
    except ImportError:
        message = "the Ray engine needs Ray Data: pip install 'faultdx[scale]'"
        raise ScoreInputError(message, "engine") from None


@contextlib.contextmanager
def _progress(enabled: bool, total: int) -> Iterator[Callable[[ScoreSummary], None]]:
    """A rich progress bar over files: done/total, files/s, windows, errors, time left."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        ProgressColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )
    from rich.text import Text

    class FilesPerSecond(ProgressColumn):
        """Since the start: Ray hands rows back a batch at a time, which makes a recent-window rate jump."""

        def render(self, task) -> Text:
            return Text(f"{task.completed / task.elapsed:.1f} files/s" if task.elapsed else "– files/s")

    bar = Progress(TextColumn("scoring"), BarColumn(), MofNCompleteColumn(), FilesPerSecond(),
                   TextColumn("{task.fields[windows]:,} windows, {task.fields[errors]} errors"),
                   TimeElapsedColumn(), TimeRemainingColumn(), disable=not enabled)
    with bar:
        task = bar.add_task("score", total=total, windows=0, errors=0)
        yield lambda s: bar.update(task, completed=s.files, windows=s.windows, errors=s.errors)
