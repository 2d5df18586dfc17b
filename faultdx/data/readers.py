"""Every signal file, read one way: CSV, NPY, WAV, MATLAB .mat and Parquet → ``SignalFile``.

One reader serves training (the publisher's files, through :mod:`faultdx.data.cwru` and
:mod:`faultdx.data.mfpt`), ``faultdx diagnose``, ``faultdx score``, the service's uploads and the page. Each
format has its own module in :mod:`faultdx.data.formats`; this one opens the file, tells the format by the
extension and checks what every format shares.

Every size is known and budgeted **before** anything is decoded: a path must be a regular file (a FIFO, a
device or a link to one is refused without being opened for reading) whose size on disk fits the budget, then
each format checks what its headers declare — MAT dimensions and classes and the inflated size of every
compressed variable that will be read (stopped as soon as it passes its header's size), Parquet row and
column counts (footer metadata), the NPY header, a CSV's first line and its line count; a WAV file's size is
capped at 8 bytes per sample — so that a small file that declares or decompresses to a huge signal is refused
at once (:class:`faultdx.errors.TooLarge`, HTTP 413). Types are strict: samples are real integers or floats;
booleans, complex numbers, text, objects and non-finite values are refused (:class:`SignalFileError`, HTTP
422) with a message naming the problem, never coerced.

The sampling rate is taken from the caller when given, else from the file where the format carries it: the
WAV header, an ``fs`` / ``sr`` / ``sampling_rate`` MAT variable or struct field, a CSV/Parquet column of that
name, Parquet schema metadata, a CSV/Parquet ``time`` column, or the publisher's catalogue (a file named like
a CWRU publisher file, see :func:`faultdx.data.catalogue.cwru_own_columns`).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from faultdx.data.formats import wav
from faultdx.data.formats.contract import Budget, Pick, SignalFileError, check_dtype, valid_rate
from faultdx.data.formats.csvfile import read_csv
from faultdx.data.formats.mat import read_mat_signal, read_named
from faultdx.data.formats.mat5 import MAT_SLACK_BYTES
from faultdx.data.formats.npy import read_npy
from faultdx.data.formats.parquet import read_parquet
from faultdx.errors import TooLarge
from faultdx.limits import MAX_CHANNELS, MAX_SAMPLES

__all__ = ["MAX_CHANNELS", "MAX_SAMPLES", "READERS", "SUPPORTED", "Budget", "SignalFile", "SignalFileError",
           "file_bytes", "parse_channel", "read_mat", "read_signal", "validate_signal"]

SUPPORTED = (".csv", ".mat", ".npy", ".parquet", ".wav")
FILE_BYTES_PER_SAMPLE = 64  # a CSV sample with its time and rate columns fits; binary formats take at most 8
BYTES_PER_SAMPLE = {".wav": wav.BYTES_PER_SAMPLE}  # formats decoded whole: a tighter cap on the file size
READERS = {".csv": read_csv, ".npy": read_npy, ".parquet": read_parquet, ".wav": wav.read_wav}


@dataclass(frozen=True)
class SignalFile:
    """A decoded signal: float32 ``[C, T]``, its sampling rate (None when unknown), channel names, source."""

    signal: np.ndarray
    sampling_rate: float | None
    channels: tuple[str, ...]
    source: str


def parse_channel(text: str | None) -> str | int | None:
    """A channel as a user types it (form field, CLI option): an index when an integer (``"0"``, ``"-1"``)."""
    if text is None:
        return None
    text = text.strip()
    return int(text) if text.lstrip("-").isdigit() else text


def validate_signal(signal: np.ndarray | Sequence, *, min_samples: int) -> np.ndarray:
    """Check a ``[T]`` or ``[C, T]`` signal of real numbers → float32 ``[C, T]``.

    Refused, each with its reason: booleans, complex numbers, text or objects, more than two dimensions, no
    samples, NaN or Inf (also values beyond the float32 range), fewer than ``min_samples`` samples.
    """
    try:
        raw = np.asarray(signal)
    except (TypeError, ValueError) as exc:
        raise SignalFileError(f"signal is not numeric ({exc})") from exc
    check_dtype(raw.dtype, "signal")
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


# ------------------------------------------------------------------------------------------ the file itself
def size_limit(suffix: str, max_samples: int) -> int:
    """Largest file of format ``suffix`` that can hold at most ``max_samples`` samples."""
    return BYTES_PER_SAMPLE.get(suffix, FILE_BYTES_PER_SAMPLE) * max_samples + MAT_SLACK_BYTES


def file_bytes(path: str | Path, max_samples: int = MAX_SAMPLES) -> bytes:
    """The bytes of the regular file ``path``, read only once its size on disk fits ``max_samples`` samples.

    A FIFO, a socket, a device or a link to one (``/dev/zero``) is refused (:class:`SignalFileError`) without
    a blocking open or a read; a file over the size is refused (:class:`TooLarge`) before it is read, and at
    most the checked size is read even if it grows meanwhile.
    """
    path = Path(path)
    limit = size_limit(path.suffix.lower(), max_samples)
    try:
        _check_regular(path, os.stat(path).st_mode)
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    except OSError as exc:
        raise SignalFileError(f"{path}: cannot read the file ({exc.strerror or exc})") from exc
    try:
        info = os.fstat(fd)  # the file opened, not the name checked: it may have been replaced meanwhile
        _check_regular(path, info.st_mode)
        if info.st_size > limit:
            raise TooLarge(f"{path}: {info.st_size:,} bytes; a file of at most {max_samples:,} samples takes "
                           f"at most {limit:,}", "file")
        with os.fdopen(fd, "rb", closefd=False) as f:
            return f.read(info.st_size)
    except OSError as exc:
        raise SignalFileError(f"{path}: cannot read the file ({exc.strerror or exc})") from exc
    finally:
        os.close(fd)


def _check_regular(path: Path, mode: int) -> None:
    if not stat.S_ISREG(mode):
        kind = ("a folder" if stat.S_ISDIR(mode) else "a FIFO (named pipe)" if stat.S_ISFIFO(mode) else
                "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else
                "a socket" if stat.S_ISSOCK(mode) else "not a file")
        raise SignalFileError(f"{path}: not a regular file ({kind}); only regular files are read", "file")


def _bytes_of(source: str | Path | bytes, filename: str | None, max_samples: int) -> tuple[bytes, str, str]:
    """(bytes, where to say the problem is, the name that tells the format)."""
    if isinstance(source, bytes | bytearray):
        if not filename:
            raise SignalFileError("give a filename with the bytes so the format can be told by its extension")
        limit = size_limit(Path(filename).suffix.lower(), max_samples)
        if len(source) > limit:
            raise TooLarge(f"{filename}: {len(source):,} bytes; a file of at most {max_samples:,} samples "
                           f"takes at most {limit:,}", "file")
        return bytes(source), filename, filename
    return file_bytes(source, max_samples), str(source), filename or Path(source).name


# --------------------------------------------------------------------------------------------- the entries
def read_mat(source: str | Path | bytes, names: Sequence[str], *, filename: str | None = None,
             max_samples: int = MAX_SAMPLES) -> dict[str, np.ndarray]:
    """The MAT variables ``names`` (all must exist) → arrays, within ``max_samples`` over all of them.

    For the publisher's files, whose layout a dataset module knows (``X105_DE_time``, MFPT's ``bearing``).
    """
    data, where, _ = _bytes_of(source, filename, max_samples)
    return read_named(data, where, names, Budget(max_samples=max_samples, max_channels=max(len(names), 1)))


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
    name = filename or (None if isinstance(source, bytes | bytearray) else Path(source).name)
    suffix = Path(name).suffix.lower() if name else ""
    if name and suffix not in SUPPORTED:  # told by the name: the file is not even opened
        where = name if isinstance(source, bytes | bytearray) else str(source)
        raise SignalFileError(
            f"{where}: unsupported file type {suffix[:20] or '(no extension)'!r}; "
            f"supported: {', '.join(SUPPORTED)}"
        )
    data, where, filename = _bytes_of(source, filename, max_samples)
    if not data:
        raise SignalFileError(f"{where}: the file is empty (0 bytes)")
    pick, budget = Pick(channel, default_channel), Budget(max_samples, max_channels)
    if suffix == ".mat":
        x, rate, names = read_mat_signal(data, where, Path(filename).stem, pick, budget)
    else:
        x, rate, names = READERS[suffix](data, where, pick, budget)
    if sampling_rate is not None:
        rate = valid_rate(sampling_rate, "the sampling_rate argument")
    try:
        signal = validate_signal(x, min_samples=min_samples)
    except SignalFileError as exc:
        raise SignalFileError(f"{where}: {exc}") from exc
    return SignalFile(signal=signal, sampling_rate=rate, channels=names, source=where)
