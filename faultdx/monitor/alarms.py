"""When an asset's alarms open and close.

Two kinds, each open at most once per asset (per fault type for ``fault``):

- ``zone``: the latest measurement's velocity zone is C or D; the alarm's level follows the zone (C → D
  escalates it) and it closes when a measurement is back in A or B.
- ``fault``: the same fault type (anything but ``normal``) was diagnosed in at least N of the last M
  measurements; it closes when none of the last M show it (hysteresis: a verdict that alternates between a
  fault and another answer does not open and close the alarm over and over).
- ``unknown``: the same rule for the verdict ``unknown`` (the model's unknown-condition score above its
  calibrated threshold, :mod:`faultdx.ood`): a condition the model was not trained on, not a fault type.
- ``sensor``: the same rule for the verdict ``bad_signal`` (the signal-quality gate refused the measurement:
  flat, clipped, dropped out, no machine in it): the sensor or its cabling needs a look, not the bearing.

Acknowledging an alarm (with a note) records that someone has seen it; only the condition clearing closes it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Sequence
from dataclasses import dataclass

ALARM_ZONES = ("C", "D")
UNKNOWN = "unknown"  # the verdict of faultdx.ood above its threshold
BAD_SIGNAL = "bad_signal"  # the verdict when faultdx.diagnose.quality refuses the signal
SENSOR = "sensor"  # the alarm kind of repeated bad signals
DEFAULT_REPEAT_N = 3
DEFAULT_REPEAT_M = 5
MAX_REPEAT_M = 100


@dataclass(frozen=True)
class AlarmRule:
    """``repeat_n`` of the last ``repeat_m`` measurements with one fault type open a ``fault`` alarm."""

    repeat_n: int = DEFAULT_REPEAT_N
    repeat_m: int = DEFAULT_REPEAT_M

    def __post_init__(self) -> None:
        if not 1 <= self.repeat_n <= self.repeat_m <= MAX_REPEAT_M:
            raise ValueError(
                f"alarm rule needs 1 <= N <= M <= {MAX_REPEAT_M}, got N={self.repeat_n}, M={self.repeat_m}"
            )


@dataclass(frozen=True)
class Condition:
    """An alarm condition that holds now: ``kind`` (zone | fault | unknown | sensor), ``key`` (``zone`` or the
    verdict), ``level`` (the zone letter, or the verdict), and a message for people."""

    kind: str
    key: str
    level: str
    message: str


@dataclass(frozen=True)
class Measurement:
    """What the rules read of one stored diagnosis."""

    zone: str | None
    fault_type: str
    velocity_rms: float | None


def conditions(
    recent: Sequence[Measurement], rule: AlarmRule, open_now: Collection[tuple[str, str]] = ()
) -> dict[tuple[str, str], Condition]:
    """The alarm conditions that hold given ``recent`` measurements (newest first, at least the latest) and
    the alarms open now (``(kind, key)``: an open verdict alarm holds while any of the last M show it)."""
    out: dict[tuple[str, str], Condition] = {}
    if not recent:
        return out
    latest = recent[0]
    if latest.zone in ALARM_ZONES:
        velocity = f"{latest.velocity_rms:.2f} mm/s" if latest.velocity_rms is not None else "velocity"
        out[("zone", "zone")] = Condition("zone", "zone", latest.zone, f"vibration in zone {latest.zone} "
                                          f"({velocity} RMS, 10-1000 Hz)")
    window = recent[: rule.repeat_m]
    counts = Counter(m.fault_type for m in window if m.fault_type != "normal")
    for fault_type, count in sorted(counts.items()):
        kind = {UNKNOWN: UNKNOWN, BAD_SIGNAL: SENSOR}.get(fault_type, "fault")
        if count >= rule.repeat_n or (kind, fault_type) in open_now:
            what = {UNKNOWN: "an unknown condition (not seen in training)",
                    SENSOR: "a bad signal (check the sensor and its cabling; no diagnosis)",
                    }.get(kind, fault_type)
            message = f"{what} in {count} of the last {len(window)} measurements"
            out[(kind, fault_type)] = Condition(kind, fault_type, fault_type, message)
    return out


@dataclass(frozen=True)
class Changes:
    """What to do with the open alarms: open these conditions, close these keys, update these levels."""

    open: list[Condition]
    close: list[tuple[str, str]]
    update: list[Condition]


def changes(open_now: dict[tuple[str, str], str], holding: dict[tuple[str, str], Condition]) -> Changes:
    """Compare the open alarms (``{(kind, key): level}``) with the conditions that hold."""
    return Changes(
        open=[c for k, c in holding.items() if k not in open_now],
        close=[k for k in open_now if k not in holding],
        update=[c for k, c in holding.items() if k in open_now and open_now[k] != c.level],
    )
