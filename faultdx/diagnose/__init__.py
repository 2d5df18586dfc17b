"""Signals (+ machine context) → windows → network → diagnosis: the one inference path.

``limits`` (ranges, sample budget, typed input error) → ``models`` (model kinds → a loaded model) →
``reading`` (a file read for a model) → ``result`` (:class:`Diagnosis` and its forms: ``as_dict``,
``as_row``, ``as_record``) → ``diagnoser`` (:class:`Diagnoser`). The public names are re-exported here, so
``from faultdx.diagnose import Diagnoser, Diagnosis`` is the import to use.
"""

from faultdx.diagnose.diagnoser import FORWARD_BATCH, Diagnoser, NonFiniteOutput, Predictions, Windows
from faultdx.diagnose.limits import (
    MAX_SAMPLING_RATE,
    MAX_WINDOW_FACTOR,
    MIN_SAMPLING_RATE,
    DiagnoseInputError,
    RequestBudget,
    check_sampling_rate,
)
from faultdx.diagnose.models import ReadyModel, load_model, meta_bearing
from faultdx.diagnose.reading import ModelSignal, read_for_model
from faultdx.diagnose.result import Diagnosis

__all__ = [
    "FORWARD_BATCH", "MAX_SAMPLING_RATE", "MAX_WINDOW_FACTOR", "MIN_SAMPLING_RATE", "DiagnoseInputError",
    "Diagnoser", "Diagnosis", "ModelSignal", "NonFiniteOutput", "Predictions", "ReadyModel", "RequestBudget",
    "Windows", "check_sampling_rate", "load_model", "meta_bearing", "read_for_model",
]
