"""ISO 20816-3 evaluation zones of broadband velocity RMS (mm/s, 10-1000 Hz): A (newly commissioned),
B (unrestricted long-term operation), C (limited operation), D (damage likely).

The zone boundaries of the standard's Annex A (by machine group and support flexibility) are in
``iso20816_3.csv`` with their source; an asset may carry its own limits instead.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Literal

TABLE = Path(__file__).with_name("iso20816_3.csv")
ZONES = ("A", "B", "C", "D")
Support = Literal["rigid", "flexible"]


@dataclass(frozen=True)
class ZoneLimits:
    """Upper velocity RMS (mm/s) of zones A, B and C; above ``cd`` is zone D."""

    ab: float
    bc: float
    cd: float
    source: str = "custom"

    def __post_init__(self) -> None:
        if not 0 < self.ab < self.bc < self.cd:
            raise ValueError(f"zone limits must rise: 0 < A/B < B/C < C/D, got {self.ab}, {self.bc}, "
                             f"{self.cd}")

    def zone(self, velocity_rms: float) -> str:
        """The zone letter of a velocity RMS (a value on a boundary belongs to the upper zone)."""
        return ZONES[sum(velocity_rms >= limit for limit in (self.ab, self.bc, self.cd))]

    def as_dict(self) -> dict[str, float | str]:
        return {"ab": self.ab, "bc": self.bc, "cd": self.cd, "source": self.source}


@cache
def iso_table() -> dict[tuple[int, str], ZoneLimits]:
    """``{(group, support): limits}`` from the standard's tables."""
    with TABLE.open(newline="", encoding="utf-8") as f:
        return {
            (int(row["group"]), row["support"]): ZoneLimits(
                float(row["ab_mm_s"]), float(row["bc_mm_s"]), float(row["cd_mm_s"]), row["source"]
            )
            for row in csv.DictReader(f)
        }


def iso_limits(group: int, support: str) -> ZoneLimits:
    """The ISO 20816-3 limits of machine ``group`` (1 or 2) on a ``support`` (rigid or flexible)."""
    table = iso_table()
    if (group, support) not in table:
        known = ", ".join(f"{g}/{s}" for g, s in table)
        raise ValueError(f"no ISO 20816-3 limits for group {group!r}, support {support!r}; known: {known}")
    return table[(group, support)]
