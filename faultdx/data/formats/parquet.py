"""Parquet: row and column counts and column types come from the footer, before a column is decoded."""

from __future__ import annotations

import io
import json

import numpy as np

from faultdx.data.formats.contract import RATE_NAMES, Budget, Pick, SignalFileError, decoded, valid_rate
from faultdx.data.formats.tables import check_columns, from_columns, table_columns


def read_parquet(data: bytes, where: str, pick: Pick, budget: Budget):
    """A Parquet table → (samples, rate from a column, a time column or schema metadata, channels)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    parquet = decoded(where, "Parquet", lambda: pq.ParquetFile(io.BytesIO(data)))
    meta, schema = parquet.metadata, parquet.schema_arrow
    check_columns(where, meta.num_columns, budget)
    rows = meta.num_rows
    if rows == 0:
        raise SignalFileError(f"{where}: the Parquet file has no rows")
    metadata = schema.metadata or {}
    index = _pandas_index_columns(metadata.get(b"pandas"))
    names = [n for n in schema.names if n not in index]
    chosen, rate_col, time_col = table_columns(where, names, rows, pick, budget)
    wanted = [n for n in (*chosen, rate_col, time_col) if n is not None]
    for name in wanted:
        kind = schema.field(name).type
        if pa.types.is_boolean(kind):
            raise SignalFileError(f"{where}: column {name!r} is boolean; send numbers")
        if not (pa.types.is_integer(kind) or pa.types.is_floating(kind)):
            raise SignalFileError(f"{where}: column {name!r} is not numeric (type {kind})")
    table = decoded(where, "Parquet", lambda: parquet.read(columns=wanted))
    columns = {n: table.column(n).to_numpy().astype(np.float64) for n in wanted}
    rate = None
    for raw_key, value in metadata.items():
        key = raw_key.decode(errors="replace")
        if key.lower() in RATE_NAMES:
            rate = valid_rate(value.decode(errors="replace"), f"{where} metadata {key!r}")
    return from_columns(columns, chosen, rate_col, time_col, where, rate)


def _pandas_index_columns(raw: bytes | None) -> set[str]:
    """Columns pandas stored its index in (not signals)."""
    if not raw:
        return set()
    try:
        described = json.loads(raw)
    except (ValueError, RecursionError):  # a hostile footer may nest deeper than the parser's stack
        return set()
    index = described.get("index_columns", []) if isinstance(described, dict) else []
    return {c for c in index if isinstance(c, str)}
