"""One file → one row of the score table, whichever engine runs it; rows into the asset history."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterable
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from faultdx.data.readers import file_bytes
from faultdx.errors import InputError
from faultdx.score.inputs import Job, ScoreInputError, as_utc

if TYPE_CHECKING:
    from faultdx.diagnose import Diagnoser

SCHEMA = pa.schema([
    ("file", pa.string()),
    ("sha256", pa.string()),
    ("asset", pa.string()),
    ("measured_at", pa.timestamp("us", tz="UTC")),  # the sidecar's, else the file's modification time
    ("rate", pa.float64()),  # Hz, as read (file or sidecar/flag)
    ("duration_s", pa.float64()),
    ("windows", pa.int64()),
    ("verdict", pa.string()),  # healthy | fault | unknown (beyond the model's calibrated unknown score)
    ("fault_type", pa.string()),  # the primary answer: a fault type, or unknown
    ("closest_fault_type", pa.string()),  # the network's most probable fault type, also when unknown
    ("label", pa.string()),  # most probable class of that fault type
    ("severity", pa.string()),
    ("confidence", pa.float64()),  # probability of closest_fault_type
    ("p_normal", pa.float64()),  # probability of each fault type
    ("p_ball", pa.float64()),
    ("p_inner_race", pa.float64()),
    ("p_outer_race", pa.float64()),
    ("unknown_score", pa.float64()),  # None from a model without an unknown-condition calibration
    ("unknown_flag", pa.bool_()),  # score above 1; the verdict says unknown only if the calibration says so
    ("signal_ok", pa.bool_()),  # the signal-quality gate passed (faultdx.diagnose.quality)
    ("signal_problems", pa.string()),  # what it found, comma-separated (flat, clipped, dropout, ...)
    ("rpm", pa.float64()),
    ("rpm_source", pa.string()),  # given | estimated | nominal
    ("bearing", pa.string()),
    ("bearing_source", pa.string()),
    ("evidence", pa.string()),  # the defect line the spectrum shows most strongly (bpfo, bpfi, bsf)
    ("evidence_hz", pa.float64()),
    ("rms", pa.float64()),  # condition indicators of the diagnosed channel (faultdx.monitor.indicators)
    ("peak", pa.float64()),
    ("crest_factor", pa.float64()),
    ("kurtosis", pa.float64()),  # Pearson's (3 for Gaussian noise)
    ("velocity_rms", pa.float64()),  # mm/s over 10-1000 Hz, for a signal in g (ISO 20816-3)
    ("model", pa.string()),
    ("model_version", pa.string()),
    ("error", pa.string()),
])
WITH_RECORD = SCHEMA.append(pa.field("_record", pa.string()))  # rows in flight: the history's record too
HINTS = {"sampling_rate": "it in the sidecar's `rate` column or with --rate",
         "channel": "a file holding only the model's channel"}


def load_diagnoser(model: str | Path) -> Diagnoser:
    """The Diagnoser every engine scores with: one thread (the engines parallelise over files), traced."""
    import torch

    from faultdx.diagnose import Diagnoser

    torch.set_num_threads(1)
    return Diagnoser.from_dir(model, trace=True)


def score_file(diagnoser: Diagnoser, job: Job) -> dict[str, Any]:
    """The row of one file. Never raises for a bad file: its ``error`` says what went wrong.

    The file is read by :func:`faultdx.diagnose.reading.read_for_model` (as ``faultdx diagnose`` and the
    uploads read it) from the bytes of a regular file within the size budget; the row is the diagnosis' own
    :meth:`~faultdx.diagnose.Diagnosis.as_row` plus the file's identity and indicators. ``_record`` (not a
    column) carries :meth:`~faultdx.diagnose.Diagnosis.as_record` to the asset history."""
    from faultdx.diagnose.reading import read_for_model

    row: dict[str, Any] = dict.fromkeys(SCHEMA.names)
    row.update(file=job.file, asset=job.asset, rate=job.rate, model=diagnoser.name,
               model_version=diagnoser.meta.version)
    try:
        row["measured_at"] = (as_utc(job.measured_at) if job.measured_at is not None else
                              datetime.fromtimestamp(os.stat(job.file).st_mtime, timezone.utc))
        data = file_bytes(job.file)  # a regular file within the size budget, else an error row (no read)
        row["sha256"] = hashlib.sha256(data).hexdigest()
        read = read_for_model(data, diagnoser.channels, filename=Path(job.file).name, sampling_rate=job.rate,
                              hints=HINTS)
        [d] = diagnoser.diagnose([read.signal], read.sampling_rate, channels=read.row_names, rpm=job.rpm,
                                 bearing=check_bearing(job.bearing))
    except OSError as err:
        row["error"] = f"cannot read the file ({err.strerror or err})"
        return row
    except InputError as err:
        row["error"] = str(err)
        return row
    except Exception as err:  # a damaged file can fail deep inside a decoder: one file never stops the run
        row["error"] = f"{type(err).__name__}: {err}"
        return row
    from faultdx.monitor.indicators import indicators

    signal, rate = read.signal, read.sampling_rate
    row.update(d.as_row(), rate=rate, duration_s=signal.shape[-1] / rate,
               **indicators(signal[0], rate).as_dict(), _record=json.dumps(d.as_record()))
    return row


def history_recorder(store: Any, assets: Iterable[str]) -> Callable[[dict[str, Any]], None]:
    """``row → None`` storing every diagnosed row in the asset history of ``store``
    (:class:`faultdx.monitor.store.Store`), measured at the row's ``measured_at``: the diagnosis' record
    (:meth:`~faultdx.diagnose.Diagnosis.as_record`, carried by the row) with the row's indicators. Every asset
    must exist (:class:`ScoreInputError` otherwise). A file stored twice (a resumed run) is stored once: the
    key is the asset, the file's hash and the model."""
    from faultdx.monitor.indicators import Indicators
    from faultdx.monitor.store import NewDiagnosis

    ids = {}
    for name in assets:
        try:
            ids[name] = store.asset(name).id
        except InputError:
            raise ScoreInputError(f"asset {name!r} is not in the asset history: create it first "
                                  f"(faultdx assets create {name!r} ...)", "history") from None

    def record(row: dict[str, Any]) -> None:
        if row["error"] is not None:
            return
        fields = json.loads(row["_record"])
        fields.pop("signal_quality", None)  # in the answer and the table, not a history column
        item = NewDiagnosis(
            model_name=row["model"], model_version=row["model_version"], sampling_rate=row["rate"],
            indicators=Indicators(**{k: row[k] for k in Indicators.__dataclass_fields__}), **fields,
        )
        asset_id = ids[row["asset"]]
        # the file and the model, hashed: fits the history's columns (a 64-character hash, a key of at most
        # 200) whatever the model's name; PostgreSQL refused the longer plain text
        what = f"{row['sha256']}:{row['model']}:{row['model_version']}"
        measured = hashlib.sha256(what.encode()).hexdigest()
        try:
            store.record(asset_id, [item], measured_at=row["measured_at"],
                         idempotency_key=f"score:{asset_id}:{measured}", request_hash=measured)
        except InputError as err:
            if err.field != "measured_at":
                raise
            # a file's modification time out of the history's bounds: its row says why, the run goes on
            row["error"] = f"not stored in the asset history: {err}"

    return record


def check_bearing(text: str | None):
    """The job's bearing (catalogue name or geometry JSON) through the one parser of every interface."""
    from faultdx.data.bearing import BearingError, parse_bearing

    try:
        return parse_bearing(text)
    except BearingError as err:
        raise ScoreInputError(str(err), "bearing") from None


def rows_to_table(rows: list[dict[str, Any]], schema: pa.Schema = SCHEMA) -> pa.Table:
    """Rows → a table of ``schema`` (keys it does not name, such as ``_record``, are left out)."""
    return pa.Table.from_pylist(rows, schema=schema)
