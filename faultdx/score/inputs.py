"""Which files a scoring run reads, and each one's machine context: discovery, the sidecar table, flags."""

from __future__ import annotations

import glob
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pyarrow as pa

from faultdx.errors import InputError

SIDECAR_FIELDS = ("asset", "rpm", "bearing", "rate", "measured_at")


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


def check_context(asset: Any = None, rpm: Any = None, bearing: Any = None, rate: Any = None,
                  measured_at: Any = None, where: str = "") -> dict[str, Any]:
    """Validated machine-context values (None where not given); errors name ``where`` + the field."""
    from faultdx.context import ContextError, check_rpm
    from faultdx.data.bearing import BearingError, parse_bearing
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
        except BearingError as err:
            raise ScoreInputError(f"{where}{err}", "bearing") from None
        out["bearing"] = str(bearing)
    if _given(measured_at):
        out["measured_at"] = _measurement_time(measured_at, where).isoformat()
    return out


def _measurement_time(value: Any, where: str) -> datetime:
    """A given measurement time, in UTC and within the asset history's bounds (1970 .. now + the clock skew
    it allows): a recording dated 9999 would stay its asset's "latest" for good."""
    from faultdx.monitor.crud import check_measured_at

    when = as_utc(value, where)
    try:
        return check_measured_at(when, datetime.now(timezone.utc))
    except InputError as err:
        raise ScoreInputError(f"{where}{err}", "measured_at") from None


def as_utc(value: Any, where: str = "") -> datetime:
    """An ISO 8601 time (or a datetime) in UTC; a time without a zone is taken as UTC."""
    try:
        when = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
        return when.replace(tzinfo=timezone.utc) if when.tzinfo is None else when.astimezone(timezone.utc)
    except ValueError:
        message = f"{where}measured_at: not an ISO 8601 time, got {value!r}"
        raise ScoreInputError(message, "measured_at") from None
    except OverflowError:  # year 1 or 9999 with an offset: no such time in UTC
        message = f"{where}measured_at: {value!r} is out of range in UTC"
        raise ScoreInputError(message, "measured_at") from None


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

