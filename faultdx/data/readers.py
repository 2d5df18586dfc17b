"""The user's own vibration files: CSV, NPY, WAV, MATLAB .mat and Parquet → ``SignalFile``.

The sampling rate is taken from the caller when given, else from the file where the format carries it: the
WAV header, an ``fs`` / ``sr`` / ``sampling_rate`` MAT variable or struct field, a CSV/Parquet column of that
name, Parquet schema metadata, a CSV/Parquet ``time`` column, or (for a CWRU publisher file ``<number>.mat``)
the catalogue. Every problem raises
:class:`SignalFileError` with a message naming it.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from faultdx.errors import InputError

RATE_NAMES = ("fs", "sr", "sampling_rate", "sample_rate", "samplerate")
TIME_NAMES = ("time", "t", "time_s", "timestamp")
SUPPORTED = (".csv", ".mat", ".npy", ".parquet", ".wav")


class SignalFileError(InputError):
    """A signal file or array that cannot be used, with the reason in the message."""


@dataclass(frozen=True)
class SignalFile:
    """A decoded signal: float32 ``[C, T]``, its sampling rate (None when unknown), channel names, source."""

    signal: np.ndarray
    sampling_rate: float | None
    channels: tuple[str, ...]
    source: str


def validate_signal(signal: np.ndarray, *, min_samples: int) -> np.ndarray:
    """Check a ``[T]`` or ``[C, T]`` signal → float32 ``[C, T]`` (empty, non-numeric, NaN/Inf, too short)."""
    try:
        x = np.asarray(signal, dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise SignalFileError(f"signal is not numeric ({exc})") from exc
    if x.ndim == 1:
        x = x[None, :]
    if x.ndim != 2:
        raise SignalFileError(f"signal must be 1-D [samples] or 2-D [channels, samples], got shape {x.shape}")
    if x.size == 0:
        raise SignalFileError("signal is empty (no samples)")
    bad = ~np.isfinite(x)
    if bad.any():
        channel, sample = (int(i[0]) for i in np.nonzero(bad))
        raise SignalFileError(
            f"signal contains {int(bad.sum())} NaN or Inf value(s) "
            f"(first at channel {channel}, sample {sample})"
        )
    if x.shape[1] < min_samples:
        raise SignalFileError(f"signal is too short: {x.shape[1]} samples, at least {min_samples} needed")
    return x


def _valid_rate(value: float, where: str) -> float:
    rate = float(value)
    if not np.isfinite(rate) or rate <= 0:
        raise SignalFileError(f"sampling rate from {where} must be a positive number, got {value!r}")
    return rate


def _orient(x: np.ndarray) -> np.ndarray:
    """2-D arrays come as [T, C] (columns) or [C, T]: the longer axis is time."""
    return x.T if x.ndim == 2 and x.shape[0] > x.shape[1] else x


def _rate_from_time(t: np.ndarray, where: str) -> float:
    steps = np.diff(np.asarray(t, dtype=np.float64))
    if steps.size == 0 or not np.all(steps > 0):
        raise SignalFileError(f"{where}: the time column must increase strictly")
    return _valid_rate(round(1.0 / float(np.median(steps)), 3), f"{where} time column")


def _from_table(frame, where: str, metadata: dict[str, str] | None = None) -> tuple[np.ndarray, float | None,
                                                                                 tuple[str, ...]]:
    """Columns of a table (CSV / Parquet) → signal, rate, channel names."""
    import pandas as pd

    rate = None
    for key, value in (metadata or {}).items():
        if key.lower() in RATE_NAMES:
            rate = _valid_rate(value, f"{where} metadata {key!r}")
    names = [str(c) for c in frame.columns]
    lowered = {n.lower(): n for n in names}
    for name in RATE_NAMES:
        if name in lowered:
            column = frame[lowered[name]].dropna()
            if column.empty:
                raise SignalFileError(f"{where}: column {lowered[name]!r} holds no sampling rate")
            rate = _valid_rate(column.iloc[0], f"{where} column {lowered[name]!r}")
            names.remove(lowered[name])
    for name in TIME_NAMES:
        if name in lowered and lowered[name] in names:
            if rate is None:
                rate = _rate_from_time(frame[lowered[name]].to_numpy(), where)
            names.remove(lowered[name])
    if not names:
        raise SignalFileError(f"{where}: no signal columns")
    columns = []
    for name in names:
        values = pd.to_numeric(frame[name], errors="coerce")
        text = frame[name][values.isna() & frame[name].notna()]
        if len(text):
            raise SignalFileError(
                f"{where}: column {name!r} is not numeric (row {text.index[0]}: {str(text.iloc[0])!r})"
            )
        columns.append(values.to_numpy(dtype=np.float64))
    return np.stack(columns), rate, tuple(names)


def _read_csv(data: bytes, where: str):
    import pandas as pd

    try:
        first_line = data.split(b"\n", 1)[0].decode("utf-8", errors="replace")
        headerless = all(_is_number(field) for field in first_line.split(","))
        frame = pd.read_csv(io.BytesIO(data), header=None if headerless else "infer")
        if headerless:
            frame.columns = [f"ch{i}" for i in range(frame.shape[1])]
    except pd.errors.EmptyDataError as exc:
        raise SignalFileError(f"{where}: the CSV file is empty") from exc
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise SignalFileError(f"{where}: not a readable CSV file ({exc})") from exc
    if frame.shape[0] == 0:
        raise SignalFileError(f"{where}: the CSV file has a header but no rows")
    return _from_table(frame, where)


def _is_number(text) -> bool:
    try:
        float(text)
    except (TypeError, ValueError):
        return False
    return True


def _read_parquet(data: bytes, where: str):
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(io.BytesIO(data))
    except (pa.ArrowException, OSError) as exc:
        raise SignalFileError(f"{where}: not a readable Parquet file ({exc})") from exc
    if table.num_rows == 0:
        raise SignalFileError(f"{where}: the Parquet file has no rows")
    metadata = {k.decode(errors="replace"): v.decode(errors="replace")
                for k, v in (table.schema.metadata or {}).items() if not k.startswith(b"pandas")}
    return _from_table(table.to_pandas(), where, metadata)


def _read_npy(data: bytes, where: str):
    try:
        x = np.load(io.BytesIO(data), allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise SignalFileError(f"{where}: not a readable NPY file ({exc})") from exc
    if not (np.issubdtype(x.dtype, np.number) or x.dtype == np.bool_):
        raise SignalFileError(f"{where}: the array is not numeric (dtype {x.dtype})")
    x = _orient(x)
    channels = 1 if x.ndim == 1 else x.shape[0]
    return x, None, tuple(f"ch{i}" for i in range(channels))


def _read_wav(data: bytes, where: str):
    from scipy.io import wavfile

    try:
        rate, x = wavfile.read(io.BytesIO(data))
    except (ValueError, EOFError, OSError) as exc:
        raise SignalFileError(f"{where}: not a readable WAV file ({exc})") from exc
    if np.issubdtype(x.dtype, np.integer):  # PCM: scale to [-1, 1)
        info = np.iinfo(x.dtype)
        x = (x.astype(np.float64) - (info.max + info.min + 1) / 2) / ((info.max - info.min + 1) / 2)
    x = x.T if x.ndim == 2 else x
    channels = 1 if x.ndim == 1 else x.shape[0]
    return x, _valid_rate(rate, f"{where} WAV header"), tuple(f"ch{i}" for i in range(channels))


def _mat_variables(mat: dict) -> dict[str, np.ndarray]:
    """Numeric MAT variables, with struct fields flattened to ``struct.field``."""
    out: dict[str, np.ndarray] = {}
    for name, value in mat.items():
        if name.startswith("__") or not isinstance(value, np.ndarray):
            continue
        if value.dtype.names:  # struct: take its fields (first element)
            for field in value.dtype.names:
                inner = np.asarray(value[field].flat[0]) if value.size else np.empty(0)
                if inner.dtype.kind in "U":
                    if inner.size == 1 and _is_number(inner.ravel()[0]):
                        out[f"{name}.{field}"] = np.asarray([float(inner.ravel()[0])])
                    continue
                if inner.dtype.kind in "biuf":
                    out[f"{name}.{field}"] = inner
        elif value.dtype.kind in "biuf":
            out[name] = value
    return out


def _cwru_rate(number: int) -> float | None:
    from faultdx.data.catalogue import cwru_file

    try:
        return cwru_file(number).sampling_rate
    except ValueError:
        return None


def _read_mat(data: bytes, where: str, stem: str, channel: str | int | None):
    from scipy.io import loadmat

    try:
        mat = loadmat(io.BytesIO(data))
    except NotImplementedError as exc:
        raise SignalFileError(f"{where}: MATLAB v7.3 (HDF5) files are not supported; save with -v7") from exc
    except Exception as exc:  # scipy raises several types for damaged files
        raise SignalFileError(f"{where}: not a readable MATLAB file ({exc})") from exc
    variables = _mat_variables(mat)
    rate = None
    for name, value in list(variables.items()):
        if name.rsplit(".", 1)[-1].lower() in RATE_NAMES and value.size == 1:
            rate = _valid_rate(value.ravel()[0], f"{where} variable {name!r}")
            del variables[name]
    signals = {n: v.ravel() for n, v in variables.items() if v.size > 1 and min(v.shape) == 1}
    own = {}
    if stem.isdigit():
        own = {n: v for n, v in signals.items() if re.fullmatch(rf"X0*{stem}_\w+_time", n)}
    if own and rate is None:  # a CWRU publisher file: its rate is in the catalogue, not in the file
        rate = _cwru_rate(int(stem))
    signals = own or signals  # CWRU files can also carry other records' variables: keep the file's own
    if isinstance(channel, str):  # pick before comparing lengths: one variable need not match the others
        picked = {n: v for n, v in signals.items() if n == channel or n.endswith(f"_{channel}_time")}
        signals = picked or signals
    if not signals:
        held = ", ".join(variables) or "none"
        raise SignalFileError(f"{where}: no numeric signal variable (numeric variables: {held})")
    lengths = {v.size for v in signals.values()}
    if len(lengths) > 1:
        detail = ", ".join(f"{n} ({v.size})" for n, v in signals.items())
        raise SignalFileError(
            f"{where}: signal variables differ in length ({detail}); choose one with channel="
        )
    return np.stack(list(signals.values())), rate, tuple(signals)


def _select(x: np.ndarray, names: tuple[str, ...], channel: str | int | None, where: str):
    if channel is None:
        return x, names
    if isinstance(channel, int):
        if not -len(names) <= channel < len(names):
            raise SignalFileError(f"{where}: channel index {channel} out of range; the file has {len(names)}")
        return x[channel: channel + 1 or None], (names[channel],)
    matches = [i for i, n in enumerate(names) if n == channel or n.endswith(f"_{channel}_time")]
    if not matches:
        raise SignalFileError(f"{where}: no channel {channel!r}; channels: {', '.join(names)}")
    return x[matches[:1]], (names[matches[0]],)


def read_signal(
    source: str | Path | bytes,
    *,
    filename: str | None = None,
    sampling_rate: float | None = None,
    channel: str | int | None = None,
    min_samples: int = 1,
) -> SignalFile:
    """Read a signal file (by path, or its bytes plus ``filename`` for the format) → :class:`SignalFile`.

    ``sampling_rate`` overrides any rate in the file. ``channel`` picks one channel by name (``"DE"`` matches
    a CWRU ``X105_DE_time``) or index; all channels otherwise. ``min_samples``: shortest acceptable signal.
    """
    if isinstance(source, bytes | bytearray):
        if not filename:
            raise SignalFileError("give a filename with the bytes so the format can be told by its extension")
        data, where = bytes(source), filename
    else:
        path = Path(source)
        filename = filename or path.name
        where = str(path)
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise SignalFileError(f"{where}: cannot read the file ({exc.strerror or exc})") from exc
    suffix = Path(filename).suffix.lower()
    if suffix not in SUPPORTED:
        raise SignalFileError(
            f"{where}: unsupported file type {suffix or '(no extension)'!r}; "
            f"supported: {', '.join(SUPPORTED)}"
        )
    if not data:
        raise SignalFileError(f"{where}: the file is empty (0 bytes)")
    if suffix == ".csv":
        x, rate, names = _read_csv(data, where)
    elif suffix == ".parquet":
        x, rate, names = _read_parquet(data, where)
    elif suffix == ".npy":
        x, rate, names = _read_npy(data, where)
    elif suffix == ".wav":
        x, rate, names = _read_wav(data, where)
    else:
        x, rate, names = _read_mat(data, where, Path(filename).stem, channel)
    x, names = _select(np.atleast_2d(np.asarray(x)), names, channel, where)
    if sampling_rate is not None:
        rate = _valid_rate(sampling_rate, "the sampling_rate argument")
    try:
        signal = validate_signal(x, min_samples=min_samples)
    except SignalFileError as exc:
        raise SignalFileError(f"{where}: {exc}") from exc
    return SignalFile(signal=signal, sampling_rate=rate, channels=names, source=where)
