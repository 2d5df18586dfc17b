"""The worked monitoring example (bench/monitor_example.py) end to end with a small untrained model: every
measurement stored once, the zone climbing A → D as the simulated fault develops, the zone alarm opening, and
the docs block rendered from its result."""

from __future__ import annotations

import importlib.util

from faultdx.paths import PROJECT_ROOT
from faultdx.results_render import render_monitor_example
from tests.service_support import make_model_dir


def _example():
    path = PROJECT_ROOT / "bench" / "monitor_example.py"
    spec = importlib.util.spec_from_file_location("monitor_example", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_week_is_stored_zones_climb_and_the_zone_alarm_opens(tmp_path) -> None:
    example = _example()
    model = make_model_dir(tmp_path / "tiny-aprelu")
    data = example.run(str(model), f"sqlite:///{tmp_path / 'monitor.sqlite'}")
    assert data["posted"] == data["stored"] == example.DAYS * example.PER_DAY and data["retry_replayed"]
    zones = [r["zone"] for r in data["measurements"]]
    assert zones[0] == "A" and zones[-1] == "D" and zones == sorted(zones)  # the velocity only grows
    assert data["first"]["fault_present"] == "2026-03-04T12:00:00+00:00"
    assert data["first"]["alarm_zone:C"] == data["first"]["zone_C"]  # the zone alarm opens with zone C
    assert data["final"]["zone"] == "D" and data["final"]["open_alarms"] >= 1
    assert len(data["daily"]) == example.DAYS
    text = render_monitor_example({"data": data})
    assert text.count("\n| 2026-03-") == example.DAYS and "zone:C" in text
