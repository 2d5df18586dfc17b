"""The data contract every dataset module fulfils: recordings in, labelled windows out.

A dataset module (``cwru.py``, ``mfpt.py``, ``synthetic.py``) turns its files into :class:`Recording` objects;
``splits.py`` cuts each recording in time and windows it into :class:`WindowSet` objects that training,
evaluation and the service consume.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
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


@dataclass(frozen=True)
class SourceFile:
    """A file a dataset reads, with the publisher's checksums (for presence and integrity columns)."""

    path: Path
    sha256: str | None = None
    git_sha1: str | None = None


@dataclass(frozen=True)
class InfoTable:
    """What ``faultdx data info NAME`` prints: a title, one row per file (or condition), a footer.

    ``files`` (when given) pairs each row with its file, so the CLI adds presence and checksum columns."""

    title: str
    columns: tuple[str, ...]
    rows: list[tuple[str, ...]]
    files: list[SourceFile] | None = None
    footer: str = ""


@dataclass(frozen=True)
class DatasetExample:
    """One example signal a dataset offers the page (``/v1/examples``): metadata plus how to get it.

    ``samples()`` returns one channel (1-D float32) at ``sampling_rate``; ``path`` is the original file to
    download, None for signals made on demand."""

    name: str
    title: str
    group: str
    label: str
    sampling_rate: float
    rpm: float
    bearing: str
    unit: str
    description: str
    samples: Callable[[], np.ndarray]
    path: Path | None = None

    @property
    def fault_type(self) -> str:
        return fault_type_of(self.label)


def pretty_label(label: str) -> str:
    """``inner_race_007`` → ``inner race 0.007 in``."""
    fault = fault_type_of(label)
    size = label[len(fault) + 1 :]
    return fault.replace("_", " ") + (f" 0.{size} in" if size else "")


class BearingDataset(Protocol):
    """What a dataset module registers: it describes itself (name, summary, classes, operating conditions,
    bearing, files), offers examples to the page, and loads its recordings. Registering one is one line in
    :mod:`faultdx.data.registry`; the CLI, the page and training then use it without further edits."""

    name: str
    summary: str
    classes: tuple[str, ...]
    conditions: tuple[float, ...]
    condition_unit: str
    bearing: str

    def info(self) -> InfoTable:
        """Rows for ``faultdx data info``."""
        ...

    def examples(self) -> list[DatasetExample]:
        """Example signals for the page (only those available now: files present, or simulated)."""
        ...

    def files_present(self) -> tuple[int, int] | None:
        """(present, known) files under the data root; None for an embedded (simulated) dataset."""
        ...

    def recordings(
        self, *, conditions: list[float] | None = None, channels: tuple[str, ...] = ("DE",)
    ) -> list[Recording]:
        """Load the recordings present on disk (absent files are skipped, never an error unless asked for)."""
        ...


class OneAccelerometerFiles:
    """What datasets of one-accelerometer files share (MFPT, HIT): which catalogued files are present, and
    their recordings at the operating conditions asked for. A subclass gives ``files``, ``path_of``,
    ``load`` and ``condition_of`` (the catalogue column its ``conditions`` are)."""

    name: str

    def files(self) -> list[Any]:
        raise NotImplementedError

    def path_of(self, entry: Any) -> Path:
        raise NotImplementedError

    def load(self, entry: Any) -> Recording:
        raise NotImplementedError

    def condition_of(self, entry: Any) -> float:
        raise NotImplementedError

    def files_present(self) -> tuple[int, int]:
        files = self.files()
        return sum(self.path_of(f).is_file() for f in files), len(files)

    def recordings(
        self, *, conditions: list[float] | None = None, channels: tuple[str, ...] = ("DE",)
    ) -> list[Recording]:
        """Recordings of the files present (absent ones skipped); each file holds one accelerometer."""
        if len(tuple(channels)) != 1:
            raise ValueError(
                f"{self.name.upper()} files hold one accelerometer channel, got channels={tuple(channels)}"
            )
        return [
            self.load(e) for e in self.files()
            if (conditions is None or self.condition_of(e) in conditions) and self.path_of(e).is_file()
        ]
