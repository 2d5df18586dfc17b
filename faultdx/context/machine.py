"""The machine context of a signal: sampling rate, shaft speed (given or estimated) and bearing geometry.

Bearing defect frequencies scale with shaft speed and bearing geometry, so a diagnosis that is to transfer
from one machine to another needs both. The network and the envelope reference take them as a
*context vector*:
shaft, BPFO, BPFI, BSF and FTF in cycles per sample at the rate the windows are sampled at (Hz / rate), so the
same numbers describe the same physics whatever the rig.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from faultdx.data.bearing import (
    CONTEXT_FIELDS,
    BearingError,
    BearingGeometry,
    bearing_from,
    context_vector,
    defect_frequencies,
)
from faultdx.errors import InputError

MIN_RPM = 30.0  # 0.5 Hz: slower shafts give defect lines below any window's resolution
MAX_RPM = 60_000.0  # 1 kHz shaft: spindles
__all__ = [
    "CONTEXT_FIELDS", "ContextError", "MachineContext", "check_bearing", "check_rpm", "resolve_context",
]


class ContextError(InputError):
    """An impossible rpm or bearing; ``field`` names the offending input (``rpm``, ``bearing.balls``...)."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message, field)


def check_rpm(rpm: Any, field: str = "rpm") -> float:
    """A finite shaft speed from 30 to 60,000 rpm, else :class:`ContextError` naming ``field``."""
    ok = isinstance(rpm, (int, float)) and not isinstance(rpm, bool) and math.isfinite(rpm)
    if not ok or not MIN_RPM <= rpm <= MAX_RPM:
        raise ContextError(f"{field} must be a shaft speed from {MIN_RPM:g} to {MAX_RPM:g} rpm, got {rpm!r}",
                           field)
    return float(rpm)


def check_bearing(value: Any, field: str = "bearing") -> BearingGeometry:
    """A catalogue name or geometry object → geometry, else :class:`ContextError` naming the bad field."""
    try:
        return bearing_from(value, field)
    except BearingError as err:
        raise ContextError(str(err), err.field) from None


@dataclass(frozen=True)
class MachineContext:
    """Shaft speed and bearing of one signal, and where each came from: the rpm ``"given"``, ``"estimated"``
    from the signal, or ``"nominal"`` (the model's default speed, used when neither was possible and the
    network does not need it); the bearing ``"given"`` or the ``"model"``'s own."""

    rpm: float
    bearing: BearingGeometry
    rpm_source: Literal["given", "estimated", "nominal"] = "given"
    bearing_source: Literal["given", "model"] = "given"

    @property
    def shaft_hz(self) -> float:
        return self.rpm / 60.0

    def frequencies(self) -> dict[str, float]:
        """Defect frequencies in Hz: shaft, bpfo, bpfi, bsf, ftf."""
        return defect_frequencies(self.bearing, self.shaft_hz).as_dict()

    def vector(self, sampling_rate: float) -> np.ndarray:
        """float32 ``[5]``: shaft, BPFO, BPFI, BSF, FTF in cycles per sample at ``sampling_rate``."""
        return context_vector(self.bearing, self.rpm, sampling_rate)

    def describe(self) -> dict[str, Any]:
        """JSON-ready: rpm (and whether estimated), bearing, defect frequencies in Hz."""
        return {
            "rpm": self.rpm,
            "rpm_source": self.rpm_source,
            "bearing": self.bearing.as_request(),
            "bearing_source": self.bearing_source,
            "defect_frequencies_hz": self.frequencies(),
        }


def resolve_context(
    signal: np.ndarray,
    sampling_rate: float,
    *,
    rpm: float | None,
    bearing: str | dict | BearingGeometry | None,
    default_bearing: BearingGeometry,
) -> MachineContext:
    """The context of ``signal [C, T]``: given rpm/bearing checked, absent rpm estimated from the signal,
    absent bearing the model's own (``default_bearing``)."""
    geometry = default_bearing if bearing is None else check_bearing(bearing)
    if rpm is not None:
        return MachineContext(check_rpm(rpm), geometry, "given", "model" if bearing is None else "given")
    from faultdx.context.speed import estimate_rpm

    estimate = estimate_rpm(np.asarray(signal, dtype=np.float32).reshape(-1, np.shape(signal)[-1])[0],
                            sampling_rate)
    return MachineContext(estimate, geometry, "estimated", "model" if bearing is None else "given")
