"""The data contract every dataset module fulfils: recordings in, labelled windows out.

A dataset module (``cwru.py``, ``mfpt.py``, ``synthetic.py``) turns its files into :class:`Recording` objects;
``splits.py`` cuts each recording in time and windows it into :class:`WindowSet` objects that training,
evaluation and the service consume.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

FAULT_TYPES: tuple[str, ...] = ("normal", "ball", "inner_race", "outer_race")
CWRU_10_CLASSES: tuple[str, ...] = (
    "normal",
    "ball_007",
    "ball_014",
    "ball_021",
    "inner_race_007",
    "inner_race_014",
    "inner_race_021",
    "outer_race_007",
    "outer_race_014",
    "outer_race_021",
)


def type_membership(classes: tuple[str, ...] | list[str]) -> np.ndarray:
    """``[K, 4]`` 0/1 matrix: class k is of fault type t (``FAULT_TYPES`` order).

    A fault type's probability is the sum of its classes' (``probs @ membership``): a model trained on
    ``inner_race_007`` and ``inner_race_021`` still names an inner-race fault of a size it never saw.
    """
    out = np.zeros((len(classes), len(FAULT_TYPES)), dtype=np.float32)
    for k, name in enumerate(classes):
        out[k, FAULT_TYPES.index(fault_type_of(name))] = 1.0
    return out


def fault_type_of(label: str) -> str:
    """Map a class name (``inner_race_014``) to its fault type (``inner_race``)."""
    for fault_type in FAULT_TYPES:
        if label == fault_type or label.startswith(fault_type + "_"):
            return fault_type
    raise ValueError(f"class {label!r} has no known fault type; fault types are {', '.join(FAULT_TYPES)}")


@dataclass(frozen=True)
class Recording:
    """One continuous vibration recording with its labels.

    ``signal`` is float32 ``[channels, samples]`` at ``sampling_rate`` Hz (already resampled when the dataset
    was asked for a common rate). ``condition`` is the operating condition used by by-condition splits
    (motor load in HP for CWRU, load in lbs for MFPT). ``rpm`` and ``bearing`` (a catalogue name or a
    geometry) are the machine context the physics-aware network reads.
    """

    key: str
    signal: np.ndarray
    sampling_rate: float
    label: str
    condition: float
    rpm: float | None = None
    channels: tuple[str, ...] = ("DE",)
    source: str = ""
    sha256: str | None = None
    meta: dict = field(default_factory=dict)
    bearing: Any = None

    @property
    def fault_type(self) -> str:
        return fault_type_of(self.label)

    @property
    def num_samples(self) -> int:
        return int(self.signal.shape[-1])


@dataclass
class WindowSet:
    """Labelled windows ready for a network.

    ``x``: float32 ``[N, channels, window]``; ``y``: int64 ``[N]`` indices into ``classes``;
    ``recording``: int ``[N]`` index into ``keys``; ``start``: int64 ``[N]`` first sample of each window
    in its recording (after resampling), so leakage can be audited. A window whose class is not one of
    ``classes`` but whose fault type is known (a simulated or another rig's recording) has ``y = -1``;
    ``fault_type`` ``[N]`` indexes ``FAULT_TYPES`` for every window. ``context`` ``[N, 5]`` is each window's
    machine context vector (shaft, BPFO, BPFI, BSF, FTF in cycles per sample), NaN where unknown.
    """

    x: np.ndarray
    y: np.ndarray
    recording: np.ndarray
    start: np.ndarray
    classes: tuple[str, ...]
    keys: tuple[str, ...]
    sampling_rate: float
    fault_type: np.ndarray | None = None
    context: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.y.shape[0])


class BearingDataset(Protocol):
    """What a dataset module registers: its name, its classes, and its recordings."""

    name: str
    classes: tuple[str, ...]

    def recordings(
        self, *, conditions: list[float] | None = None, channels: tuple[str, ...] = ("DE",)
    ) -> list[Recording]:
        """Load the recordings present on disk (absent files are skipped, never an error unless asked for)."""
        ...
