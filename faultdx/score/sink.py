"""The output table: rows into part files while running (each written atomically), one table at the end."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from faultdx.atomic import atomic_file
from faultdx.score.inputs import ScoreInputError
from faultdx.score.rows import SCHEMA, rows_to_table

PART_ROWS = 500  # rows per part file: a killed run loses at most this many files' work...
PART_SECONDS = 30.0  # ...or this much time's
MERGE_ROWS = 65_536  # rows per row group of the merged table


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
                    table = _as_schema(pa.Table.from_batches([batch]))
                    files = table.column("file").to_pylist()
                    keep = [f not in seen for f in files]
                    seen.update(files)
                    pending.append(table.filter(pa.array(keep)))
                    if sum(t.num_rows for t in pending) >= MERGE_ROWS:
                        writer.write_table(pa.concat_tables(pending))
                        pending = []
            writer.write_table(pa.concat_tables(pending) if pending else SCHEMA.empty_table())
        shutil.rmtree(self.parts, ignore_errors=True)



def _as_schema(table: pa.Table) -> pa.Table:
    """``table`` in :data:`SCHEMA`'s columns and types; a column an older faultdx did not write is null."""
    columns = [table.column(f.name) if f.name in table.column_names else pa.nulls(table.num_rows, f.type)
               for f in SCHEMA]
    return pa.Table.from_arrays(columns, schema=SCHEMA.remove_metadata()).cast(SCHEMA)
