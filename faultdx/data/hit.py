"""HIT-SM bearing data (Harbin Institute of Technology): two test rigs with healthy, inner- and outer-race
recordings, through the dataset interface.

Rigs: ``mfs`` (SpectraQuest machinery fault simulator) and ``self_built``; 21 recordings each: healthy, inner
race and outer race (defects of 2, 5 and 8 degrees of arc) at 600, 900 and 1200 rpm nominal, 5.12 s at
51,200 Hz. Each MAT v5 file holds one variable whose name differs from file to file; the shipped table
``hit_catalogue.csv`` names it, with the measured shaft speed (the known speed: it differs from the nominal
by up to 6 %) and the sha256 of the published bytes. Files live under ``<data root>/hit/<rig>/``. Bearing:
SKF 6205 on both rigs (the self-built rig's defect orders match 6205 internals). Amplitude gains differ by
~100x between files, so nothing may rely on absolute levels. Publisher: GitHub ``hitwzc/Bearing-datasets``
(use for bearing-fault research with citation).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cache
from importlib import resources
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
from faultdx.data.readers import read_mat, validate_signal
from faultdx.data.windows import resample
from faultdx.paths import data_dir

RIGS = ("mfs", "self_built")
HIT_CLASSES = ("normal", "inner_race", "outer_race")
RIG_TITLES = {"mfs": "SpectraQuest MFS rig", "self_built": "self-built rig"}


@dataclass(frozen=True)
class HitFile:
    """One HIT-SM publisher file (a row of ``hit_catalogue.csv``)."""

    file: str  # path under <data root>/hit/
    rig: str
    label: str  # normal / inner_race / outer_race
    defect_arc_deg: float | None
    rpm_nominal: float
    rpm_measured: float
    sampling_rate: float
    samples: int
    variable: str
    bytes: int
    sha256: str

    @property
    def relpath(self) -> str:
        return f"hit/{self.file}"

    @property
    def stem(self) -> str:
        return Path(self.file).stem


@cache
def hit_files() -> tuple[HitFile, ...]:
    """Every HIT-SM file of the shipped table, present on this machine or not."""
    text = resources.files("faultdx.data").joinpath("hit_catalogue.csv").read_text(encoding="utf-8")
    rows = csv.DictReader(text.splitlines())
    return tuple(
        HitFile(
            file=r["file"], rig=r["rig"], label=r["label"],
            defect_arc_deg=float(r["defect_arc_deg"]) if r["defect_arc_deg"] else None,
            rpm_nominal=float(r["rpm_nominal"]), rpm_measured=float(r["rpm_measured"]),
            sampling_rate=float(r["sampling_rate_hz"]), samples=int(r["samples"]), variable=r["variable"],
            bytes=int(r["bytes"]), sha256=r["sha256"],
        )
        for r in rows
    )


class HitDataset(OneAccelerometerFiles):
    """HIT-SM recordings of one rig or both: healthy / inner race / outer race at 600-1200 rpm.

    ``rig``: ``"mfs"``, ``"self_built"`` or ``"all"``. ``sampling_rate``: common rate to resample to (``None``
    keeps the files' 51,200 Hz). ``root``: data root (default ``faultdx.paths.data_dir()``).
    The operating condition of a recording is its nominal speed in rpm.
    """

    name = "hit"
    summary = "HIT-SM two rigs (MFS, self-built): healthy / inner / outer race, 600-1200 rpm, 51,200 Hz"
    classes: tuple[str, ...] = HIT_CLASSES
    conditions: tuple[float, ...] = (600.0, 900.0, 1200.0)
    condition_unit = "rpm"
    bearing = "SKF 6205"

    def __init__(self, rig: str = "all", sampling_rate: float | None = None,
                 root: str | Path | None = None) -> None:
        if rig not in (*RIGS, "all"):
            raise ValueError(f"unknown HIT rig {rig!r}; valid rigs: {', '.join(RIGS)}, all")
        if sampling_rate is not None and sampling_rate <= 0:
            raise ValueError(f"sampling_rate must be positive or None, got {sampling_rate}")
        self.rig = rig
        self.sampling_rate = sampling_rate
        self.root = Path(root) if root is not None else data_dir()

    def files(self) -> list[HitFile]:
        return [f for f in hit_files() if self.rig in ("all", f.rig)]

    def path_of(self, entry: HitFile) -> Path:
        return self.root / entry.relpath

    def load(self, entry: HitFile) -> Recording:
        """Read one file (through the decoded-array cache) as a Recording at the dataset's rate."""
        path = self.path_of(entry)
        rate = self.sampling_rate or entry.sampling_rate

        def decode() -> np.ndarray:
            raw = read_mat(path, [entry.variable])[entry.variable]
            signal = validate_signal(np.asarray(raw, dtype=np.float64).reshape(-1), min_samples=1)
            return resample(signal, entry.sampling_rate, rate)

        return Recording(
            key=f"hit/{entry.rig}/{entry.stem}",
            signal=cached_array("hit", f"{entry.rig}-{source_key(path)}-{rate:g}", decode),
            sampling_rate=float(rate),
            label=entry.label,
            condition=entry.rpm_nominal,
            rpm=entry.rpm_measured,
            channels=("DE",),
            source=str(path),
            sha256=entry.sha256,
            bearing=self.bearing,
            meta={"file": entry.file, "rig": entry.rig, "defect_arc_deg": entry.defect_arc_deg,
                  "rpm_nominal": entry.rpm_nominal, "file_sampling_rate": entry.sampling_rate},
        )

    def info(self) -> InfoTable:
        files = self.files()
        return InfoTable(
            title=f"hit ({self.rig}; {len(self.classes)} classes, {self.bearing}) under {self.root}",
            columns=("file", "rig", "class", "defect (deg)", "rpm nominal", "rpm measured", "rate (Hz)"),
            rows=[(f.relpath, f.rig, f.label, f"{f.defect_arc_deg:g}" if f.defect_arc_deg else "",
                   f"{f.rpm_nominal:g}", f"{f.rpm_measured:g}", f"{f.sampling_rate:g}") for f in files],
            files=[SourceFile(self.path_of(f), f.sha256) for f in files],
            footer=f"classes: {', '.join(self.classes)}; condition = nominal rpm; "
                   "measured rpm is the known speed",
        )

    def examples(self) -> list[DatasetExample]:
        """The files present, each at its own rate."""
        native = HitDataset(rig=self.rig, sampling_rate=None, root=self.root)
        return [
            DatasetExample(
                name=f"hit-{e.rig}-{e.stem}",
                title=f"HIT {RIG_TITLES[e.rig]} {e.stem} · {pretty_label(e.label)} · {e.rpm_measured:g} rpm",
                group=f"HIT-SM files ({RIG_TITLES[e.rig]}, {self.bearing})",
                label=e.label,
                sampling_rate=e.sampling_rate,
                rpm=e.rpm_measured,
                bearing=self.bearing,
                unit="acceleration (arbitrary gain)",
                description=f"HIT-SM {e.relpath}, {e.rpm_measured:g} rpm measured (another rig)",
                samples=lambda e=e: native.load(e).signal[0],
                path=self.path_of(e),
            )
            for e in self.files() if self.path_of(e).is_file()
        ]

    def condition_of(self, entry: HitFile) -> float:
        return entry.rpm_nominal
