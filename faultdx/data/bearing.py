"""Rolling-bearing geometry, the shipped bearing catalogue, and the characteristic defect frequencies.

For a bearing with ``n`` rolling elements of diameter ``d`` on pitch diameter ``D`` and contact angle ``a``,
at shaft frequency ``fr`` (outer race fixed)::

    FTF  = fr/2 * (1 - d/D cos a)               cage (fundamental train)
    BPFO = n * FTF                              ball pass, outer race
    BPFI = n/2 * fr * (1 + d/D cos a)           ball pass, inner race
    BSF  = D/(2d) * fr * (1 - (d/D cos a)^2)    ball spin (a ball defect strikes both races: lines at 2 x BSF)

A bearing is named from the catalogue (``bearings.csv``, each entry with its published source) or given as
``{"balls": 8, "ball_diameter_mm": 7.94, "pitch_diameter_mm": 33.5, "contact_angle_deg": 0}``.
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import asdict, dataclass
from functools import cache
from importlib.resources import files
from typing import Any

import numpy as np

from faultdx.errors import InputError

INCH_MM = 25.4
REQUEST_KEYS = ("balls", "ball_diameter_mm", "pitch_diameter_mm", "contact_angle_deg")


class BearingError(InputError):
    """A bearing name or geometry that cannot describe a real bearing; ``field`` names the bad part."""

    def __init__(self, message: str, field: str = "bearing") -> None:
        super().__init__(message, field)


@dataclass(frozen=True)
class BearingGeometry:
    """Rolling-element bearing geometry (diameters in mm, contact angle in degrees)."""

    n_balls: int
    ball_diameter: float
    pitch_diameter: float
    contact_angle_deg: float = 0.0
    name: str = ""
    source: str = ""

    def __post_init__(self) -> None:
        check = _checker("bearing")
        check(isinstance(self.n_balls, int) and not isinstance(self.n_balls, bool) and 3 <= self.n_balls
              <= 100, "balls", f"must be an integer from 3 to 100, got {self.n_balls!r}")
        check(_finite(self.ball_diameter) and self.ball_diameter > 0, "ball_diameter_mm",
              f"must be a positive number of mm, got {self.ball_diameter!r}")
        check(_finite(self.pitch_diameter) and self.pitch_diameter > 0, "pitch_diameter_mm",
              f"must be a positive number of mm, got {self.pitch_diameter!r}")
        check(self.ball_diameter < self.pitch_diameter, "ball_diameter_mm",
              f"must be below the pitch diameter ({self.pitch_diameter!r} mm), got {self.ball_diameter!r}")
        check(_finite(self.contact_angle_deg) and 0 <= self.contact_angle_deg < 90, "contact_angle_deg",
              f"must be from 0 to below 90 degrees, got {self.contact_angle_deg!r}")
        check(self.n_balls * self.ball_diameter < math.pi * self.pitch_diameter, "balls",
              f"{self.n_balls} balls of {self.ball_diameter:g} mm do not fit on a {self.pitch_diameter:g} mm "
              "pitch circle")

    def as_dict(self) -> dict:
        return asdict(self)

    def as_request(self) -> dict[str, Any]:
        """The geometry in the API's form (``balls``, ``ball_diameter_mm``, ...) plus name and source."""
        return {
            "name": self.name or None,
            "balls": self.n_balls,
            "ball_diameter_mm": self.ball_diameter,
            "pitch_diameter_mm": self.pitch_diameter,
            "contact_angle_deg": self.contact_angle_deg,
            "source": self.source or None,
        }


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _checker(prefix: str):
    def check(ok: bool, key: str, message: str) -> None:
        if not ok:
            raise BearingError(f"{prefix}.{key} {message}", f"{prefix}.{key}")

    return check


@cache
def catalogue() -> dict[str, BearingGeometry]:
    """The shipped bearing catalogue, name → geometry (each entry names its published source)."""
    text = files("faultdx.data").joinpath("bearings.csv").read_text(encoding="utf-8")
    out = {}
    for row in csv.DictReader(text.splitlines()):
        out[row["name"]] = BearingGeometry(
            int(row["balls"]), float(row["ball_diameter_mm"]), float(row["pitch_diameter_mm"]),
            float(row["contact_angle_deg"]), row["name"], row["source"],
        )
    return out


def bearing_from(value: str | dict[str, Any] | BearingGeometry, field: str = "bearing") -> BearingGeometry:
    """A catalogue name, an API geometry object, or a geometry → :class:`BearingGeometry`.

    Errors are :class:`BearingError` naming ``field`` (or ``field.balls``, ...).
    """
    if isinstance(value, BearingGeometry):
        return value
    if isinstance(value, str):
        known = catalogue()
        if value not in known:
            raise BearingError(f"{field}: unknown bearing {value!r}; catalogue: {', '.join(known)}", field)
        return known[value]
    if not isinstance(value, dict):
        raise BearingError(f"{field}: a catalogue name or an object with {', '.join(REQUEST_KEYS)}", field)
    unknown = sorted(set(value) - {*REQUEST_KEYS, "name", "source"})
    missing = [k for k in REQUEST_KEYS[:3] if k not in value]
    if unknown or missing:
        raise BearingError(
            f"{field}: geometry needs {', '.join(REQUEST_KEYS[:3])} (and optionally contact_angle_deg, name);"
            f" missing {missing}, unknown {unknown}", field)
    check = _checker(field)
    for key in REQUEST_KEYS:
        if key in value:
            check(_finite(value[key]), key, f"must be a number, got {value[key]!r}")
    balls = value["balls"]
    check(float(balls).is_integer(), "balls", f"must be a whole number, got {balls!r}")
    try:
        ball, pitch = float(value["ball_diameter_mm"]), float(value["pitch_diameter_mm"])
        angle = float(value.get("contact_angle_deg", 0.0))
        return BearingGeometry(int(balls), ball, pitch, angle, str(value.get("name") or ""))
    except BearingError as err:
        key = err.field.split(".", 1)[1]
        raise BearingError(str(err).replace("bearing.", f"{field}.", 1), f"{field}.{key}") from None


def parse_bearing(
    value: str | dict[str, Any] | BearingGeometry | None, field: str = "bearing"
) -> BearingGeometry | None:
    """The one bearing parser of every interface (CLI options, form fields, JSON bodies, sidecar columns):
    a catalogue name, a geometry object, or a geometry object as JSON text → :class:`BearingGeometry`;
    None or blank text → None (the model's own bearing). Errors are :class:`BearingError` naming ``field``
    or the part (``bearing.balls``)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, str):
        value = value.strip()
        if value.startswith("{"):
            try:
                value = json.loads(value)
            except ValueError as err:
                raise BearingError(f"{field}: not a valid JSON object ({err})", field) from None
    return bearing_from(value, field)


SKF_6205 = catalogue()["SKF 6205"]
SKF_6203 = catalogue()["SKF 6203"]
MFPT_NICE = catalogue()["MFPT NICE"]
GEOMETRIES = catalogue()


@dataclass(frozen=True)
class DefectFrequencies:
    """Characteristic defect frequencies in Hz at one shaft speed."""

    shaft: float
    bpfo: float
    bpfi: float
    bsf: float
    ftf: float

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


CONTEXT_FIELDS = ("shaft", "bpfo", "bpfi", "bsf", "ftf")  # the order of a context vector


def context_vector(geometry: BearingGeometry, rpm: float, sampling_rate: float) -> np.ndarray:
    """float32 ``[5]``: shaft, BPFO, BPFI, BSF, FTF of ``geometry`` at ``rpm`` in cycles per sample."""
    f = defect_frequencies(geometry, rpm / 60.0).as_dict()
    return np.array([f[k] / sampling_rate for k in CONTEXT_FIELDS], dtype=np.float32)


def defect_frequencies(geometry: BearingGeometry, shaft_hz: float) -> DefectFrequencies:
    """BPFO, BPFI, BSF and FTF of ``geometry`` at ``shaft_hz`` (rpm / 60)."""
    if shaft_hz <= 0:
        raise ValueError(f"shaft_hz must be positive, got {shaft_hz}")
    cos_a = math.cos(math.radians(geometry.contact_angle_deg))
    ratio = geometry.ball_diameter / geometry.pitch_diameter * cos_a
    ftf = shaft_hz / 2 * (1 - ratio)
    return DefectFrequencies(
        shaft=shaft_hz,
        bpfo=geometry.n_balls * ftf,
        bpfi=geometry.n_balls / 2 * shaft_hz * (1 + ratio),
        bsf=geometry.pitch_diameter / (2 * geometry.ball_diameter) * shaft_hz * (1 - ratio**2),
        ftf=ftf,
    )
