"""Every signal file, read one way: CSV, NPY, WAV, MATLAB .mat and Parquet → ``SignalFile``.

One reader serves training (the publisher's files, through :mod:`faultdx.data.cwru` and
:mod:`faultdx.data.mfpt`), ``faultdx diagnose``, the service's uploads and the page. It is catalogue-aware: a
CWRU publisher file ``<number>.mat`` is read by the variables its catalogue entry names (``174.mat`` holds
``X173_*``), at the catalogue's sampling rate; MFPT's ``bearing`` struct is read by its fields.

Every size is known and budgeted **before** anything is decoded — MAT dimensions and classes (read from the
variable headers) and the inflated size of every compressed variable that will be read, Parquet row and column
counts (footer metadata), the NPY header, the WAV ``fmt``/``data`` chunks, a CSV's first line and its line
count — so that a small file that declares or decompresses to a huge signal is refused at once
(:class:`faultdx.errors.TooLarge`, HTTP 413). Types are strict: samples are real integers or floats; booleans,
complex numbers, text, objects and non-finite values are refused (:class:`SignalFileError`, HTTP 422) with a
message naming the problem, never coerced.

The sampling rate is taken from the caller when given, else from the file where the format carries it: the
WAV header, an ``fs`` / ``sr`` / ``sampling_rate`` MAT variable or struct field, a CSV/Parquet column of that
name, Parquet schema metadata, a CSV/Parquet ``time`` column, or the publisher's catalogue.
"""

from __future__ import annotations

import io
import json
import math
import re
import struct
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np

from faultdx.errors import InputError, TooLarge

RATE_NAMES = ("fs", "sr", "sampling_rate", "sample_rate", "samplerate")
TIME_NAMES = ("time", "t", "time_s", "timestamp")
SUPPORTED = (".csv", ".mat", ".npy", ".parquet", ".wav")
MAX_SAMPLES = 1 << 22  # 4,194,304 samples after decoding (all channels): 16 MB as float32
MAX_CHANNELS = 16
EXTRA_COLUMNS = 2  # a table may carry a time and a rate column besides its signal channels
MAX_MAT_VARIABLES = 1024
MAX_WAV_CHUNKS = 256
MAT_BYTES_PER_SAMPLE = 8  # the widest numeric class: bounds what a struct or a lying header may inflate to
MAT_SLACK_BYTES = 1 << 20  # names, headers, small fields
FILE_BYTES_PER_SAMPLE = 64  # a CSV sample with its time and rate columns fits; binary formats take at most 8
LISTED = 12  # names quoted in an error message

T = TypeVar("T")


class SignalFileError(InputError):
    """A signal file or array that cannot be used, with the reason in the message."""


@dataclass(frozen=True)
class SignalFile:
    """A decoded signal: float32 ``[C, T]``, its sampling rate (None when unknown), channel names, source."""

    signal: np.ndarray
    sampling_rate: float | None
    channels: tuple[str, ...]
    source: str


@dataclass(frozen=True)
class Budget:
    """How much one file may decode to: samples over all channels read, and channels."""

    max_samples: int = MAX_SAMPLES
    max_channels: int = MAX_CHANNELS

    def check(self, where: str, *, channels: int, samples: int, what: str = "") -> None:
        """Refuse (413) ``channels`` x ... = ``samples`` over the budget, naming the size and the limit."""
        if channels > self.max_channels:
            raise TooLarge(f"{where}: {channels:,} channels{what}; at most {self.max_channels} can be read "
                           "(pick one with channel)", "file")
        if samples > self.max_samples:
            raise TooLarge(f"{where}: {samples:,} samples{what}; the limit is {self.max_samples:,} samples "
                           "per file", "file")


@dataclass(frozen=True)
class _Pick:
    """Which channels to read: ``channel`` (a name or an index, must exist) or else ``default`` if present."""

    channel: str | int | None = None
    default: str | None = None

    def choose(self, names: Sequence[str], where: str) -> list[str]:
        if isinstance(self.channel, int):
            if not -len(names) <= self.channel < len(names):
                message = f"{where}: channel index {self.channel} out of range; the file has {len(names)}"
                raise SignalFileError(message, "channel")
            return [names[self.channel]]
        if self.channel is not None:
            matches = [n for n in names if _is_channel(n, self.channel)]
            if not matches:
                raise SignalFileError(
                    f"{where}: no channel {self.channel!r}; channels: {_listing(names)}", "channel"
                )
            return matches[:1]
        if self.default is not None and len(names) > 1:
            matches = [n for n in names if _is_channel(n, self.default)]
            if matches:
                return matches[:1]
        return list(names)


def parse_channel(text: str | None) -> str | int | None:
    """A channel as a user types it (form field, CLI option): an index when an integer (``"0"``, ``"-1"``)."""
    if text is None:
        return None
    text = text.strip()
    return int(text) if text.lstrip("-").isdigit() else text


def _is_channel(name: str, wanted: str) -> bool:
    """``DE`` names ``DE`` and a CWRU column ``X105_DE_time``."""
    return name == wanted or name.endswith(f"_{wanted}_time")


def _listing(names: Sequence[str]) -> str:
    shown = ", ".join(str(n)[:40] for n in names[:LISTED])
    return shown + (f", … ({len(names)} in all)" if len(names) > LISTED else "")


# ------------------------------------------------------------------------------------------- strict values
def validate_signal(signal: np.ndarray | Sequence, *, min_samples: int) -> np.ndarray:
    """Check a ``[T]`` or ``[C, T]`` signal of real numbers → float32 ``[C, T]``.

    Refused, each with its reason: booleans, complex numbers, text or objects, more than two dimensions, no
    samples, NaN or Inf (also values beyond the float32 range), fewer than ``min_samples`` samples.
    """
    try:
        raw = np.asarray(signal)
    except (TypeError, ValueError) as exc:
        raise SignalFileError(f"signal is not numeric ({exc})") from exc
    _check_dtype(raw.dtype, "signal")
    if raw.ndim == 1:
        raw = raw[None, :]
    if raw.ndim != 2:
        shape = raw.shape
        raise SignalFileError(f"signal must be 1-D [samples] or 2-D [channels, samples], got shape {shape}")
    if raw.size == 0:
        raise SignalFileError("signal is empty (no samples)")
    with np.errstate(over="ignore"):
        x = raw.astype(np.float32)
    bad = ~np.isfinite(x)
    if bad.any():
        channel, sample = (int(i[0]) for i in np.nonzero(bad))
        first = raw[channel, sample]
        if raw.dtype.kind == "f" and np.isfinite(first):
            raise SignalFileError(
                f"signal has {int(bad.sum())} value(s) beyond the float32 range ±3.4e38 "
                f"(first at channel {channel}, sample {sample}: {float(first):.3g})"
            )
        raise SignalFileError(
            f"signal contains {int(bad.sum())} NaN or Inf value(s) "
            f"(first at channel {channel}, sample {sample})"
        )
    if x.shape[1] < min_samples:
        raise SignalFileError(f"signal is too short: {x.shape[1]} samples, at least {min_samples} needed")
    return x


def _check_dtype(dtype: np.dtype, what: str) -> None:
    """Real integers and floats only: no silent coercion of booleans, complex numbers, text or objects."""
    if dtype.kind in "iuf":
        return
    if dtype.kind == "b":
        raise SignalFileError(f"{what} is boolean (dtype {dtype}); send numbers")
    if dtype.kind == "c":
        raise SignalFileError(f"{what} is complex (dtype {dtype}); send real samples")
    raise SignalFileError(f"{what} is not numeric (dtype {dtype})")


def _valid_rate(value: object, where: str) -> float:
    try:
        rate = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        rate = math.nan
    if not math.isfinite(rate) or rate <= 0:
        raise SignalFileError(f"sampling rate from {where} must be a positive number, got {repr(value)[:40]}")
    return rate


def _decoded(where: str, kind: str, decode: Callable[[], T]) -> T:
    """Run a third-party decoder on untrusted bytes; its many error types become one 422 naming the file."""
    try:
        return decode()
    except MemoryError:
        raise  # a budget was missed: a bug, not bad input
    except InputError:
        raise
    except Exception as exc:  # scipy, pyarrow and pandas raise many types for damaged files
        raise SignalFileError(f"{where}: not a readable {kind} file ({type(exc).__name__}: {exc})") from exc


# --------------------------------------------------------------------------------------------- tables
def _table_columns(where: str, names: list[str], rows: int, pick, budget) -> tuple[list[str], str | None,
                                                                                   str | None]:
    """The chosen signal columns (budgeted before anything is decoded), and the rate and time columns."""
    rate_col, time_col, signals = _table_roles(names)
    if not signals:
        raise SignalFileError(f"{where}: no signal columns")
    chosen = pick.choose(signals, where)
    budget.check(where, channels=len(chosen), samples=rows * len(chosen), what=f" ({rows:,} rows)")
    return chosen, rate_col, time_col


def _table_roles(names: Sequence[str]) -> tuple[str | None, str | None, list[str]]:
    """Column names → (rate column, time column, signal columns)."""
    lowered = {n.lower(): n for n in names}
    rate = next((lowered[n] for n in RATE_NAMES if n in lowered), None)
    time = next((lowered[n] for n in TIME_NAMES if n in lowered), None)
    return rate, time, [n for n in names if n not in (rate, time)]


def _rate_from_time(t: np.ndarray, where: str) -> float:
    steps = np.diff(np.asarray(t, dtype=np.float64))
    if steps.size == 0 or not np.all(steps > 0):
        raise SignalFileError(f"{where}: the time column must increase strictly")
    return _valid_rate(round(1.0 / float(np.median(steps)), 3), f"{where} time column")


def _check_columns(where: str, columns: int, budget: Budget) -> None:
    if columns > budget.max_channels + EXTRA_COLUMNS:
        raise TooLarge(
            f"{where}: {columns:,} columns; at most {budget.max_channels} signal channels can be read "
            f"(plus a time and a rate column)", "file"
        )


def _read_csv(data: bytes, where: str, pick: _Pick, budget: Budget):
    end = data.find(b"\n")
    first = data if end < 0 else data[:end]
    _check_columns(where, first.count(b",") + 1, budget)  # before any parsing: 10^5 columns cost nothing
    import pandas as pd

    headerless = all(_is_number(f) for f in first.decode("utf-8", errors="replace").split(","))
    lines = data.count(b"\n") + (not data.endswith(b"\n"))
    rows = lines - (not headerless)
    if headerless:
        names = [f"ch{i}" for i in range(first.count(b",") + 1)]
    else:
        header = _decoded(where, "CSV", lambda: pd.read_csv(io.BytesIO(data), nrows=0))
        names = [str(c) for c in header.columns]
    chosen, rate_col, time_col = _table_columns(where, names, rows, pick, budget)
    wanted = [n for n in (*chosen, rate_col, time_col) if n is not None]
    usecols = [names.index(n) for n in wanted]
    frame = _decoded(where, "CSV", lambda: pd.read_csv(
        io.BytesIO(data), header=None if headerless else 0, usecols=usecols, skip_blank_lines=True,
    ))
    frame.columns = [names[i] for i in sorted(usecols)]
    if frame.shape[0] == 0:
        raise SignalFileError(f"{where}: the CSV file has a header but no rows")
    columns = {n: _table_column(frame[n], n, where) for n in frame.columns}
    return _from_columns(columns, chosen, rate_col, time_col, where)


def _table_column(series, name: str, where: str) -> np.ndarray:
    """One pandas column → float64 values, or the first cell that is not a number."""
    import pandas as pd

    if series.dtype.kind in "iuf":
        return series.to_numpy(dtype=np.float64)
    if series.dtype.kind == "b":
        raise SignalFileError(f"{where}: column {name!r} is boolean; send numbers")
    values = pd.to_numeric(series, errors="coerce")
    text = series[values.isna() & series.notna()]
    if len(text):
        raise SignalFileError(
            f"{where}: column {name!r} is not numeric (row {text.index[0]}: {str(text.iloc[0])[:40]!r})"
        )
    return values.to_numpy(dtype=np.float64)


def _from_columns(
    columns: dict[str, np.ndarray], chosen: list[str], rate_col: str | None, time_col: str | None, where: str,
    rate: float | None = None,
) -> tuple[np.ndarray, float | None, tuple[str, ...]]:
    """Signal columns, and the rate from a rate column (first value) or a time column."""
    if rate_col is not None:
        given = columns[rate_col][~np.isnan(columns[rate_col])]
        if given.size == 0:
            raise SignalFileError(f"{where}: column {rate_col!r} holds no sampling rate")
        rate = _valid_rate(given[0], f"{where} column {rate_col!r}")
    if time_col is not None and rate is None:
        rate = _rate_from_time(columns[time_col], where)
    return np.stack([columns[n] for n in chosen]), rate, tuple(chosen)


def _is_number(text) -> bool:
    try:
        float(text)
    except (TypeError, ValueError):
        return False
    return True


def _read_parquet(data: bytes, where: str, pick: _Pick, budget: Budget):
    import pyarrow as pa
    import pyarrow.parquet as pq

    parquet = _decoded(where, "Parquet", lambda: pq.ParquetFile(io.BytesIO(data)))
    meta, schema = parquet.metadata, parquet.schema_arrow
    _check_columns(where, meta.num_columns, budget)
    rows = meta.num_rows
    if rows == 0:
        raise SignalFileError(f"{where}: the Parquet file has no rows")
    metadata = schema.metadata or {}
    index = _pandas_index_columns(metadata.get(b"pandas"))
    names = [n for n in schema.names if n not in index]
    chosen, rate_col, time_col = _table_columns(where, names, rows, pick, budget)
    wanted = [n for n in (*chosen, rate_col, time_col) if n is not None]
    for name in wanted:
        kind = schema.field(name).type
        if pa.types.is_boolean(kind):
            raise SignalFileError(f"{where}: column {name!r} is boolean; send numbers")
        if not (pa.types.is_integer(kind) or pa.types.is_floating(kind)):
            raise SignalFileError(f"{where}: column {name!r} is not numeric (type {kind})")
    table = _decoded(where, "Parquet", lambda: parquet.read(columns=wanted))
    columns = {n: table.column(n).to_numpy().astype(np.float64) for n in wanted}
    rate = None
    for raw_key, value in metadata.items():
        key = raw_key.decode(errors="replace")
        if key.lower() in RATE_NAMES:
            rate = _valid_rate(value.decode(errors="replace"), f"{where} metadata {key!r}")
    return _from_columns(columns, chosen, rate_col, time_col, where, rate)


def _pandas_index_columns(raw: bytes | None) -> set[str]:
    """Columns pandas stored its index in (not signals)."""
    if not raw:
        return set()
    try:
        described = json.loads(raw)
    except ValueError:
        return set()
    index = described.get("index_columns", []) if isinstance(described, dict) else []
    return {c for c in index if isinstance(c, str)}


# ----------------------------------------------------------------------------------------------- NPY, WAV
def _read_npy(data: bytes, where: str, pick: _Pick, budget: Budget):
    buf = io.BytesIO(data)

    def header() -> tuple[tuple[int, ...], bool, np.dtype]:
        version = np.lib.format.read_magic(buf)
        if version == (1, 0):
            return np.lib.format.read_array_header_1_0(buf)
        return np.lib.format.read_array_header_2_0(buf)

    shape, fortran, dtype = _decoded(where, "NPY", header)
    try:
        _check_dtype(dtype, "the array")
    except SignalFileError as exc:
        raise SignalFileError(f"{where}: {exc}") from exc
    if len(shape) not in (1, 2) or any(d < 0 for d in shape):
        raise SignalFileError(f"{where}: the array must be [samples] or 2-D, got shape {shape}")
    count = math.prod(shape)
    budget.check(where, channels=1 if len(shape) == 1 else min(shape), samples=count,
                 what=f" (shape {shape})")
    offset = buf.tell()
    if len(data) - offset < count * dtype.itemsize:
        raise SignalFileError(f"{where}: the file is truncated: its header declares "
                              f"{count * dtype.itemsize:,} bytes of data, it holds {len(data) - offset:,}")
    x = np.frombuffer(data, dtype=dtype, count=count, offset=offset)
    x = x.reshape(shape, order="F" if fortran else "C")
    x = _orient(x)
    names = [f"ch{i}" for i in range(1 if x.ndim == 1 else x.shape[0])]
    chosen = pick.choose(names, where)
    x = np.atleast_2d(x)[[names.index(n) for n in chosen]]
    return x, None, tuple(chosen)


def _orient(x: np.ndarray) -> np.ndarray:
    """2-D arrays come as [T, C] (columns) or [C, T]: the longer axis is time."""
    return x.T if x.ndim == 2 and x.shape[0] > x.shape[1] else x


WAV_PCM, WAV_FLOAT, WAV_EXTENSIBLE = 1, 3, 0xFFFE


def _read_wav(data: bytes, where: str, pick: _Pick, budget: Budget):
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        if data[:4] in (b"RIFX", b"RF64"):
            raise SignalFileError(f"{where}: {data[:4].decode()} WAV files are not supported; save as RIFF")
        raise SignalFileError(f"{where}: not a readable WAV file (no RIFF/WAVE header)")
    fmt = None
    pos = 12
    for _ in range(MAX_WAV_CHUNKS):
        if pos + 8 > len(data):
            break
        chunk, size = data[pos: pos + 4], struct.unpack_from("<I", data, pos + 4)[0]
        body = pos + 8
        if chunk == b"fmt ":
            fmt = _wav_format(data, body, size, where)
        elif chunk == b"data":
            if fmt is None:
                raise SignalFileError(f"{where}: not a readable WAV file (data chunk before the fmt chunk)")
            return _wav_samples(data[body: body + size], fmt, where, pick, budget)
        pos = body + size + (size & 1)
    else:
        raise SignalFileError(f"{where}: not a readable WAV file (more than {MAX_WAV_CHUNKS} chunks)")
    raise SignalFileError(f"{where}: not a readable WAV file (truncated: no complete fmt and data chunks)")


def _wav_format(data: bytes, body: int, size: int, where: str) -> tuple[int, int, float, int]:
    """The ``fmt`` chunk → (encoding, channels, rate, bits per sample), each checked."""
    if size < 16 or body + 16 > len(data):
        raise SignalFileError(f"{where}: not a readable WAV file (fmt chunk truncated)")
    tag, channels, rate, _, block, bits = struct.unpack_from("<HHIIHH", data, body)
    if tag == WAV_EXTENSIBLE and size >= 26 and body + 26 <= len(data):
        tag = struct.unpack_from("<H", data, body + 24)[0]  # the sub-format GUID starts with the tag
    valid = {WAV_PCM: (8, 16, 24, 32), WAV_FLOAT: (32, 64)}
    if tag not in valid:
        raise SignalFileError(f"{where}: WAV encoding {tag:#x} is not supported (PCM or IEEE float only)")
    if bits not in valid[tag]:
        raise SignalFileError(f"{where}: {bits} bits per sample is not supported for this WAV encoding "
                              f"({', '.join(map(str, valid[tag]))})")
    if channels == 0 or block != channels * bits // 8:
        raise SignalFileError(f"{where}: inconsistent WAV header ({channels} channels, {bits} bits, "
                              f"block size {block})")
    return tag, channels, _valid_rate(rate, f"{where} WAV header"), bits


def _wav_samples(payload: bytes, fmt: tuple[int, int, float, int], where: str, pick: _Pick, budget: Budget):
    tag, channels, rate, bits = fmt
    frames = len(payload) // (channels * bits // 8)
    names = [f"ch{i}" for i in range(channels)]
    budget.check(where, channels=channels, samples=frames * channels, what=" in the WAV data chunk")
    chosen = pick.choose(names, where)
    raw = payload[: frames * channels * bits // 8]
    if tag == WAV_FLOAT:
        x = np.frombuffer(raw, dtype=f"<f{bits // 8}").astype(np.float64)
    elif bits == 8:  # unsigned
        x = (np.frombuffer(raw, dtype=np.uint8).astype(np.float64) - 128.0) / 128.0
    elif bits == 24:
        b = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 3).astype(np.int32)
        x = ((b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)) << 8 >> 8) / float(1 << 23)
    else:
        x = np.frombuffer(raw, dtype=f"<i{bits // 8}").astype(np.float64) / float(1 << (bits - 1))
    x = x.reshape(frames, channels).T
    return x[[names.index(n) for n in chosen]], rate, tuple(chosen)


# ----------------------------------------------------------------------------------------------------- MAT
MI_INT8, MI_UINT32, MI_INT32, MI_MATRIX, MI_COMPRESSED = 1, 6, 5, 14, 15
NUMERIC_CLASSES = ("double", "single", "int8", "uint8", "int16", "uint16", "int32", "uint32", "int64",
                   "uint64")
MAT_CLASSES = dict(enumerate(("unknown", "cell", "struct", "object", "char", "sparse", *NUMERIC_CLASSES,
                              "function", "opaque")))  # the class code in a variable's array flags
MAT_HEADER_BYTES = 1024  # a variable's flags, dimensions and name fit in its first kilobyte


@dataclass(frozen=True)
class _MatVar:
    """One variable as its header declares it, and where its element lies in the file (MAT 5 only)."""

    name: str
    shape: tuple[int, ...]
    kind: str  # the class as scipy's whosmat names it; "logical" for logical arrays
    span: tuple[int, int] | None = None  # the element's bytes, tag included
    compressed: bool = False


def _mat_damaged(where: str, why: str) -> SignalFileError:
    return SignalFileError(f"{where}: not a readable MATLAB file ({why})")


def _mat_variables(data: bytes, where: str) -> list[_MatVar]:
    """Every variable's name, dimensions and class, from the headers alone (nothing is inflated past them).

    scipy's ``whosmat`` inflates a whole 128 KB compressed block per variable (about 130 MB of zeros), so
    MAT 5 headers are read here; MAT 4 files (never compressed) go through ``whosmat``; 7.3 (HDF5) is refused.
    """
    if len(data) >= 128 and data[126:128] in (b"IM", b"MI"):
        order = "<" if data[126:128] == b"IM" else ">"
        version = struct.unpack_from(order + "H", data, 124)[0]
        if version == 0x0200:
            raise SignalFileError(f"{where}: MATLAB v7.3 (HDF5) files are not supported; save with -v7")
        if version == 0x0100:
            return _mat5_variables(data, order, where)
    from scipy.io import whosmat

    info = _decoded(where, "MATLAB", lambda: whosmat(io.BytesIO(data)))
    if len(info) > MAX_MAT_VARIABLES:
        raise TooLarge(f"{where}: {len(info):,} MATLAB variables; at most {MAX_MAT_VARIABLES}", "file")
    return [_MatVar(n, tuple(int(d) for d in s), c) for n, s, c in info]


def _mat5_variables(data: bytes, order: str, where: str) -> list[_MatVar]:
    out: list[_MatVar] = []
    pos = 128
    while pos + 8 <= len(data):
        if len(out) == MAX_MAT_VARIABLES:
            raise TooLarge(f"{where}: more than {MAX_MAT_VARIABLES} MATLAB variables", "file")
        mdtype, nbytes = struct.unpack_from(order + "II", data, pos)
        end, compressed = pos + 8 + nbytes, mdtype == MI_COMPRESSED
        if end > len(data):
            raise _mat_damaged(where, f"variable {len(out) + 1} is truncated")
        head = memoryview(data)[pos + 8: min(end, pos + 8 + MAT_HEADER_BYTES)]
        if compressed:
            try:
                _, first = _inflate(memoryview(data)[pos + 8: end], MAT_HEADER_BYTES, keep=MAT_HEADER_BYTES)
                head = memoryview(first)
            except zlib.error as exc:
                raise _mat_damaged(where, f"variable {len(out) + 1}: {exc}") from exc
            if len(head) < 8:
                raise _mat_damaged(where, f"variable {len(out) + 1} is empty")
            mdtype = struct.unpack_from(order + "I", head, 0)[0]
            head = head[8:]
        if mdtype != MI_MATRIX:
            raise _mat_damaged(where, f"element {len(out) + 1} is not a variable (type {mdtype})")
        if len(head):  # an empty element holds nothing (scipy refuses it)
            name, shape, kind = _mat5_header(head, order, where)
            out.append(_MatVar(name, shape, kind, (pos, end), compressed))
        pos = end
    return out


def _mat5_header(head: memoryview, order: str, where: str) -> tuple[str, tuple[int, ...], str]:
    """An miMATRIX element's first bytes → (name, dimensions, class)."""

    def element(pos: int, expected: int) -> tuple[memoryview, int]:
        if pos + 8 > len(head):
            raise _mat_damaged(where, "a variable header is truncated")
        word, nbytes = struct.unpack_from(order + "II", head, pos)
        if word >> 16:  # small data element: type and size in one word, at most 4 bytes of data after it
            word, nbytes, start, end = word & 0xFFFF, word >> 16, pos + 4, pos + 8
        else:
            start, end = pos + 8, pos + 8 + nbytes + (-nbytes % 8)
        if word != expected or nbytes > MAT_HEADER_BYTES or start + nbytes > len(head):
            raise _mat_damaged(where, "a variable header is damaged")
        return head[start: start + nbytes], end

    flags, pos = element(0, MI_UINT32)
    if len(flags) < 4:
        raise _mat_damaged(where, "a variable header is damaged")
    word = struct.unpack_from(order + "I", flags, 0)[0]
    kind = MAT_CLASSES.get(word & 0xFF, "unknown")
    if kind in ("function", "opaque", "unknown"):
        return "", (), kind
    dims, pos = element(pos, MI_INT32)
    shape = struct.unpack_from(f"{order}{len(dims) // 4}i", dims, 0)
    if any(d < 0 for d in shape):
        raise _mat_damaged(where, f"negative dimensions {shape}")
    name, _ = element(pos, MI_INT8)
    logical = bool(word >> 9 & 1)
    return bytes(name).decode("latin1"), tuple(shape), "logical" if logical else kind


def _inflate(packed: memoryview, limit: int, keep: int = 0) -> tuple[int, bytes]:
    """Inflate ``packed`` 64 KB at a time, counting the bytes without keeping them (but the first ``keep``);
    stops once past ``limit`` → (bytes counted, the first ``keep`` bytes)."""
    inflater = zlib.decompressobj()
    total, head = 0, b""
    for start in range(0, len(packed), 1 << 16):
        pending = packed[start: start + (1 << 16)]
        while pending:
            out = inflater.decompress(pending, min(1 << 20, limit + 1))
            head += out[: max(keep - len(head), 0)]
            total += len(out)
            if total > limit or inflater.eof:
                return total, head
            pending = inflater.unconsumed_tail
    return total, head


def _inflated_size(data: bytes, var: _MatVar, limit: int, where: str) -> int:
    """Bytes a variable's element inflates to (its tag's count when stored uncompressed)."""
    assert var.span is not None
    start, end = var.span
    if not var.compressed:
        return end - start
    try:
        return _inflate(memoryview(data)[start + 8: end], limit)[0]
    except zlib.error as exc:
        raise _mat_damaged(where, f"variable {var.name[:40]!r}: {exc}") from exc


def _load_mat(data: bytes, where: str, wanted: Sequence[_MatVar], budget: Budget) -> dict[str, np.ndarray]:
    """The ``wanted`` variables, after checking what they inflate to (structs and lying headers too).

    Of a MAT 5 file only their own elements are handed to scipy, so that it never touches the others.
    """
    from scipy.io import loadmat

    source = data
    if all(v.span is not None for v in wanted):
        limit = MAT_BYTES_PER_SAMPLE * budget.max_samples + MAT_SLACK_BYTES
        total = 0
        for var in wanted:
            total += _inflated_size(data, var, limit - total, where)
            if total > limit:
                raise TooLarge(f"{where}: variable {var.name[:40]!r} decodes to more than {limit:,} bytes "
                               f"(the limit is {budget.max_samples:,} samples)", "file")
        header = data[:116] + bytes(8) + data[124:128]  # no subsystem data offset: it is not copied
        source = header + b"".join(data[v.span[0]: v.span[1]] for v in wanted)  # type: ignore[index]
    names = [v.name for v in wanted]
    return _decoded(where, "MATLAB", lambda: loadmat(io.BytesIO(source), variable_names=names))


def read_mat(source: str | Path | bytes, names: Sequence[str], *, filename: str | None = None,
             max_samples: int = MAX_SAMPLES) -> dict[str, np.ndarray]:
    """The MAT variables ``names`` (all must exist) → arrays, within ``max_samples`` over all of them.

    For the publisher's files, whose layout a dataset module knows (``X105_DE_time``, MFPT's ``bearing``).
    """
    data, where, _ = _bytes_of(source, filename, max_samples)
    budget = Budget(max_samples=max_samples, max_channels=max(len(names), 1))
    variables = {v.name: v for v in _mat_variables(data, where)}
    missing = [n for n in names if n not in variables]
    if missing:
        raise SignalFileError(f"{where}: no variable {', '.join(missing)} (the file holds "
                              f"{_listing(list(variables)) or 'nothing'})")
    wanted = [variables[n] for n in names]
    budget.check(where, channels=len(names), samples=sum(math.prod(v.shape) for v in wanted
                                                          if v.kind != "struct"))
    return _load_mat(data, where, wanted, budget)


def _catalogue_number(stem: str) -> tuple[int, float | None] | None:
    """A CWRU publisher file name → (the number in its variable names, its sampling rate)."""
    if not stem.isdigit():
        return None
    from faultdx.data.catalogue import cwru_files

    for entry in cwru_files():
        if entry.number == int(stem):
            return entry.variable_number, entry.sampling_rate
    return int(stem), None


def _read_mat(data: bytes, where: str, stem: str, pick: _Pick, budget: Budget):
    variables = {v.name: v for v in _mat_variables(data, where)}
    vectors = {n: math.prod(v.shape) for n, v in variables.items() if (v.kind in NUMERIC_CLASSES or
               v.kind == "logical") and len(v.shape) == 2 and min(v.shape) == 1 and math.prod(v.shape) > 1}
    scalars = [n for n, v in variables.items()
               if v.kind in NUMERIC_CLASSES and math.prod(v.shape) == 1 and n.lower() in RATE_NAMES]
    publisher, catalogue_rate = _catalogue_number(stem), None
    if publisher is not None:  # a CWRU file: its own record's columns (some files carry another's too)
        number, rate = publisher
        own = {n: size for n, size in vectors.items() if re.fullmatch(rf"X0*{number}_[A-Za-z]+_time", n)}
        if own:
            vectors, catalogue_rate = own, rate
    structs = [n for n, v in variables.items() if v.kind == "struct" and math.prod(v.shape) and not vectors]
    chosen = pick.choose(list(vectors), where) if vectors else []
    logical = [n for n in chosen if variables[n].kind == "logical"]
    if logical:  # scipy would hand them over as uint8
        raise SignalFileError(f"{where}: variable {logical[0]!r} is boolean (logical); send numbers")
    _same_length(chosen, vectors, where)
    samples = sum(vectors[n] for n in chosen)
    budget.check(where, channels=len(chosen), samples=samples, what=" in MAT variables")
    if not chosen and not structs:
        held = _listing([f"{n} {'x'.join(map(str, v.shape))} {v.kind}" for n, v in variables.items()])
        raise SignalFileError(f"{where}: no numeric signal variable (variables: {held or 'none'})")
    mat = _load_mat(data, where, [variables[n] for n in (*chosen, *scalars, *structs)], budget)
    arrays = {n: mat[n] for n in chosen}
    fields = _struct_fields(mat, structs)
    if structs:  # MFPT's layout: the signal is a struct field
        arrays = {n: v for n, v in fields.items() if v.ndim == 2 and v.size > 1 and min(v.shape) == 1}
        if not arrays:
            raise SignalFileError(f"{where}: no numeric signal variable or struct field "
                                  f"(fields: {_listing(list(fields)) or 'none'})")
        chosen = pick.choose(list(arrays), where)
        _same_length(chosen, {n: arrays[n].size for n in chosen}, where)
        budget.check(where, channels=len(chosen), samples=sum(arrays[n].size for n in chosen))
    rate = None
    for name, value in [*((n, mat[n]) for n in scalars), *fields.items()]:
        if name.rsplit(".", 1)[-1].lower() in RATE_NAMES and value.size == 1 and rate is None:
            rate = _valid_rate(value.ravel()[0], f"{where} variable {name!r}")
    columns = []
    for name in chosen:
        try:
            _check_dtype(arrays[name].dtype, f"variable {name!r}")
        except SignalFileError as exc:
            raise SignalFileError(f"{where}: {exc}") from exc
        columns.append(arrays[name].ravel())
    return np.stack(columns), rate if rate is not None else catalogue_rate, tuple(chosen)


def _same_length(chosen: Sequence[str], sizes: dict[str, int], where: str) -> None:
    if len({sizes[n] for n in chosen}) > 1:
        detail = ", ".join(f"{n} ({sizes[n]})" for n in chosen[:LISTED])
        message = f"{where}: signal variables differ in length ({detail}); choose one with channel="
        raise SignalFileError(message)


def _struct_fields(mat: dict, structs: Sequence[str]) -> dict[str, np.ndarray]:
    """Numeric fields of each struct's first element as ``struct.field`` (a numeric string counts: '50')."""
    out: dict[str, np.ndarray] = {}
    for name in structs:
        value = mat.get(name)
        if not isinstance(value, np.ndarray) or not value.dtype.names or not value.size:
            continue
        for field in value.dtype.names[:LISTED * 4]:
            inner = np.asarray(value[field].flat[0])
            if inner.dtype.kind == "U":
                if inner.size == 1 and _is_number(inner.ravel()[0]):
                    out[f"{name}.{field}"] = np.asarray([float(inner.ravel()[0])])
            elif inner.dtype.kind in "biufc":
                out[f"{name}.{field}"] = inner
    return out


# ---------------------------------------------------------------------------------------------- the entry
def _bytes_of(source: str | Path | bytes, filename: str | None, max_samples: int) -> tuple[bytes, str, str]:
    """(bytes, where to say the problem is, the name that tells the format); a file on disk larger than any
    encoding of ``max_samples`` samples is not even read."""
    if isinstance(source, bytes | bytearray):
        if not filename:
            raise SignalFileError("give a filename with the bytes so the format can be told by its extension")
        return bytes(source), filename, filename
    path = Path(source)
    limit = FILE_BYTES_PER_SAMPLE * max_samples + MAT_SLACK_BYTES
    try:
        size = path.stat().st_size
        if size > limit:
            raise TooLarge(f"{path}: {size:,} bytes; a file of at most {max_samples:,} samples takes at most "
                           f"{limit:,}", "file")
        data = path.read_bytes()
    except OSError as exc:
        raise SignalFileError(f"{path}: cannot read the file ({exc.strerror or exc})") from exc
    return data, str(path), filename or path.name


READERS = {".csv": _read_csv, ".npy": _read_npy, ".parquet": _read_parquet, ".wav": _read_wav}


def read_signal(
    source: str | Path | bytes,
    *,
    filename: str | None = None,
    sampling_rate: float | None = None,
    channel: str | int | None = None,
    default_channel: str | None = None,
    min_samples: int = 1,
    max_samples: int = MAX_SAMPLES,
    max_channels: int = MAX_CHANNELS,
) -> SignalFile:
    """Read a signal file (by path, or its bytes plus ``filename`` for the format) → :class:`SignalFile`.

    ``sampling_rate`` overrides any rate in the file. ``channel`` picks one channel by name (``"DE"`` matches
    a CWRU ``X105_DE_time``) or index; without it, ``default_channel`` is picked when the file has several
    channels and names it (a one-channel model's channel), else all channels are read. ``min_samples``:
    shortest acceptable signal; ``max_samples`` (over the channels read) and ``max_channels``: the budget,
    checked before decoding (:class:`~faultdx.errors.TooLarge` past it).
    """
    data, where, filename = _bytes_of(source, filename, max_samples)
    suffix = Path(filename).suffix.lower()
    if suffix not in SUPPORTED:
        raise SignalFileError(
            f"{where}: unsupported file type {suffix[:20] or '(no extension)'!r}; "
            f"supported: {', '.join(SUPPORTED)}"
        )
    if not data:
        raise SignalFileError(f"{where}: the file is empty (0 bytes)")
    pick, budget = _Pick(channel, default_channel), Budget(max_samples, max_channels)
    if suffix == ".mat":
        x, rate, names = _read_mat(data, where, Path(filename).stem, pick, budget)
    else:
        x, rate, names = READERS[suffix](data, where, pick, budget)
    if sampling_rate is not None:
        rate = _valid_rate(sampling_rate, "the sampling_rate argument")
    try:
        signal = validate_signal(x, min_samples=min_samples)
    except SignalFileError as exc:
        raise SignalFileError(f"{where}: {exc}") from exc
    return SignalFile(signal=signal, sampling_rate=rate, channels=names, source=where)
