"""An asset's diagnoses as one flat table (pandas), and that table as CSV that a spreadsheet opens as data:
text cells starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return would be run as a formula
(CSV injection), so they get a leading single quote and every text cell is quoted (OWASP's rule); numbers
are written as they are."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from typing import Any

from faultdx.monitor.schemas import INDICATORS
from faultdx.monitor.tables import DiagnosisRow

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
COLUMNS = ["id", "asset", "measured_at", "model_name", "model_version", "fault_type", "label", "severity",
           "confidence", "unknown_score", *INDICATORS, "zone", "rpm", "sampling_rate"]


def flat(r: DiagnosisRow, asset: str) -> dict[str, Any]:
    """One diagnosis as one row: a ``p_<type>`` column per fault type, ``f_<line>`` per defect frequency."""
    row = {
        "id": r.id, "asset": asset, "measured_at": r.measured_at, "model_name": r.model_name,
        "model_version": r.model_version, "fault_type": r.fault_type, "label": r.label,
        "severity": r.severity, "confidence": r.confidence, "unknown_score": r.unknown_score,
        **{k: getattr(r, k) for k in INDICATORS}, "zone": r.zone, "rpm": r.rpm,
        "sampling_rate": r.sampling_rate,
    }
    row.update({f"p_{k}": v for k, v in (r.type_probabilities or {}).items()})
    row.update({f"f_{k}": v for k, v in (r.defect_frequencies or {}).items()})
    return row


def frame_of(records: Sequence[dict[str, Any]]) -> Any:
    """The rows of :func:`flat` as a DataFrame, fixed columns first (an empty range keeps the columns)."""
    import pandas as pd

    frame = pd.DataFrame.from_records(records)
    if frame.empty:
        return pd.DataFrame(columns=COLUMNS)
    extra = sorted(c for c in frame.columns if c not in COLUMNS)
    frame["measured_at"] = pd.to_datetime(frame["measured_at"], utc=True)
    return frame[COLUMNS + extra]


def safe_cell(value: Any) -> Any:
    """``value``, with a leading ``'`` if it is text a spreadsheet would run as a formula."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def to_csv(frame: Any) -> bytes:
    """``frame`` as UTF-8 CSV with every text cell made safe (:func:`safe_cell`), header included."""
    import pandas as pd

    safe = frame.copy()
    safe.columns = [safe_cell(str(c)) for c in safe.columns]
    for column in safe.columns:
        kind = safe[column].dtype
        if not (pd.api.types.is_numeric_dtype(kind) or pd.api.types.is_datetime64_any_dtype(kind)):
            safe[column] = safe[column].map(safe_cell)  # object or pandas' string dtype
    buf = io.StringIO()
    safe.to_csv(buf, index=False, quoting=csv.QUOTE_NONNUMERIC)  # text quoted: a CR inside stays in its cell
    return buf.getvalue().encode()
