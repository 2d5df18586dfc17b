"""`faultdx assets` and `faultdx history` over the same store as the service (SQLite file)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pandas as pd
from typer.testing import CliRunner

from faultdx.cli import app
from faultdx.monitor.store import Store
from tests.test_monitor_store import measurement

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=timezone.utc)


def test_assets_and_history_commands(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'monitor.sqlite'}"
    runner = CliRunner()

    def run(*args: str, code: int = 0) -> str:
        result = runner.invoke(app, [*args, "--database-url", url])
        assert result.exit_code == code, result.output
        return result.output

    run("assets", "create", "pump 1", "--bearing", "SKF 6205", "--rpm", "1797", "--sampling-rate", "12000",
        "--iso-group", "2", "--support", "rigid", "--tag", "water", "--alarm-n", "2", "--alarm-m", "3")
    assert "not all digits" in run("assets", "create", "12", code=2)
    assert "zone limits must rise" in run("assets", "create", "x", "--limits", "3,2,1", code=2)
    assert "bearing" in run("assets", "create", "y", "--bearing", '{"balls": 2}', code=2)
    assert "exists already" in run("assets", "create", "pump 1", code=2)
    run("assets", "update", "pump 1", "--location", "hall A", "--clear", "rpm")
    shown = json.loads(run("assets", "show", "1"))
    assert shown["location"] == "hall A" and shown["rpm"] is None and shown["tags"] == ["water"]

    store = Store(url)
    for day, (fault, v) in enumerate([("normal", 1.0), ("outer_race", 3.0), ("outer_race", 5.0)]):
        store.record("pump 1", [measurement(fault, v)], measured_at=T0 + timedelta(days=day))
    store.close()
    listed = run("assets", "list")
    assert "pump 1" in listed and "zone D" in listed and "open alarms 2" in listed
    history = run("history", "list", "pump 1", "--limit", "2")
    assert "3 diagnoses" in history and history.count("outer_race") == 2
    page = json.loads(run("history", "list", "pump 1", "--json", "--start", "2026-03-03"))
    assert page["total"] == 2
    trend = run("history", "trend", "pump 1")
    assert "2026-03-04" in trend and "worst zone D" in trend and "alarm" in trend
    out = tmp_path / "export" / "pump.parquet"
    run("history", "export", "pump 1", "--out", str(out))
    assert list(pd.read_parquet(out)["zone"]) == ["A", "C", "D"]
    assert "error" in run("history", "list", "nope", code=2)
    run("assets", "delete", "pump 1", "--yes")
    assert "no assets" in run("assets", "list")
