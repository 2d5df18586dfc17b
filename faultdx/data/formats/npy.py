"""NPY: shape and dtype from the header, budgeted before the data is viewed (never unpickled)."""

from __future__ import annotations

import io
import math

import numpy as np

from faultdx.data.formats.contract import Budget, Pick, SignalFileError, check_dtype, decoded


def read_npy(data: bytes, where: str, pick: Pick, budget: Budget):
    """A ``[T]`` or 2-D array (``[T, C]`` or ``[C, T]``: the longer axis is time) → (samples, None, chN)."""
    buf = io.BytesIO(data)

    def header() -> tuple[tuple[int, ...], bool, np.dtype]:
        version = np.lib.format.read_magic(buf)
        if version == (1, 0):
            return np.lib.format.read_array_header_1_0(buf)
        return np.lib.format.read_array_header_2_0(buf)

    shape, fortran, dtype = decoded(where, "NPY", header)
    try:
        check_dtype(dtype, "the array")
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
    if x.ndim == 2 and x.shape[0] > x.shape[1]:
        x = x.T
    names = [f"ch{i}" for i in range(1 if x.ndim == 1 else x.shape[0])]
    chosen = pick.choose(names, where)
    x = np.atleast_2d(x)[[names.index(n) for n in chosen]]
    return x, None, tuple(chosen)
