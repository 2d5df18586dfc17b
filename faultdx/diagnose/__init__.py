"""Signals (+ machine context) → windows → network → diagnosis: the one inference path.

``limits`` (ranges, sample budget, typed input error) → ``models`` (model kinds → a loaded model) →
``reading`` (a file read for a model) → ``result`` (:class:`Diagnosis` and its forms: ``as_dict``,
``as_row``, ``as_record``) → ``diagnoser`` (:class:`Diagnoser`). The public names are re-exported here, so
``from faultdx.diagnose import Diagnoser, Diagnosis`` is the import to use.
"""

from typing import TYPE_CHECKING

from faultdx.diagnose.limits import (
    MAX_SAMPLING_RATE,
    MAX_WINDOW_FACTOR,
    MIN_SAMPLING_RATE,
    DiagnoseInputError,
    RequestBudget,
    check_sampling_rate,
)

if TYPE_CHECKING:
    from faultdx.diagnose.diagnoser import FORWARD_BATCH, Diagnoser, NonFiniteOutput, Predictions, Windows
    from faultdx.diagnose.models import ReadyModel, load_model, meta_bearing
    from faultdx.diagnose.reading import ModelSignal, read_for_model
    from faultdx.diagnose.result import Diagnosis

# the names that need torch load on first use (PEP 562), so that what only needs the limits (the asset
# store, its CLI commands) starts without importing torch: `faultdx assets list` 6.9 -> 2.1 s on 2 cores
_LAZY = {
    "FORWARD_BATCH": "diagnoser", "Diagnoser": "diagnoser", "NonFiniteOutput": "diagnoser",
    "Predictions": "diagnoser", "Windows": "diagnoser", "ReadyModel": "models", "load_model": "models",
    "meta_bearing": "models", "ModelSignal": "reading", "read_for_model": "reading", "Diagnosis": "result",
}


def __getattr__(name: str):
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    globals()[name] = value
    return value


__all__ = [
    "FORWARD_BATCH", "MAX_SAMPLING_RATE", "MAX_WINDOW_FACTOR", "MIN_SAMPLING_RATE", "DiagnoseInputError",
    "Diagnoser", "Diagnosis", "ModelSignal", "NonFiniteOutput", "Predictions", "ReadyModel", "RequestBudget",
    "Windows", "check_sampling_rate", "load_model", "meta_bearing", "read_for_model",
]
