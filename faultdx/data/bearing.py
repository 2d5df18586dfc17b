"""Rolling-bearing geometry and its characteristic defect frequencies: the one formula everything reuses.

For a bearing with ``n`` rolling elements of diameter ``d`` on pitch diameter ``D`` and contact angle ``a``,
at shaft frequency ``fr`` (outer race fixed)::

    FTF  = fr/2 * (1 - d/D cos a)               cage (fundamental train)
    BPFO = n * FTF                              ball pass, outer race
    BPFI = n/2 * fr * (1 + d/D cos a)           ball pass, inner race
    BSF  = D/(2d) * fr * (1 - (d/D cos a)^2)    ball spin (CWRU's tables list 2 x BSF)
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

INCH_MM = 25.4


@dataclass(frozen=True)
class BearingGeometry:
    """Deep-groove ball bearing geometry (diameters in mm)."""

    n_balls: int
    ball_diameter: float
    pitch_diameter: float
    contact_angle_deg: float = 0.0
    name: str = ""

    def __post_init__(self) -> None:
        if self.n_balls <= 0 or self.ball_diameter <= 0 or self.pitch_diameter <= self.ball_diameter:
            raise ValueError(
                f"invalid bearing geometry: n_balls={self.n_balls}, ball_diameter={self.ball_diameter}, "
                f"pitch_diameter={self.pitch_diameter} (need n_balls > 0 and 0 < ball < pitch diameter)"
            )

    def as_dict(self) -> dict:
        return asdict(self)


# CWRU drive-end bearing (ball 0.3126 in, pitch 1.537 in) and fan-end bearing (0.2656 in, 1.122 in).
SKF_6205 = BearingGeometry(9, 0.3126 * INCH_MM, 1.537 * INCH_MM, 0.0, "SKF 6205")
SKF_6203 = BearingGeometry(8, 0.2656 * INCH_MM, 1.122 * INCH_MM, 0.0, "SKF 6203")
# MFPT test rig bearing (NICE; roller 0.235 in, pitch 1.245 in, 8 elements).
MFPT_NICE = BearingGeometry(8, 0.235 * INCH_MM, 1.245 * INCH_MM, 0.0, "MFPT NICE")
GEOMETRIES = {g.name: g for g in (SKF_6205, SKF_6203, MFPT_NICE)}


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
