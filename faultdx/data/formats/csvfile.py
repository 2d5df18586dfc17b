"""CSV: the first line (header or numbers) and the line count are budgeted before pandas parses a cell."""

from __future__ import annotations

import io

import numpy as np

from faultdx.data.formats.contract import Budget, Pick, SignalFileError, decoded, is_number
from faultdx.data.formats.tables import check_columns, from_columns, table_columns


def read_csv(data: bytes, where: str, pick: Pick, budget: Budget):
    """A CSV table (with a header, or numbers only: ``ch0, ch1, ...``) → (samples, rate, channels)."""
    end = data.find(b"\n")
    first = data if end < 0 else data[:end]
    check_columns(where, first.count(b",") + 1, budget)  # before any parsing: 10^5 columns cost nothing
    import pandas as pd

    headerless = all(is_number(f) for f in first.decode("utf-8", errors="replace").split(","))
    lines = data.count(b"\n") + (not data.endswith(b"\n"))
    rows = lines - (not headerless)
    if headerless:
        names = [f"ch{i}" for i in range(first.count(b",") + 1)]
    else:
        header = decoded(where, "CSV", lambda: pd.read_csv(io.BytesIO(data), nrows=0))
        names = [str(c) for c in header.columns]
    chosen, rate_col, time_col = table_columns(where, names, rows, pick, budget)
    wanted = [n for n in (*chosen, rate_col, time_col) if n is not None]
    usecols = [names.index(n) for n in wanted]
    frame = decoded(where, "CSV", lambda: pd.read_csv(
        io.BytesIO(data), header=None if headerless else 0, usecols=usecols, skip_blank_lines=True,
    ))
    frame.columns = [names[i] for i in sorted(usecols)]
    if frame.shape[0] == 0:
        raise SignalFileError(f"{where}: the CSV file has a header but no rows")
    columns = {n: _numbers(frame[n], n, where) for n in frame.columns}
    return from_columns(columns, chosen, rate_col, time_col, where)


def _numbers(series, name: str, where: str) -> np.ndarray:
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
