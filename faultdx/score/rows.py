"""One file → one row of the score table, whichever engine runs it; rows into the asset history."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterable
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from faultdx.data.readers import file_bytes
from faultdx.errors import InputError
from faultdx.score.inputs import Job, ScoreInputError, as_utc, parse_bearing

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
    ("rpm", pa.float64()),
    ("rpm_source", pa.string()),  # given | estimated
    ("bearing", pa.string()),
    ("rms", pa.float64()),  # condition indicators of the diagnosed channel (faultdx.monitor.indicators)
    ("peak", pa.float64()),
    ("crest_factor", pa.float64()),
    ("kurtosis", pa.float64()),  # Pearson's (3 for Gaussian noise)
    ("velocity_rms", pa.float64()),  # mm/s over 10-1000 Hz, for a signal in g (ISO 20816-3)
    ("model", pa.string()),
    ("model_version", pa.string()),
    ("error", pa.string()),
])


def load_diagnoser(model: str | Path) -> Diagnoser:
    """The Diagnoser every engine scores with: one thread (the engines parallelise over files), traced."""
    import torch

    from faultdx.diagnose import Diagnoser

    torch.set_num_threads(1)
    return Diagnoser.from_dir(model, trace=True)


def score_file(diagnoser: Diagnoser, job: Job) -> dict[str, Any]:
    """The row of one file. Never raises for a bad file: its ``error`` says what went wrong."""
    row: dict[str, Any] = dict.fromkeys(SCHEMA.names)
    row.update(file=job.file, asset=job.asset, rate=job.rate, model=diagnoser.name,
               model_version=diagnoser.meta.version)
    try:
        row["measured_at"] = (as_utc(job.measured_at) if job.measured_at is not None else
                              datetime.fromtimestamp(os.stat(job.file).st_mtime, timezone.utc))
        data = file_bytes(job.file)  # a regular file within the size budget, else an error row (no read)
        row["sha256"] = hashlib.sha256(data).hexdigest()
        signal, rate = _read(diagnoser, job, data)
        bearing = None if job.bearing is None else parse_bearing(job.bearing)
        [d] = diagnoser.diagnose([signal], rate, rpm=job.rpm, bearing=bearing)
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

    machine = d.machine
    unknown = d.unknown_score
    verdict = {"normal": "healthy", "unknown": "unknown"}.get(d.fault_type, "fault")
    row.update(
        rate=rate, duration_s=signal.shape[-1] / rate, windows=len(d.start), verdict=verdict,
        fault_type=d.fault_type, closest_fault_type=d.closest_fault_type, label=d.label,
        severity=d.severity, confidence=float(d.confidence),
        **{f"p_{name}": p for name, p in d.type_probabilities.items()},
        unknown_score=None if unknown is None else float(unknown), unknown_flag=d.is_unknown,
        rpm=None if machine is None else machine.rpm,
        rpm_source=None if machine is None else machine.rpm_source,
        bearing=None if machine is None else machine.bearing.name or "custom",
        **indicators(signal[0], rate).as_dict(),
    )
    return row


def _read(diagnoser: Diagnoser, job: Job, data: bytes) -> tuple[np.ndarray, float]:
    """The file's signal for the model's channel(s) and its rate, as ``faultdx diagnose`` reads it."""
    from faultdx.data.readers import SignalFileError, read_signal

    name = Path(job.file).name
    default = diagnoser.channels[0] if len(diagnoser.channels) == 1 else None
    signal_file = read_signal(data, filename=name, sampling_rate=job.rate, default_channel=default)
    if default is not None and signal_file.signal.shape[0] > 1:
        raise SignalFileError(f"{name}: no channel {default!r}; channels: {', '.join(signal_file.channels)}")
    if signal_file.sampling_rate is None:
        raise SignalFileError(f"{name} does not state its sampling rate: give it in the sidecar's `rate` "
                              "column or with --rate")
    return signal_file.signal, float(signal_file.sampling_rate)


def history_recorder(store: Any, assets: Iterable[str]) -> Callable[[dict[str, Any]], None]:
    """``row → None`` storing every diagnosed row in the asset history of ``store``
    (:class:`faultdx.monitor.store.Store`), measured at the row's ``measured_at``. Every asset must exist
    (:class:`ScoreInputError` otherwise). A file stored twice (a resumed run) is stored once: the key is the
    asset and the file's hash."""
    from faultdx.data.base import FAULT_TYPES
    from faultdx.monitor.indicators import Indicators
    from faultdx.monitor.store import NewDiagnosis

    ids = {}
    for name in assets:
        try:
            ids[name] = store.get_asset(name).id
        except InputError:
            raise ScoreInputError(f"asset {name!r} is not in the asset history: create it first "
                                  f"(faultdx assets create {name!r} ...)", "history") from None

    def record(row: dict[str, Any]) -> None:
        if row["error"] is not None:
            return
        item = NewDiagnosis(
            model_name=row["model"], model_version=row["model_version"], fault_type=row["fault_type"],
            label=row["label"], confidence=row["confidence"],
            type_probabilities={t: row[f"p_{t}"] for t in FAULT_TYPES},
            indicators=Indicators(**{k: row[k] for k in Indicators.__dataclass_fields__}),
            sampling_rate=row["rate"], severity=row["severity"], unknown_score=row["unknown_score"],
            rpm=row["rpm"], rpm_source=row["rpm_source"],
        )
        asset_id = ids[row["asset"]]
        store.record(asset_id, [item], measured_at=row["measured_at"],
                     idempotency_key=f"score:{asset_id}:{row['sha256']}")

    return record


def rows_to_table(rows: list[dict[str, Any]]) -> pa.Table:
    return pa.Table.from_pylist(rows, schema=SCHEMA)
