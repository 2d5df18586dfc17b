"""Machine context in requests: rpm and bearing checked once, the way every endpoint reports them.

One parser for all interfaces (:func:`faultdx.context.check_rpm`, :func:`faultdx.data.bearing.parse_bearing`);
an impossible value becomes a 422 naming the field (``rpm``, ``bearing``, ``bearing.balls`` ...). Answers
report the context through :meth:`faultdx.diagnose.Diagnosis.as_dict`; the note an estimated speed carries
there is :func:`faultdx.context.accuracy.rpm_estimate_note`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from faultdx_service.errors import ApiError

from faultdx.context import ContextError, RpmRange, check_rpm
from faultdx.data.bearing import BearingError, BearingGeometry
from faultdx.data.bearing import parse_bearing as parse_any_bearing


def context_error(err: ContextError) -> ApiError:
    """A library :class:`ContextError` as a 422 naming its field."""
    return ApiError(422, str(err), err.field)


def _checked(check: Callable[[Any, str], Any], value: Any, field: str) -> Any:
    """``check(value, field)``, None staying None; a :class:`ContextError` becomes a 422 naming its field."""
    if value is None:
        return None
    try:
        return check(value, field)
    except ContextError as err:
        raise context_error(err) from None


def parse_rpm(rpm: Any, field: str = "rpm") -> float | None:
    """A given shaft speed checked (None stays None: it is estimated from the signal)."""
    return _checked(check_rpm, rpm, field)


def parse_speed(rpm: Any, tolerance: Any = None, bounds: Any = None) -> float | RpmRange | None:
    """The request's speed: ``rpm`` as given, ``rpm`` ± ``rpm_tolerance`` % or ``rpm_range`` as a range the
    signal refines, or None (estimated); a bad or contradictory value is a 422 naming its field."""
    if tolerance is not None and rpm is None:
        raise ApiError(422, "rpm_tolerance: needs rpm (the nominal speed it is a tolerance of)",
                       "rpm_tolerance")
    if bounds is not None and rpm is not None:
        raise ApiError(422, "rpm_range: give either rpm (with rpm_tolerance) or rpm_range, not both",
                       "rpm_range")
    try:
        if tolerance is not None:
            return RpmRange.from_tolerance(rpm, tolerance)
        if bounds is not None:
            return RpmRange.from_bounds(bounds)
    except ContextError as err:
        raise context_error(err) from None
    return parse_rpm(rpm)


def parse_range_form(text: str | None, field: str = "rpm_range") -> list[float] | None:
    """A form field ``"low,high"`` → ``[low, high]`` (checked by :func:`parse_speed`); None stays None."""
    if text is None or not text.strip():
        return None
    try:
        return [float(part) for part in text.split(",")]
    except ValueError:
        raise ApiError(422, f"{field}: 'low,high' in rpm, got {text[:40]!r}", field) from None


def parse_bearing(value: Any, field: str = "bearing") -> BearingGeometry | None:
    """A catalogue name, a geometry object, or one as JSON text (a form field) → geometry; None or blank
    text: the model's own bearing (:func:`faultdx.data.bearing.parse_bearing`; a 422 naming the part)."""
    try:
        return parse_any_bearing(value, field)
    except BearingError as err:
        raise ApiError(422, str(err), err.field) from None
