"""CWRU Bearing Data Center: the publisher's ``<number>.mat`` files through the dataset interface.

Each file holds ``Xnnn_DE_time`` / ``_FE_time`` / ``_BA_time`` columns named after its own record number
(some files also carry other records' variables, so the loader asks for its own by name). The normal baseline
is recorded at 48 kHz while the 12 kHz fault sets are not: a dataset at ``sampling_rate=12000`` resamples it
(anti-aliased polyphase) so that no class can be told apart by its sampling rate.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from faultdx.data.base import (
    CWRU_10_CLASSES,
    FAULT_TYPES,
    DatasetExample,
    InfoTable,
    Recording,
    SourceFile,
    pretty_label,
)
from faultdx.data.cache import cached_array, source_key
from faultdx.data.catalogue import CwruFile, cwru_files
from faultdx.data.readers import read_mat, validate_signal
from faultdx.data.windows import resample
from faultdx.paths import data_dir

CHANNELS = ("DE", "FE", "BA")
# dataset set -> catalogue sets it draws from (the normal baseline is shared by every set)
SETS: dict[str, tuple[str, ...]] = {
    "12k_drive_end": ("12k_drive_end", "normal_baseline"),
    "12k_fan_end": ("12k_fan_end", "normal_baseline"),
    "48k_drive_end": ("48k_drive_end", "normal_baseline"),
}
LABEL_SETS = {"10class": CWRU_10_CLASSES, "4class": FAULT_TYPES}


def read_cwru_file(path: Path, entry: CwruFile, channels: tuple[str, ...]) -> np.ndarray:
    """Read ``channels`` of one CWRU file (the variables its catalogue entry names) → float32 ``[C, T]``."""
    names = [entry.variable(ch) for ch in channels]
    mat = read_mat(path, names)
    columns = [validate_signal(mat[n].reshape(-1), min_samples=1)[0] for n in names]
    length = min(c.shape[0] for c in columns)
    return np.stack([c[:length] for c in columns])


class CWRUDataset:
    """CWRU bearing data (``set`` = ``12k_drive_end`` | ``12k_fan_end`` | ``48k_drive_end``).

    ``sampling_rate``: common rate every recording is resampled to (``None`` keeps each file's own rate).
    ``label_set``: ``10class`` (normal + 3 fault types x 3 diameters; outer race @6 only) or ``4class``.
    ``root``: data root (default ``faultdx.paths.data_dir()``); files live in ``cwru/<set>/<number>.mat``.
    """

    name = "cwru"
    summary = "CWRU Bearing Data Center, publisher .mat files (drive end / fan end, 12 or 48 kHz)"
    conditions: tuple[float, ...] = (0.0, 1.0, 2.0, 3.0)
    condition_unit = "HP"

    def __init__(
        self,
        set: str = "12k_drive_end",
        sampling_rate: float | None = 12000,
        label_set: str = "10class",
        root: str | Path | None = None,
    ) -> None:
        if set not in SETS:
            raise ValueError(f"unknown CWRU set {set!r}; valid sets: {', '.join(SETS)}")
        if label_set not in LABEL_SETS:
            raise ValueError(f"unknown label_set {label_set!r}; valid: {', '.join(LABEL_SETS)}")
        if sampling_rate is not None and sampling_rate <= 0:
            raise ValueError(f"sampling_rate must be positive or None, got {sampling_rate}")
        self.set = set
        self.sampling_rate = sampling_rate
        self.label_set = label_set
        self.classes: tuple[str, ...] = LABEL_SETS[label_set]
        self.root = Path(root) if root is not None else data_dir()
        self.bearing = "SKF 6203" if "fan_end" in set else "SKF 6205"  # the faulted bearing

    def files(self) -> list[CwruFile]:
        """Catalogue entries of this set, present or absent: faults (outer race at 6:00) + normal."""
        wanted = SETS[self.set]
        return [f for f in cwru_files() if f.set in wanted and f.or_position in ("", "@6")]

    def path_of(self, entry: CwruFile) -> Path:
        return self.root / entry.relpath

    def label_of(self, entry: CwruFile) -> str:
        return entry.class_name if self.label_set == "10class" else entry.fault_type

    def load(self, entry: CwruFile, channels: tuple[str, ...] = ("DE",)) -> Recording:
        """Read one file (through the decoded-array cache) as a Recording at the dataset's rate."""
        unknown = [ch for ch in channels if ch not in CHANNELS]
        if unknown:
            raise ValueError(f"unknown CWRU channel(s) {unknown}; valid: {', '.join(CHANNELS)}")
        path = self.path_of(entry)
        rate = self.sampling_rate or entry.sampling_rate

        def decode() -> np.ndarray:
            return resample(read_cwru_file(path, entry, channels), entry.sampling_rate, rate)

        key = f"{source_key(path)}-{'+'.join(channels)}-{rate:g}"
        return Recording(
            key=f"cwru/{entry.number}",
            signal=cached_array("cwru", key, decode),
            sampling_rate=float(rate),
            label=self.label_of(entry),
            condition=float(entry.load_hp),
            rpm=entry.rpm,
            channels=tuple(channels),
            source=str(path),
            sha256=entry.sha256,
            bearing=self.bearing,
            meta={
                "number": entry.number,
                "set": entry.set,
                "fault_type": entry.fault_type,
                "fault_diameter_in": entry.fault_diameter,
                "or_position": entry.or_position,
                "load_hp": entry.load_hp,
                "nominal_rpm": entry.nominal_rpm,
                "file_sampling_rate": entry.sampling_rate,
            },
        )

    def files_present(self) -> tuple[int, int]:
        files = self.files()
        return sum(self.path_of(f).is_file() for f in files), len(files)

    def info(self) -> InfoTable:
        files = self.files()
        rows = [(f.relpath, f.class_name, f.fault_type, _inches(f.fault_diameter), f.or_position or "-",
                 str(f.load_hp), f"{f.rpm:g}", f"{f.sampling_rate:g}") for f in files]
        rate = f"{self.sampling_rate:g} Hz" if self.sampling_rate else "each file's own rate"
        return InfoTable(
            title=f"cwru {self.set} ({len(self.classes)} classes, {self.bearing}) under {self.root}",
            columns=("file", "class", "fault", "dia. (in)", "OR", "load (HP)", "rpm", "rate (Hz)"),
            rows=rows,
            files=[SourceFile(self.path_of(f), f.sha256, f.git_sha1) for f in files],
            footer=f"classes: {', '.join(self.classes)}; recordings are resampled to {rate} (anti-aliased "
                   "polyphase).",
        )

    def examples(self) -> list[DatasetExample]:
        """The files present, normal baseline first, each at its own rate (drive-end channel)."""
        present = [e for e in self.files() if self.path_of(e).is_file()]
        present.sort(key=lambda e: (e.fault_type != "normal", e.relpath))
        return [self._example(e) for e in present]

    def _example(self, entry: CwruFile) -> DatasetExample:
        load = f"{entry.load_hp} HP"
        native = CWRUDataset(self.set, sampling_rate=None, label_set=self.label_set, root=self.root)
        return DatasetExample(
            name=f"cwru-{entry.number}",
            title=f"CWRU {entry.filename} · {pretty_label(entry.class_name)} · {load}",
            group=f"CWRU files ({entry.set.replace('_', ' ')}, {self.bearing})",
            label=entry.class_name,
            sampling_rate=entry.sampling_rate,
            rpm=entry.rpm,
            bearing=self.bearing,
            unit="acceleration (g)",
            description=f"CWRU {entry.relpath}, accelerometer at the faulted bearing, motor load {load}",
            samples=lambda: native.load(entry).signal[0],
            path=self.path_of(entry),
        )

    def recordings(
        self, *, conditions: list[float] | None = None, channels: tuple[str, ...] = ("DE",)
    ) -> list[Recording]:
        """Recordings of the files present under ``root`` (absent ones skipped), optionally some loads."""
        entries = [
            e for e in self.files()
            if (conditions is None or e.load_hp in conditions) and self.path_of(e).is_file()
        ]
        return [self.load(e, tuple(channels)) for e in entries]


def _inches(diameter: float | None) -> str:
    return f"{diameter:.3f}" if diameter else "-"
