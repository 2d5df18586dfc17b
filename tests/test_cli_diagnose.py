"""`faultdx diagnose FILE`: the verdict with its machine context; bad values exit 2 naming the option."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from faultdx.cli import app
from tests.service_support import RATE, make_model_dir, tone


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    return make_model_dir(tmp_path_factory.mktemp("models") / "tiny-aprelu")


@pytest.fixture(scope="module")
def signal_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("signals") / "pump.npy"
    np.save(path, tone(1.0, seed=5))
    return path


def run(*args: str):
    return CliRunner().invoke(app, ["diagnose", *args])


def test_diagnose_prints_the_verdict_with_the_machine_context(model_dir, signal_file):
    result = run(str(signal_file), "--model", str(model_dir), "--rate", str(RATE), "--rpm", "1730",
                 "--bearing", "SKF 6205", "--json")
    assert result.exit_code == 0, result.output
    [verdict] = json.loads(result.output)
    assert verdict["fault_type"] in ("normal", "ball", "inner_race", "outer_race")
    assert 0 < verdict["confidence"] <= 1
    machine = verdict["machine"]
    assert (machine["rpm"], machine["rpm_source"]) == (1730.0, "given")
    assert machine["bearing"]["name"] == "SKF 6205"
    table = run(str(signal_file), "--model", str(model_dir), "--rate", str(RATE), "--bearing-json",
                '{"balls": 8, "ball_diameter_mm": 7.94, "pitch_diameter_mm": 33.5}')
    assert table.exit_code == 0, table.output
    assert "fault type" in table.output and "pump.npy" in table.output and "custom bearing" in table.output


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["--bearing", "SKF 9999"], "--bearing"),
        (["--bearing-json", '{"balls": 0, "ball_diameter_mm": 7.94, "pitch_diameter_mm": 33.5}'],
         "--bearing-json"),
        (["--bearing-json", "{oops"], "--bearing-json"),
        (["--rpm", "-5"], "--rpm"),
        (["--rpm", "nan"], "--rpm"),
    ],
)
def test_bad_values_exit_2_naming_the_option(model_dir, signal_file, args, option):
    result = run(str(signal_file), "--model", str(model_dir), "--rate", str(RATE), *args)
    assert result.exit_code == 2, result.output
    assert option in result.output


def test_a_file_without_a_rate_asks_for_rate(model_dir, signal_file):
    result = run(str(signal_file), "--model", str(model_dir), "--rpm", "1730")
    assert result.exit_code == 2 and "--rate" in result.output
