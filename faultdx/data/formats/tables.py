"""Column roles of a table (CSV or Parquet): signal channels, an optional time column and rate column."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from faultdx.data.formats.contract import RATE_NAMES, Budget, Pick, SignalFileError, valid_rate
from faultdx.errors import TooLarge

TIME_NAMES = ("time", "t", "time_s", "timestamp")
EXTRA_COLUMNS = 2  # a table may carry a time and a rate column besides its signal channels


def check_columns(where: str, columns: int, budget: Budget) -> None:
    """Refuse (413) a table wider than the channel budget plus a time and a rate column."""
    if columns > budget.max_channels + EXTRA_COLUMNS:
        raise TooLarge(
            f"{where}: {columns:,} columns; at most {budget.max_channels} signal channels can be read "
            f"(plus a time and a rate column)", "file"
        )


def table_columns(where: str, names: list[str], rows: int, pick: Pick, budget: Budget
                  ) -> tuple[list[str], str | None, str | None]:
    """The chosen signal columns (budgeted before anything is decoded), and the rate and time columns."""
    rate_col, time_col, signals = table_roles(names)
    if not signals:
        raise SignalFileError(f"{where}: no signal columns")
    chosen = pick.choose(signals, where)
    budget.check(where, channels=len(chosen), samples=rows * len(chosen), what=f" ({rows:,} rows)")
    return chosen, rate_col, time_col


def table_roles(names: Sequence[str]) -> tuple[str | None, str | None, list[str]]:
    """Column names → (rate column, time column, signal columns)."""
    lowered = {n.lower(): n for n in names}
    rate = next((lowered[n] for n in RATE_NAMES if n in lowered), None)
    time = next((lowered[n] for n in TIME_NAMES if n in lowered), None)
    return rate, time, [n for n in names if n not in (rate, time)]


def from_columns(
    columns: dict[str, np.ndarray], chosen: list[str], rate_col: str | None, time_col: str | None, where: str,
    rate: float | None = None,
) -> tuple[np.ndarray, float | None, tuple[str, ...]]:
    """Signal columns, and the rate from a rate column (first value) or a time column."""
    if rate_col is not None:
        given = columns[rate_col][~np.isnan(columns[rate_col])]
        if given.size == 0:
            raise SignalFileError(f"{where}: column {rate_col!r} holds no sampling rate")
        rate = valid_rate(given[0], f"{where} column {rate_col!r}")
    if time_col is not None and rate is None:
        rate = _rate_from_time(columns[time_col], where)
    return np.stack([columns[n] for n in chosen]), rate, tuple(chosen)


def _rate_from_time(t: np.ndarray, where: str) -> float:
    steps = np.diff(np.asarray(t, dtype=np.float64))
    if steps.size == 0 or not np.all(steps > 0):
        raise SignalFileError(f"{where}: the time column must increase strictly")
    return valid_rate(round(1.0 / float(np.median(steps)), 3), f"{where} time column")
