"""What an estimated shaft speed can be trusted for: the measured accuracy of speed estimation, shipped with
the package (``speed_accuracy.json``, written by bench/speed_accuracy.py beside
results/speed_estimation.json), so that a deployed service or listener never reads results/ from its working
directory."""

from __future__ import annotations

import json
from functools import cache
from importlib.resources import files
from typing import Any

from faultdx.context.machine import MachineContext

# length groups of the measured accuracy (bench/speed_accuracy.py): the longest one no longer than the signal
LENGTH_GROUPS = (("1s", 1.0), ("0.25s", 0.0))
LENGTH_NAMES = {"1s": "1 s excerpts", "0.25s": "0.25 s excerpts"}


@cache
def _speed_results() -> dict[str, Any] | None:
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


def rpm_estimate_note(machine: MachineContext | None, seconds: float) -> str | None:
    """The accuracy note an answer carries beside a speed estimated from ``seconds`` of signal; None when the
    speed was given, nominal or refined from a stated range."""
    if machine is None or machine.rpm_source != "estimated":
        return None
    return rpm_accuracy(seconds)
