"""MATLAB ``.mat`` signals: numeric column variables, a rate variable, or the fields of a struct (MFPT's
``bearing``); a file named like a CWRU publisher file reads its own record's columns at the catalogue's rate.

Sizes come from :mod:`.mat5` (headers, then the inflated size of what will be read) before scipy decodes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from faultdx.data.catalogue import cwru_own_columns
from faultdx.data.formats.contract import (
    LISTED,
    RATE_NAMES,
    Budget,
    Pick,
    SignalFileError,
    check_dtype,
    is_number,
    listing,
    valid_rate,
)
from faultdx.data.formats.mat5 import NUMERIC_CLASSES, load_mat, mat_variables


def read_named(data: bytes, where: str, names: Sequence[str], budget: Budget) -> dict[str, np.ndarray]:
    """The variables ``names`` (all must exist) → arrays, within the budget over all of them."""
    variables = {v.name: v for v in mat_variables(data, where)}
    missing = [n for n in names if n not in variables]
    if missing:
        raise SignalFileError(f"{where}: no variable {', '.join(missing)} (the file holds "
                              f"{listing(list(variables)) or 'nothing'})")
    wanted = [variables[n] for n in names]
    budget.check(where, channels=len(names), samples=sum(math.prod(v.shape) for v in wanted
                                                          if v.kind != "struct"))
    return load_mat(data, where, wanted, budget)


def read_mat_signal(data: bytes, where: str, stem: str, pick: Pick, budget: Budget):
    """A MAT file's signal → (samples, rate from a variable or field or the catalogue, channel names)."""
    variables = {v.name: v for v in mat_variables(data, where)}
    vectors = {n: math.prod(v.shape) for n, v in variables.items() if (v.kind in NUMERIC_CLASSES or
               v.kind == "logical") and len(v.shape) == 2 and min(v.shape) == 1 and math.prod(v.shape) > 1}
    scalars = [n for n, v in variables.items()
               if v.kind in NUMERIC_CLASSES and math.prod(v.shape) == 1 and n.lower() in RATE_NAMES]
    catalogue_rate = None
    publisher = cwru_own_columns(stem, vectors)  # a CWRU file: its own record's columns
    if publisher is not None:
        own, catalogue_rate = publisher
        vectors = {n: vectors[n] for n in own}
    structs = [n for n, v in variables.items() if v.kind == "struct" and math.prod(v.shape) and not vectors]
    chosen = pick.choose(list(vectors), where) if vectors else []
    logical = [n for n in chosen if variables[n].kind == "logical"]
    if logical:  # scipy would hand them over as uint8
        raise SignalFileError(f"{where}: variable {logical[0]!r} is boolean (logical); send numbers")
    _same_length(chosen, vectors, where)
    samples = sum(vectors[n] for n in chosen)
    budget.check(where, channels=len(chosen), samples=samples, what=" in MAT variables")
    if not chosen and not structs:
        held = listing([f"{n} {'x'.join(map(str, v.shape))} {v.kind}" for n, v in variables.items()])
        raise SignalFileError(f"{where}: no numeric signal variable (variables: {held or 'none'})")
    mat = load_mat(data, where, [variables[n] for n in (*chosen, *scalars, *structs)], budget)
    arrays = {n: mat[n] for n in chosen}
    fields = _struct_fields(mat, structs)
    if structs:  # MFPT's layout: the signal is a struct field
        arrays = {n: v for n, v in fields.items() if v.ndim == 2 and v.size > 1 and min(v.shape) == 1}
        if not arrays:
            raise SignalFileError(f"{where}: no numeric signal variable or struct field "
                                  f"(fields: {listing(list(fields)) or 'none'})")
        chosen = pick.choose(list(arrays), where)
        _same_length(chosen, {n: arrays[n].size for n in chosen}, where)
        budget.check(where, channels=len(chosen), samples=sum(arrays[n].size for n in chosen))
    rate = None
    for name, value in [*((n, mat[n]) for n in scalars), *fields.items()]:
        if name.rsplit(".", 1)[-1].lower() in RATE_NAMES and value.size == 1 and rate is None:
            rate = valid_rate(value.ravel()[0], f"{where} variable {name!r}")
    columns = []
    for name in chosen:
        try:
            check_dtype(arrays[name].dtype, f"variable {name!r}")
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
                if inner.size == 1 and is_number(inner.ravel()[0]):
                    out[f"{name}.{field}"] = np.asarray([float(inner.ravel()[0])])
            elif inner.dtype.kind in "biufc":
                out[f"{name}.{field}"] = inner
    return out
