"""Batch scoring of recording archives: every file becomes one row of a Parquet table.

    files / folders / globs + machine context (sidecar table or flags)
      → read (:func:`faultdx.data.readers.read_signal`) → :class:`~faultdx.diagnose.Diagnoser` → one row
      → part files of a few hundred rows → one Parquet table, merged atomically at the end

Every file is scored by :func:`score_file`, whichever engine runs it (a local process pool, or Ray Data on a
local or existing cluster), so both engines write the same rows. A file that cannot be read or diagnosed gets
a row with its ``error`` and the run goes on.

Memory stays bounded whatever the archive size: files are listed lazily and handed out a few at a time, and
rows are written to ``<out>.parts/`` as they come in; only the names of the files already done are held. A
killed run loses at most its last part: the next run with the same ``--out`` skips every file already in the
output or its parts, and merges them all into ``out`` (streamed, row group by row group).
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import json
import math
import os
import shutil
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from faultdx.atomic import atomic_file
from faultdx.errors import InputError
from faultdx.paths import DEFAULT_MODEL

if TYPE_CHECKING:
    from faultdx.diagnose import Diagnoser

Engine = Literal["local", "ray"]
ENGINES: tuple[str, ...] = ("local", "ray")
PART_ROWS = 500  # rows per part file: a killed run loses at most this many files' work...
PART_SECONDS = 30.0  # ...or this much time's
MERGE_ROWS = 65_536  # rows per row group of the merged table
RAY_CHUNK = 20_000  # files per Ray Dataset: the job list of one chunk sits in the object store
RAY_BATCH = 2  # files per map_batches call: rows stream back soon and actors stay evenly loaded
RAY_BLOCKS = 4096  # most blocks per Dataset
SIDECAR_FIELDS = ("asset", "rpm", "bearing", "rate", "measured_at")

SCHEMA = pa.schema([
    ("file", pa.string()),
    ("sha256", pa.string()),
    ("asset", pa.string()),
    ("measured_at", pa.timestamp("us", tz="UTC")),  # the sidecar's, else the file's modification time
    ("rate", pa.float64()),  # Hz, as read (file or sidecar/flag)
    ("duration_s", pa.float64()),
    ("windows", pa.int64()),
    ("verdict", pa.string()),  # healthy | fault | unknown (beyond the model's calibrated unknown score)
    ("fault_type", pa.string()),  # the primary answer: a fault type, or unknown
    ("closest_fault_type", pa.string()),  # the network's most probable fault type, also when unknown
    ("label", pa.string()),  # most probable class of that fault type
    ("severity", pa.string()),
    ("confidence", pa.float64()),  # probability of closest_fault_type
    ("p_normal", pa.float64()),  # probability of each fault type
    ("p_ball", pa.float64()),
    ("p_inner_race", pa.float64()),
    ("p_outer_race", pa.float64()),
    ("unknown_score", pa.float64()),  # None from a model without an unknown-condition calibration
    ("unknown_flag", pa.bool_()),  # score above 1; the verdict says unknown only if the calibration says so
    ("rpm", pa.float64()),
    ("rpm_source", pa.string()),  # given | estimated
    ("bearing", pa.string()),
    ("rms", pa.float64()),  # condition indicators of the diagnosed channel (faultdx.monitor.indicators)
    ("peak", pa.float64()),
    ("crest_factor", pa.float64()),
    ("kurtosis", pa.float64()),  # Pearson's (3 for Gaussian noise)
    ("velocity_rms", pa.float64()),  # mm/s over 10-1000 Hz, for a signal in g (ISO 20816-3)
    ("model", pa.string()),
    ("model_version", pa.string()),
    ("error", pa.string()),
])


class ScoreInputError(InputError):
    """Bad arguments to a scoring run; ``field`` names the argument (``paths``, ``out``, ``sidecar``...)."""


@dataclass(frozen=True)
class Job:
    """One file to score and its machine context (plain values: they travel to processes and Ray actors).

    ``bearing`` is a catalogue name or a geometry object as JSON text; ``rate`` overrides the file's own;
    ``measured_at`` (ISO 8601, UTC) overrides the file's modification time.
    """

    file: str
    asset: str | None = None
    rpm: float | None = None
    bearing: str | None = None
    rate: float | None = None
    measured_at: str | None = None


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


# -- which files, with which machine context ---------------------------------------------------------------
def file_key(path: str | Path) -> str:
    """How a file is named in the table and matched on resume: its absolute path (symlinks kept)."""
    return os.path.abspath(path)


def discover(paths: Iterable[str | Path], exclude: Iterable[str | Path] = ()) -> Iterator[str]:
    """Absolute paths of the recordings under ``paths``, each once.

    A file is taken as given (an unsupported type gets an error row); a folder is walked recursively, sorted,
    for the supported types, hidden entries left out; a pattern with ``*``, ``?`` or ``[`` is globbed
    (``**`` recursive). ``exclude`` (the output, its parts, the sidecar) is never listed. A path that does
    not exist or a pattern that matches nothing raises :class:`ScoreInputError`.
    """
    from faultdx.data.readers import SUPPORTED

    skip = {file_key(p) for p in exclude}
    seen: set[str] = set()

    def walk(folder: str) -> Iterator[str]:
        for root, dirs, files in os.walk(folder):
            dirs[:] = sorted(d for d in dirs if not d.startswith(".") and file_key(Path(root, d)) not in skip)
            for name in sorted(files):
                if not name.startswith(".") and Path(name).suffix.lower() in SUPPORTED:
                    yield file_key(Path(root, name))

    for raw in paths:
        text = str(raw)
        if not os.path.exists(text) and any(ch in text for ch in "*?["):
            matches = sorted(glob.glob(text, recursive=True))
            if not matches:
                raise ScoreInputError(f"{text}: the pattern matches no file", "paths")
        elif os.path.exists(text):
            matches = [text]
        else:
            raise ScoreInputError(f"{text}: no such file or folder", "paths")
        for match in matches:
            for key in walk(match) if os.path.isdir(match) else [file_key(match)]:
                if key not in seen and key not in skip:
                    seen.add(key)
                    yield key


def parse_bearing(text: str, field: str = "bearing"):
    """A catalogue name, or a geometry object as JSON text → a checked bearing geometry."""
    from faultdx.context import ContextError, check_bearing

    value: Any = text
    if text.lstrip().startswith("{"):
        try:
            value = json.loads(text)
        except ValueError as err:
            raise ScoreInputError(f"{field}: not a JSON object ({err})", field) from None
    try:
        return check_bearing(value, field)
    except ContextError as err:
        raise ScoreInputError(str(err), field) from None


def check_context(asset: Any = None, rpm: Any = None, bearing: Any = None, rate: Any = None,
                  measured_at: Any = None, where: str = "") -> dict[str, Any]:
    """Validated machine-context values (None where not given); errors name ``where`` + the field."""
    from faultdx.context import ContextError, check_rpm
    from faultdx.diagnose import DiagnoseInputError, check_sampling_rate

    out: dict[str, Any] = dict.fromkeys(SIDECAR_FIELDS)
    if _given(asset):
        out["asset"] = str(asset)
    try:
        if _given(rpm):
            out["rpm"] = check_rpm(_number(rpm))
    except ContextError as err:
        raise ScoreInputError(f"{where}{err}", "rpm") from None
    try:
        if _given(rate):
            out["rate"] = check_sampling_rate(_number(rate))
    except DiagnoseInputError as err:
        raise ScoreInputError(f"{where}{err}", "rate") from None
    if _given(bearing):
        try:
            parse_bearing(str(bearing))
        except ScoreInputError as err:
            raise ScoreInputError(f"{where}{err}", "bearing") from None
        out["bearing"] = str(bearing)
    if _given(measured_at):
        out["measured_at"] = _utc(measured_at, where).isoformat()
    return out


def _utc(value: Any, where: str = "") -> datetime:
    """An ISO 8601 time (or a datetime) in UTC; a time without a zone is taken as UTC."""
    try:
        when = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    except ValueError:
        message = f"{where}measured_at: not an ISO 8601 time, got {value!r}"
        raise ScoreInputError(message, "measured_at") from None
    return when.replace(tzinfo=timezone.utc) if when.tzinfo is None else when.astimezone(timezone.utc)


def _given(value: Any) -> bool:
    """Whether a flag or sidecar cell holds a value (None, NaN, NaT and blank text do not)."""
    import pandas as pd

    if value is None or (isinstance(value, str) and not value.strip()):
        return False
    try:
        return not bool(pd.isna(value))
    except (TypeError, ValueError):  # not a scalar
        return True


def _number(value: Any) -> Any:
    try:
        return float(value) if isinstance(value, str) else value
    except ValueError:
        return value


def read_sidecar(path: str | Path) -> dict[str, dict[str, Any]]:
    """A CSV or Parquet table ``file, asset, rpm, bearing, rate, measured_at`` (all but ``file`` optional,
    blank = not given, other columns ignored) → ``{absolute file path: context}``. ``file`` is absolute or
    relative to the sidecar's folder. Every row is checked up front; a bad one raises naming its row and
    column."""
    import pandas as pd

    path = Path(path)
    try:
        if path.suffix.lower() == ".parquet":
            frame = pd.read_parquet(path)
        elif path.suffix.lower() == ".csv":
            frame = pd.read_csv(path, dtype={"file": str, "asset": str, "bearing": str, "measured_at": str})
        else:
            raise ScoreInputError(f"{path}: a sidecar is a .csv or .parquet table", "sidecar")
    except (OSError, ValueError, pa.ArrowException) as err:
        if isinstance(err, ScoreInputError):
            raise
        raise ScoreInputError(f"{path}: not a readable table ({err})", "sidecar") from None
    if "file" not in frame.columns:
        raise ScoreInputError(f"{path}: no `file` column (columns: {', '.join(map(str, frame.columns))})",
                              "sidecar")
    contexts: dict[str, dict[str, Any]] = {}
    for i, row in enumerate(frame.to_dict("records")):
        where = f"{path.name} row {i + 2 if path.suffix.lower() == '.csv' else i + 1}: "
        if not _given(row["file"]):
            raise ScoreInputError(f"{where}empty `file`", "sidecar")
        key = file_key(path.parent / str(row["file"]))
        if key in contexts:
            raise ScoreInputError(f"{where}{row['file']} is listed twice", "sidecar")
        try:
            contexts[key] = check_context(**{k: row.get(k) for k in SIDECAR_FIELDS}, where=where)
        except ScoreInputError as err:
            raise ScoreInputError(str(err), "sidecar") from None
    return contexts


def plan(
    files: Iterable[str], contexts: dict[str, dict[str, Any]], defaults: dict[str, Any]
) -> Iterator[Job]:
    """One :class:`Job` per file: the sidecar's values, else the defaults (flags)."""
    for key in files:
        own = contexts.get(key, {})
        yield Job(key, **{k: defaults.get(k) if own.get(k) is None else own[k] for k in SIDECAR_FIELDS})


# -- one file → one row -------------------------------------------------------------------------------------
def load_diagnoser(model: str | Path) -> Diagnoser:
    """The Diagnoser every engine scores with: one thread (the engines parallelise over files), traced."""
    import torch

    from faultdx.diagnose import Diagnoser

    torch.set_num_threads(1)
    return Diagnoser.from_dir(model, trace=True)


def score_file(diagnoser: Diagnoser, job: Job) -> dict[str, Any]:
    """The row of one file. Never raises for a bad file: its ``error`` says what went wrong."""
    row: dict[str, Any] = dict.fromkeys(SCHEMA.names)
    row.update(file=job.file, asset=job.asset, rate=job.rate, model=diagnoser.name,
               model_version=diagnoser.meta.version)
    try:
        row["measured_at"] = (_utc(job.measured_at) if job.measured_at is not None else
                              datetime.fromtimestamp(os.stat(job.file).st_mtime, timezone.utc))
        data = Path(job.file).read_bytes()
        row["sha256"] = hashlib.sha256(data).hexdigest()
        signal, rate = _read(diagnoser, job, data)
        bearing = None if job.bearing is None else parse_bearing(job.bearing)
        [d] = diagnoser.diagnose([signal], rate, rpm=job.rpm, bearing=bearing)
    except OSError as err:
        row["error"] = f"cannot read the file ({err.strerror or err})"
        return row
    except InputError as err:
        row["error"] = str(err)
        return row
    except Exception as err:  # a damaged file can fail deep inside a decoder: one file never stops the run
        row["error"] = f"{type(err).__name__}: {err}"
        return row
    from faultdx.monitor.indicators import indicators

    machine = d.machine
    unknown = d.unknown_score
    verdict = {"normal": "healthy", "unknown": "unknown"}.get(d.fault_type, "fault")
    row.update(
        rate=rate, duration_s=signal.shape[-1] / rate, windows=len(d.start), verdict=verdict,
        fault_type=d.fault_type, closest_fault_type=d.closest_fault_type, label=d.label,
        severity=d.severity, confidence=float(d.confidence),
        **{f"p_{name}": p for name, p in d.type_probabilities.items()},
        unknown_score=None if unknown is None else float(unknown), unknown_flag=d.is_unknown,
        rpm=None if machine is None else machine.rpm,
        rpm_source=None if machine is None else machine.rpm_source,
        bearing=None if machine is None else machine.bearing.name or "custom",
        **indicators(signal[0], rate).as_dict(),
    )
    return row


def _read(diagnoser: Diagnoser, job: Job, data: bytes) -> tuple[np.ndarray, float]:
    """The file's signal for the model's channel(s) and its rate, as ``faultdx diagnose`` reads it."""
    from faultdx.data.readers import SignalFileError, read_signal

    name = Path(job.file).name
    default = diagnoser.channels[0] if len(diagnoser.channels) == 1 else None
    signal_file = read_signal(data, filename=name, sampling_rate=job.rate, default_channel=default)
    if default is not None and signal_file.signal.shape[0] > 1:
        raise SignalFileError(f"{name}: no channel {default!r}; channels: {', '.join(signal_file.channels)}")
    if signal_file.sampling_rate is None:
        raise SignalFileError(f"{name} does not state its sampling rate: give it in the sidecar's `rate` "
                              "column or with --rate")
    return signal_file.signal, float(signal_file.sampling_rate)


def history_recorder(store: Any, assets: Iterable[str]) -> Callable[[dict[str, Any]], None]:
    """``row → None`` storing every diagnosed row in the asset history of ``store``
    (:class:`faultdx.monitor.store.Store`), measured at the row's ``measured_at``. Every asset must exist
    (:class:`ScoreInputError` otherwise). A file stored twice (a resumed run) is stored once: the key is the
    asset and the file's hash."""
    from faultdx.data.base import FAULT_TYPES
    from faultdx.monitor.indicators import Indicators
    from faultdx.monitor.store import NewDiagnosis

    ids = {}
    for name in assets:
        try:
            ids[name] = store.get_asset(name).id
        except InputError:
            raise ScoreInputError(f"asset {name!r} is not in the asset history: create it first "
                                  f"(faultdx assets create {name!r} ...)", "history") from None

    def record(row: dict[str, Any]) -> None:
        if row["error"] is not None:
            return
        item = NewDiagnosis(
            model_name=row["model"], model_version=row["model_version"], fault_type=row["fault_type"],
            label=row["label"], confidence=row["confidence"],
            type_probabilities={t: row[f"p_{t}"] for t in FAULT_TYPES},
            indicators=Indicators(**{k: row[k] for k in Indicators.__dataclass_fields__}),
            sampling_rate=row["rate"], severity=row["severity"], unknown_score=row["unknown_score"],
            rpm=row["rpm"], rpm_source=row["rpm_source"],
        )
        asset_id = ids[row["asset"]]
        store.record(asset_id, [item], measured_at=row["measured_at"],
                     idempotency_key=f"score:{asset_id}:{row['sha256']}")

    return record


def rows_to_table(rows: list[dict[str, Any]]) -> pa.Table:
    return pa.Table.from_pylist(rows, schema=SCHEMA)


# -- the output table: parts while running, one file at the end ---------------------------------------------
def parts_dir(out: str | Path) -> Path:
    out = Path(out)
    return out.with_name(out.name + ".parts")


def _sources(out: Path) -> list[Path]:
    parts = sorted(parts_dir(out).glob("part-*.parquet")) if parts_dir(out).is_dir() else []
    return ([out] if out.exists() else []) + parts


def done_files(out: str | Path) -> set[str]:
    """Files already in ``out`` or its parts (resume skips them)."""
    done: set[str] = set()
    for source in _sources(Path(out)):
        try:
            parquet = pq.ParquetFile(source)
        except (OSError, pa.ArrowException) as err:
            raise ScoreInputError(f"{source}: exists but is not a Parquet table ({err})", "out") from None
        if "file" not in parquet.schema_arrow.names:
            raise ScoreInputError(f"{source}: exists but is not a faultdx score table (no `file` column)",
                                  "out")
        for batch in parquet.iter_batches(columns=["file"], batch_size=MERGE_ROWS):
            done.update(batch.column(0).to_pylist())
    return done


class ResultSink:
    """Rows → part files of at most :data:`PART_ROWS` rows (or :data:`PART_SECONDS`), each written atomically;
    :meth:`merge` folds the output and every part into one table."""

    def __init__(self, out: str | Path, *, part_rows: int = PART_ROWS, part_seconds: float = PART_SECONDS):
        self.out = Path(out)
        self.parts = parts_dir(self.out)
        self.part_rows, self.part_seconds = part_rows, part_seconds
        self.rows: list[dict[str, Any]] = []
        self.run = f"{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}"
        self.count = 0
        self.flushed_at = time.monotonic()

    def add(self, row: dict[str, Any]) -> None:
        self.rows.append(row)
        if len(self.rows) >= self.part_rows or time.monotonic() - self.flushed_at >= self.part_seconds:
            self.flush()

    def flush(self) -> None:
        self.flushed_at = time.monotonic()
        if not self.rows:
            return
        self.parts.mkdir(parents=True, exist_ok=True)
        with atomic_file(self.parts / f"part-{self.run}-{self.count:06d}.parquet") as tmp:
            pq.write_table(rows_to_table(self.rows), tmp)
        self.rows, self.count = [], self.count + 1

    def merge(self) -> None:
        """Flush, then write the output and the parts (each file once, first seen wins) as one table."""
        self.flush()
        sources = _sources(self.out)
        if self.out in sources and len(sources) == 1:
            return
        seen: set[str] = set()
        with atomic_file(self.out) as tmp, pq.ParquetWriter(tmp, SCHEMA) as writer:
            pending: list[pa.Table] = []
            for source in sources:
                for batch in pq.ParquetFile(source).iter_batches(batch_size=MERGE_ROWS):
                    table = pa.Table.from_batches([batch]).select(SCHEMA.names).cast(SCHEMA)
                    files = table.column("file").to_pylist()
                    keep = [f not in seen for f in files]
                    seen.update(files)
                    pending.append(table.filter(pa.array(keep)))
                    if sum(t.num_rows for t in pending) >= MERGE_ROWS:
                        writer.write_table(pa.concat_tables(pending))
                        pending = []
            writer.write_table(pa.concat_tables(pending) if pending else SCHEMA.empty_table())
        shutil.rmtree(self.parts, ignore_errors=True)


# -- engines: jobs in, rows out (in completion order) -------------------------------------------------------
_WORKER_DIAGNOSER = None  # one per pool process, loaded by the initializer


def _start_worker(model: str) -> None:
    global _WORKER_DIAGNOSER
    _WORKER_DIAGNOSER = load_diagnoser(model)


def _score_in_worker(job: Job) -> dict[str, Any]:
    return score_file(_WORKER_DIAGNOSER, job)


def run_local(jobs: Iterable[Job], model: str, workers: int) -> Iterator[dict[str, Any]]:
    """A pool of ``workers`` processes, each loading the model once; at most 4 jobs per worker in flight.
    One worker scores in this process (no pool to start)."""
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    if workers == 1:
        yield from _score_here(jobs, model)
        return
    context = multiprocessing.get_context("spawn")  # no fork of a process holding torch's threads
    with _one_thread_children(), ProcessPoolExecutor(workers, mp_context=context, initializer=_start_worker,
                             initargs=(model,)) as pool:
        pending: set = set()
        for job in jobs:
            if len(pending) >= 4 * workers:
                finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                yield from (f.result() for f in finished)
            pending.add(pool.submit(_score_in_worker, job))
        while pending:
            finished, pending = wait(pending, return_when=FIRST_COMPLETED)
            yield from (f.result() for f in finished)


@contextlib.contextmanager
def _one_thread_children() -> Iterator[None]:
    """Start child processes with one-thread math libraries (as Ray does for one-CPU actors): numpy's BLAS
    and torch's OpenMP read these when they load, before any call could set them."""
    names = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
    saved = {name: os.environ.get(name) for name in names}
    os.environ.update(dict.fromkeys(names, "1"))
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _score_here(jobs: Iterable[Job], model: str) -> Iterator[dict[str, Any]]:
    import torch

    threads = torch.get_num_threads()
    try:
        diagnoser = load_diagnoser(model)
        yield from (score_file(diagnoser, job) for job in jobs)
    finally:
        torch.set_num_threads(threads)  # this process's setting, as it was


class RayScorer:
    """Ray Data callable class: loads the model once per actor, scores a batch of jobs into rows."""

    def __init__(self, model: str) -> None:
        self.diagnoser = load_diagnoser(model)

    def __call__(self, batch: pa.Table) -> pa.Table:
        return rows_to_table([score_file(self.diagnoser, Job(**job)) for job in batch.to_pylist()])


def run_ray(jobs: Iterable[Job], model: str, workers: int | None, address: str | None = None
            ) -> Iterator[dict[str, Any]]:
    """Ray Data: the file listing (:data:`RAY_CHUNK` files per Dataset) → ``map_batches`` over a pool of
    :class:`RayScorer` actors (one CPU each) → rows streamed back here, where the same part files as the
    local engine's are written (no shared storage is needed for the output)."""
    import ray

    with _ray_session(address, workers):
        size = workers or max(1, int(ray.cluster_resources().get("CPU", 1)))
        chunk: list[dict[str, Any]] = []
        for job in jobs:
            chunk.append(asdict(job))
            if len(chunk) >= RAY_CHUNK:
                yield from _ray_chunk(chunk, model, size)
                chunk = []
        if chunk:
            yield from _ray_chunk(chunk, model, size)


def _ray_chunk(items: list[dict[str, Any]], model: str, size: int) -> Iterator[dict[str, Any]]:
    import ray.data

    blocks = min(RAY_BLOCKS, max(1, math.ceil(len(items) / RAY_BATCH)))
    dataset = ray.data.from_items(items, override_num_blocks=blocks)
    scored = dataset.map_batches(
        RayScorer, fn_constructor_kwargs={"model": model}, batch_size=RAY_BATCH, batch_format="pyarrow",
        compute=ray.data.ActorPoolStrategy(size=size), num_cpus=1,
    )
    for batch in scored.iter_batches(batch_size=None, batch_format="pyarrow"):
        yield from batch.to_pylist()


@contextlib.contextmanager
def _ray_session(address: str | None, workers: int | None) -> Iterator[None]:
    """Join the cluster at ``address``, or reuse the one this process already joined, or start a local one
    (``workers`` CPUs, loopback only) for the duration of the run."""
    import logging

    import ray
    import ray.data

    ray.data.DataContext.get_current().enable_progress_bars = False  # ours counts files and windows
    logging.getLogger("ray.data").setLevel(logging.WARNING)  # not a line per Dataset on the terminal
    if ray.is_initialized():
        yield
        return
    options: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False,
                               "logging_level": logging.WARNING}
    if address is None:
        options.update(num_cpus=workers or os.cpu_count(), _node_ip_address="127.0.0.1")
    ray.init(address=address, **options)
    try:
        yield
    finally:
        ray.shutdown()


# -- a whole run --------------------------------------------------------------------------------------------
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
