"""Condition indicators against analytic signals, ISO 20816-3 zones, and the alarm rules."""

from __future__ import annotations

import math

import numpy as np
import pytest

from faultdx.monitor.alarms import AlarmRule, Condition, Measurement, changes, conditions
from faultdx.monitor.indicators import G, indicators, velocity_rms
from faultdx.monitor.zones import ZoneLimits, iso_limits, iso_table

RATE = 12000.0


def sine(hz: float, amplitude: float, seconds: float = 2.0, rate: float = RATE) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return amplitude * np.sin(2 * np.pi * hz * t + 0.3)


@pytest.mark.parametrize(("hz", "amplitude"), [(100.0, 1.0), (100.0, 0.25), (30.0, 0.1), (997.5, 2.0)])
def test_velocity_rms_of_a_sine_is_the_analytic_value(hz, amplitude) -> None:
    expected = amplitude * G / (2 * math.pi * hz) / math.sqrt(2) * 1000  # mm/s RMS
    assert velocity_rms(sine(hz, amplitude), RATE) == pytest.approx(expected, rel=1e-3)


def test_velocity_rms_keeps_only_10_to_1000_hz() -> None:
    in_band = sine(100.0, 1.0)
    assert velocity_rms(in_band + sine(3000.0, 5.0) + sine(4.0, 1.0) + 0.7, RATE) == pytest.approx(
        velocity_rms(in_band, RATE), rel=1e-3
    )
    assert velocity_rms(sine(1500.0, 1.0), RATE) < 1e-6


def test_indicators_of_known_signals() -> None:
    s = indicators(sine(50.0, 2.0), RATE)
    assert s.rms == pytest.approx(2 / math.sqrt(2), rel=1e-4) and s.peak == pytest.approx(2.0, rel=1e-4)
    assert s.crest_factor == pytest.approx(math.sqrt(2), rel=1e-3)
    assert s.kurtosis == pytest.approx(1.5, rel=1e-3)
    noise = indicators(np.random.default_rng(0).standard_normal(200_000), RATE)
    assert noise.kurtosis == pytest.approx(3.0, abs=0.05)
    impacts = np.zeros(24000)
    impacts[::1200] = 1.0
    assert indicators(impacts, RATE).kurtosis > 15
    assert indicators(np.stack([impacts, 2 * impacts]), RATE).peak == 1  # the first channel
    with pytest.raises(ValueError, match="finite"):
        indicators(np.array([1.0, np.nan]), RATE)


def test_iso_zones_by_group_and_support_and_custom_limits() -> None:
    assert set(iso_table()) == {(1, "rigid"), (1, "flexible"), (2, "rigid"), (2, "flexible")}
    group2 = iso_limits(2, "rigid")
    assert (group2.ab, group2.bc, group2.cd) == (1.4, 2.8, 4.5) and "ISO 20816-3" in group2.source
    zones = [group2.zone(v) for v in (0.5, 1.4, 2.0, 2.8, 4.49, 4.5, 20)]
    assert zones == ["A", "B", "B", "C", "C", "D", "D"]
    assert iso_limits(1, "flexible").zone(7.0) == "B"
    with pytest.raises(ValueError, match="known"):
        iso_limits(3, "rigid")
    with pytest.raises(ValueError, match="rise"):
        ZoneLimits(2.0, 1.0, 3.0)


def test_alarm_rules() -> None:
    rule = AlarmRule(repeat_n=2, repeat_m=3)
    recent = [Measurement("C", "ball", 3.0), Measurement("B", "normal", 2.0), Measurement("A", "ball", 1.0),
              Measurement("A", "ball", 1.0)]
    held = conditions(recent, rule)
    assert set(held) == {("zone", "zone"), ("fault", "ball")} and held[("zone", "zone")].level == "C"
    assert conditions(recent[1:], rule).keys() == {("fault", "ball")}
    todo = changes({("zone", "zone"): "C", ("fault", "inner_race"): "inner_race"},
                   {("zone", "zone"): Condition("zone", "zone", "D", "m")})
    assert [c.level for c in todo.update] == ["D"] and todo.close == [("fault", "inner_race")]
    assert not todo.open
    with pytest.raises(ValueError, match="N <= M"):
        AlarmRule(4, 3)


def test_unknown_verdicts_raise_their_own_alarm_kind() -> None:
    recent = [Measurement("A", "unknown", 1.0)] * 3 + [Measurement("A", "inner_race", 1.0)] * 2
    held = conditions(recent, AlarmRule(3, 5))
    assert set(held) == {("unknown", "unknown")}
    assert "not seen in training" in held[("unknown", "unknown")].message


def test_an_open_verdict_alarm_holds_until_none_of_the_last_m_show_it() -> None:
    rule = AlarmRule(3, 5)
    flapping = [Measurement("A", v, 1.0) for v in ("unknown", "ball", "unknown", "normal", "ball")]
    assert ("fault", "ball") not in conditions(flapping, rule)  # 2 of 5: does not open
    assert ("fault", "ball") in conditions(flapping, rule, {("fault", "ball")})  # but an open one holds
    assert conditions([Measurement("A", "normal", 1.0)] * 5, rule, {("fault", "ball")}) == {}
