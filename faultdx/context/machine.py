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
from functools import cached_property
from typing import Any, Literal

import numpy as np

from faultdx.data.bearing import (
    CONTEXT_FIELDS,
    BearingError,
    BearingGeometry,
    bearing_from,
    defect_frequencies,
)
from faultdx.errors import InputError

MIN_RPM = 30.0  # 0.5 Hz: slower shafts give defect lines below any window's resolution
MAX_RPM = 60_000.0  # 1 kHz shaft: spindles
MAX_TOLERANCE_PCT = 50.0
__all__ = [
    "CONTEXT_FIELDS", "ContextError", "MachineContext", "RpmRange", "check_bearing", "check_rpm",
    "resolve_context",
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


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


@dataclass(frozen=True)
class RpmRange:
    """A shaft speed known only roughly (a nominal speed and a tolerance, or bounds): the signal refines it
    within ``[low, high]``."""

    low: float
    high: float

    @classmethod
    def from_tolerance(cls, rpm: Any, tolerance_pct: Any, field: str = "rpm_tolerance") -> RpmRange:
        """``rpm`` ± ``tolerance_pct`` percent (more than 0, less than 50), within the rpm bounds."""
        nominal = check_rpm(rpm)
        if not _number(tolerance_pct) or not 0 < tolerance_pct < MAX_TOLERANCE_PCT:
            raise ContextError(f"{field} must be a percentage above 0 and below {MAX_TOLERANCE_PCT:g}, got "
                               f"{tolerance_pct!r}", field)
        share = tolerance_pct / 100.0
        return cls(max(MIN_RPM, nominal * (1 - share)), min(MAX_RPM, nominal * (1 + share)))

    @classmethod
    def from_bounds(cls, bounds: Any, field: str = "rpm_range") -> RpmRange:
        """``[low, high]`` rpm, low below high, both within the rpm bounds."""
        ok = isinstance(bounds, (list, tuple)) and len(bounds) == 2 and all(_number(v) for v in bounds)
        if not ok:
            raise ContextError(f"{field} must be [low, high] in rpm, got {bounds!r}", field)
        low, high = float(bounds[0]), float(bounds[1])
        if not low < high:
            raise ContextError(f"{field} must be [low, high] with low below high, got {bounds!r}", field)
        if low < MIN_RPM or high > MAX_RPM:
            raise ContextError(f"{field} must lie within {MIN_RPM:g} to {MAX_RPM:g} rpm, got {bounds!r}",
                               field)
        return cls(low, high)


@dataclass(frozen=True)
class MachineContext:
    """Shaft speed and bearing of one signal, and where each came from: the rpm ``"given"``, ``"estimated"``
    from the signal, or ``"nominal"`` (the model's default speed, used when neither was possible and the
    network does not need it); the bearing ``"given"`` or the ``"model"``'s own."""

    rpm: float
    bearing: BearingGeometry
    rpm_source: Literal["given", "estimated", "refined", "nominal"] = "given"
    bearing_source: Literal["given", "model"] = "given"
    rpm_uncertainty: float | None = None  # one sigma, rpm, of an estimated or refined speed
    rpm_ambiguous: bool = False  # an octave or sub-harmonic of the estimate explains the signal as well

    @property
    def shaft_hz(self) -> float:
        return self.rpm / 60.0

    @cached_property
    def _frequencies(self) -> dict[str, float]:
        """The defect frequencies, computed once per context (a diagnosis reads them up to four times)."""
        return defect_frequencies(self.bearing, self.shaft_hz).as_dict()

    def frequencies(self) -> dict[str, float]:
        """Defect frequencies in Hz: shaft, bpfo, bpfi, bsf, ftf."""
        return dict(self._frequencies)

    def vector(self, sampling_rate: float) -> np.ndarray:
        """float32 ``[5]``: shaft, BPFO, BPFI, BSF, FTF in cycles per sample at ``sampling_rate`` (the
        numbers of :func:`~faultdx.data.bearing.context_vector`, from the frequencies computed once)."""
        f = self._frequencies
        return np.array([f[k] / sampling_rate for k in CONTEXT_FIELDS], dtype=np.float32)

    def describe(self) -> dict[str, Any]:
        """JSON-ready: rpm (and whether estimated), bearing, defect frequencies in Hz."""
        out = {
            "rpm": self.rpm,
            "rpm_source": self.rpm_source,
            "bearing": self.bearing.as_request(),
            "bearing_source": self.bearing_source,
            "defect_frequencies_hz": self.frequencies(),
        }
        if self.rpm_uncertainty is not None:
            out["rpm_uncertainty"] = round(self.rpm_uncertainty, 1)
            out["rpm_ambiguous"] = self.rpm_ambiguous
        return out


def resolve_context(
    signal: np.ndarray,
    sampling_rate: float,
    *,
    rpm: float | RpmRange | None,
    bearing: str | dict | BearingGeometry | None,
    default_bearing: BearingGeometry,
) -> MachineContext:
    """The context of ``signal [C, T]``: given rpm/bearing checked; a speed range refined from the signal;
    absent rpm estimated from the signal (shaft harmonics and the bearing's defect families, with its
    uncertainty and ambiguity); absent bearing the model's own (``default_bearing``)."""
    geometry = default_bearing if bearing is None else check_bearing(bearing)
    bearing_source = "model" if bearing is None else "given"
    if rpm is not None and not isinstance(rpm, RpmRange):
        return MachineContext(check_rpm(rpm), geometry, "given", bearing_source)
    from faultdx.context.joint_speed import estimate_speed

    first = np.asarray(signal, dtype=np.float32).reshape(-1, np.shape(signal)[-1])[0]
    bounds = None if rpm is None else (rpm.low, rpm.high)
    estimate = estimate_speed(first, sampling_rate, bearing=geometry, rpm_range=bounds)
    return MachineContext(estimate.rpm, geometry, "estimated" if rpm is None else "refined", bearing_source,
                          estimate.uncertainty_rpm, estimate.ambiguous)
