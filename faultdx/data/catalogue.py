"""Publisher file tables shipped with the package (``cwru_catalogue.csv``, ``mfpt_catalogue.csv``).

Each row is one original file: its labels, operating condition, sampling rate and checksum (sha256 where
known, otherwise the git blob id). Files not present on this machine are listed too, so absence is a fact the
code can report rather than an error.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from importlib import resources

FAULT_CODES = {"normal": "normal", "B": "ball", "IR": "inner_race", "OR": "outer_race"}
CWRU_SETS = ("12k_drive_end", "normal_baseline", "12k_fan_end", "48k_drive_end")


def _float_or_none(text: str) -> float | None:
    return float(text) if text else None


def _int_or_none(text: str) -> int | None:
    return int(text) if text else None


@dataclass(frozen=True)
class CwruFile:
    """One CWRU publisher file (``<number>.mat``)."""

    set: str
    number: int
    code: str  # publisher label: normal / B / IR / OR
    fault_diameter: float | None  # inches
    or_position: str  # "@6", "@3", "@12" or "" (not outer race)
    load_hp: int
    nominal_rpm: float
    file_rpm: float | None
    sampling_rate: float
    samples: int | None
    bytes: int | None
    sha256: str | None
    git_sha1: str | None
    variable_number: int  # the number in the variable names (174.mat holds X173_*)

    @property
    def filename(self) -> str:
        return f"{self.number}.mat"

    @property
    def relpath(self) -> str:
        """Path under the data root: ``cwru/<set>/<number>.mat``."""
        return f"cwru/{self.set}/{self.filename}"

    @property
    def fault_type(self) -> str:
        return FAULT_CODES[self.code]

    @property
    def class_name(self) -> str:
        """10-class name: ``normal`` or ``<fault type>_<diameter in mils>`` (``inner_race_007``)."""
        if self.code == "normal":
            return "normal"
        return f"{self.fault_type}_{round(self.fault_diameter * 1000):03d}"

    def variable(self, channel: str) -> str:
        """MAT variable holding ``channel`` (DE / FE / BA), named after the file's own record number."""
        return f"X{self.variable_number:03d}_{channel}_time"

    @property
    def rpm(self) -> float:
        """Speed recorded in the file where known, else the nominal speed for the load."""
        return self.file_rpm or self.nominal_rpm


@dataclass(frozen=True)
class MfptFile:
    """One MFPT file (struct ``bearing`` with fields gs, sr, rate, load)."""

    file: str
    code: str
    load_lbs: float
    shaft_hz: float
    sampling_rate: float
    samples: int | None
    bytes: int | None
    sha256: str | None
    git_sha1: str | None

    @property
    def relpath(self) -> str:
        return f"mfpt/{self.file}"

    @property
    def fault_type(self) -> str:
        return FAULT_CODES[self.code]


def _rows(name: str) -> list[dict[str, str]]:
    text = resources.files("faultdx.data").joinpath(name).read_text(encoding="utf-8")
    return list(csv.DictReader(text.splitlines()))


@cache
def cwru_files() -> tuple[CwruFile, ...]:
    """Every catalogued CWRU file (present or not)."""
    return tuple(
        CwruFile(
            set=r["set"],
            number=int(r["number"]),
            code=r["label"],
            fault_diameter=_float_or_none(r["fault_diameter"]),
            or_position=r["or_position"],
            load_hp=int(r["load_hp"]),
            nominal_rpm=float(r["nominal_rpm"]),
            file_rpm=_float_or_none(r["file_rpm"]),
            sampling_rate=float(r["sampling_rate"]),
            samples=_int_or_none(r["samples"]),
            bytes=_int_or_none(r["bytes"]),
            sha256=r["sha256"] or None,
            git_sha1=r["git_sha1"] or None,
            variable_number=int(r["variable_number"]),
        )
        for r in _rows("cwru_catalogue.csv")
    )


@cache
def mfpt_files() -> tuple[MfptFile, ...]:
    """Every catalogued MFPT file."""
    return tuple(
        MfptFile(
            file=r["file"],
            code=r["label"],
            load_lbs=float(r["load_lbs"]),
            shaft_hz=float(r["shaft_hz"]),
            sampling_rate=float(r["sampling_rate"]),
            samples=_int_or_none(r["samples"]),
            bytes=_int_or_none(r["bytes"]),
            sha256=r["sha256"] or None,
            git_sha1=r["git_sha1"] or None,
        )
        for r in _rows("mfpt_catalogue.csv")
    )


def cwru_file(number: int) -> CwruFile:
    """Catalogue entry of CWRU file ``number`` (ValueError if not catalogued)."""
    for entry in cwru_files():
        if entry.number == number:
            return entry
    raise ValueError(f"CWRU file {number}.mat is not in the catalogue")


# -- the publisher's naming rules, for readers of uploaded files ------------------------------------------
def cwru_channel_matches(name: str, wanted: str) -> bool:
    """A channel asked for by its short name: ``DE`` names ``DE`` and a CWRU column ``X105_DE_time``."""
    return name == wanted or name.endswith(f"_{wanted}_time")


def cwru_own_columns(stem: str, names: Iterable[str]) -> tuple[list[str], float | None] | None:
    """A file named like a CWRU publisher file (``174``) → the columns of its own record among ``names``
    (``174.mat`` holds ``X173_*``, some files also carry another record's) and the catalogue's sampling rate
    (None for a number not catalogued); None when the name is not a number or no column is its own."""
    if not stem.isdigit():
        return None
    number, rate = int(stem), None
    for entry in cwru_files():
        if entry.number == number:
            number, rate = entry.variable_number, entry.sampling_rate
            break
    own = [n for n in names if re.fullmatch(rf"X0*{number}_[A-Za-z]+_time", n)]
    return (own, rate) if own else None
