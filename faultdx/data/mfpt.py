"""MFPT bearing fault data (variable-load inner- and outer-race sets) through the dataset interface.

Each file holds a 1x1 struct ``bearing`` with fields ``gs`` (acceleration, g), ``sr`` (sampling rate),
``rate`` (shaft Hz) and ``load`` (lbs, stored as a string). Files live under ``<data root>/mfpt/``.
Licence: CC BY-NC-SA 4.0 (non-commercial use only).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from faultdx.data.base import (
    DatasetExample,
    InfoTable,
    OneAccelerometerFiles,
    Recording,
    SourceFile,
    pretty_label,
)
from faultdx.data.cache import cached_array, source_key
from faultdx.data.catalogue import MfptFile, mfpt_files
from faultdx.data.readers import SignalFileError, read_mat, validate_signal
from faultdx.data.windows import resample
from faultdx.paths import data_dir

MFPT_CLASSES = ("inner_race", "outer_race")  # the obtainable subset has no normal baseline


def read_mfpt_file(path: Path) -> tuple[np.ndarray, float, float, float]:
    """Read one MFPT file → (float32 ``[1, T]`` signal, sampling rate, shaft Hz, load in lbs)."""
    bearing = read_mat(path, ["bearing"])["bearing"]
    if bearing.dtype.names is None or bearing.size != 1:
        raise SignalFileError(f"{path}: 'bearing' is not a 1x1 struct (MFPT: bearing.gs/.sr/.rate/.load)")
    missing = {"gs", "sr", "rate", "load"} - set(bearing.dtype.names)
    if missing:
        raise SignalFileError(f"{path}: struct 'bearing' lacks field(s) {', '.join(sorted(missing))}")

    def scalar(name: str) -> float:
        value = np.asarray(bearing[name].flat[0]).ravel()
        try:
            if value.size == 1:
                return float(value[0])  # ``load`` is a string: float("50")
        except (TypeError, ValueError):
            pass
        raise SignalFileError(f"{path}: field bearing.{name} is not a number")

    signal = validate_signal(np.asarray(bearing["gs"].flat[0]).reshape(-1), min_samples=1)
    return signal, scalar("sr"), scalar("rate"), scalar("load")


class MFPTDataset(OneAccelerometerFiles):
    """MFPT inner- and outer-race faults at 7 loads each (48,828 Hz, 3 s per file).

    ``sampling_rate``: common rate to resample to (``None`` keeps the file's 48,828 Hz).
    ``root``: data root (default ``faultdx.paths.data_dir()``).
    """

    name = "mfpt"
    summary = "MFPT inner/outer-race faults, 7 loads, 48,828 Hz (CC BY-NC-SA 4.0, non-commercial)"
    classes: tuple[str, ...] = MFPT_CLASSES
    conditions: tuple[float, ...] = tuple(sorted({f.load_lbs for f in mfpt_files()}))
    condition_unit = "lbs"
    bearing = "MFPT NICE"

    def __init__(self, sampling_rate: float | None = None, root: str | Path | None = None) -> None:
        if sampling_rate is not None and sampling_rate <= 0:
            raise ValueError(f"sampling_rate must be positive or None, got {sampling_rate}")
        self.sampling_rate = sampling_rate
        self.root = Path(root) if root is not None else data_dir()

    def files(self) -> list[MfptFile]:
        return list(mfpt_files())

    def path_of(self, entry: MfptFile) -> Path:
        return self.root / entry.relpath

    def label_of(self, entry: MfptFile) -> str:
        return entry.fault_type

    def load(self, entry: MfptFile) -> Recording:
        """Read one file (through the decoded-array cache) as a Recording."""
        path = self.path_of(entry)
        rate = self.sampling_rate or entry.sampling_rate

        def decode() -> np.ndarray:
            signal, file_rate, _, _ = read_mfpt_file(path)
            return resample(signal, file_rate, rate)

        return Recording(
            key=f"mfpt/{Path(entry.file).stem}",
            signal=cached_array("mfpt", f"{source_key(path)}-{rate:g}", decode),
            sampling_rate=float(rate),
            label=self.label_of(entry),
            condition=entry.load_lbs,
            rpm=entry.shaft_hz * 60.0,
            channels=("DE",),
            source=str(path),
            sha256=entry.sha256,
            bearing=self.bearing,
            meta={"file": entry.file, "load_lbs": entry.load_lbs, "file_sampling_rate": entry.sampling_rate},
        )

    def info(self) -> InfoTable:
        files = self.files()
        return InfoTable(
            title=f"mfpt ({len(self.classes)} classes, {self.bearing}) under {self.root}",
            columns=("file", "class", "load (lbs)", "shaft (Hz)", "rate (Hz)"),
            rows=[(f.relpath, f.fault_type, f"{f.load_lbs:g}", f"{f.shaft_hz:g}", f"{f.sampling_rate:g}")
                  for f in files],
            files=[SourceFile(self.path_of(f), f.sha256, f.git_sha1) for f in files],
            footer=f"classes: {', '.join(self.classes)}",
        )

    def examples(self) -> list[DatasetExample]:
        """The files present, each at its own rate."""
        native = MFPTDataset(sampling_rate=None, root=self.root)
        return [
            DatasetExample(
                name=f"mfpt-{Path(e.file).stem}",
                title=f"MFPT {Path(e.file).stem} · {pretty_label(e.fault_type)} · {e.load_lbs:g} lbs",
                group=f"MFPT files (another rig: {self.bearing} bearing)",
                label=e.fault_type,
                sampling_rate=e.sampling_rate,
                rpm=e.shaft_hz * 60,
                bearing=self.bearing,
                unit="acceleration (g)",
                description=f"MFPT {e.relpath}, load {e.load_lbs:g} lbs (a rig the CWRU model never saw)",
                samples=lambda e=e: native.load(e).signal[0],
                path=self.path_of(e),
            )
            for e in self.files() if self.path_of(e).is_file()
        ]

    def condition_of(self, entry: MfptFile) -> float:
        return entry.load_lbs
