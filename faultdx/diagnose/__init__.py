"""Signals (+ machine context) → windows → network → diagnosis: the one inference path.

``limits`` (ranges, sample budget, typed input error) → ``models`` (model kinds → a loaded model) →
``result`` (:class:`Diagnosis` and its forms) → ``diagnoser`` (:class:`Diagnoser`). The public names are
re-exported here, so ``from faultdx.diagnose import Diagnoser, Diagnosis`` is the import to use.
"""

from faultdx.diagnose.diagnoser import FORWARD_BATCH, Diagnoser, NonFiniteOutput, Predictions, Windows
from faultdx.diagnose.limits import (
    MAX_SAMPLING_RATE,
    MAX_WINDOW_FACTOR,
    MIN_SAMPLING_RATE,
    Budget,
    DiagnoseInputError,
    check_sampling_rate,
)
from faultdx.diagnose.models import meta_bearing
from faultdx.diagnose.result import Diagnosis

__all__ = [
    "FORWARD_BATCH", "MAX_SAMPLING_RATE", "MAX_WINDOW_FACTOR", "MIN_SAMPLING_RATE", "Budget",
    "DiagnoseInputError", "Diagnoser", "Diagnosis", "NonFiniteOutput", "Predictions", "Windows",
    "check_sampling_rate", "meta_bearing",
]
