"""Machine context in requests: rpm and bearing checked once, the way every endpoint reports them.

One parser for all interfaces (:func:`faultdx.context.check_rpm`, :func:`faultdx.data.bearing.parse_bearing`);
an impossible value becomes a 422 naming the field (``rpm``, ``bearing``, ``bearing.balls`` ...). Answers
report the context through :meth:`faultdx.diagnose.Diagnosis.as_dict`; :func:`rpm_accuracy` is the note an
estimated speed carries there.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import cache
from typing import Any

from faultdx_service.errors import ApiError

from faultdx.context import ContextError, RpmRange, check_rpm
from faultdx.data.bearing import BearingError, BearingGeometry
from faultdx.data.bearing import parse_bearing as parse_any_bearing

# length groups of the measured accuracy (bench/speed_accuracy.py): the longest one no longer than the signal
LENGTH_GROUPS = (("1s", 1.0), ("0.25s", 0.0))
LENGTH_NAMES = {"1s": "1 s excerpts", "0.25s": "0.25 s excerpts"}


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



@cache
def _speed_results() -> dict[str, Any] | None:
    """The measured speed-estimation accuracy shipped inside the package (``faultdx/context/
    speed_accuracy.json``, written by bench/speed_accuracy.py beside results/speed_estimation.json), so that
    a deployed service never reads results/ from its working directory."""
    from importlib.resources import files

    try:
        text = files("faultdx.context").joinpath("speed_accuracy.json").read_text(encoding="utf-8")
    except (FileNotFoundError, OSError):
        return None
    return json.loads(text)


def length_group(seconds: float) -> str:
    """The speed-accuracy length group that matches a signal of ``seconds``."""
    return next(name for name, shortest in LENGTH_GROUPS if seconds >= shortest)


def rpm_accuracy(seconds: float, estimator: str = "new") -> str | None:
    """What the measured speed-estimation accuracy says for a signal of ``seconds`` (None if unmeasured)."""
    data = _speed_results()
    group = length_group(seconds)
    groups = (data or {}).get("groups") or {}
    rows = [v for k, v in groups.items() if k.split("/")[1:] == [group, estimator]]
    count = sum(r.get("count", 0) for r in rows)
    if not count:
        return None
    within = {k: sum(r["count"] * r[k] for r in rows) / count for k in ("within_1pct", "within_2pct")}
    return (
        f"estimated from {seconds:.2f} s of signal; on {LENGTH_NAMES[group]} of {len(rows)} real rigs "
        f"({count} cases) the estimate was within ±1 % in {100 * within['within_1pct']:.0f} % and within "
        f"±2 % in {100 * within['within_2pct']:.0f} % of cases (results/speed_estimation.json)"
    )
