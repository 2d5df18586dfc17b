"""Protocol ``rig-out+baseline`` (faultdx.train.rigout_baseline): per-asset baselines judged by a fold's
model, on simulated machines at two speeds with the shipped model standing in for a fold's run."""

from __future__ import annotations

import shutil

import pytest
from typer.testing import CliRunner

from faultdx.cli import app
from faultdx.data.synthetic import simulate
from faultdx.paths import PROJECT_ROOT
from faultdx.train.rigout_baseline import (
    FIGURES,
    MEASUREMENT,
    Signal,
    evaluate_rig,
    mean_figures,
    run_rig_out_baseline,
)

SHIPPED = PROJECT_ROOT / "models" / "hybrid-aprelu"
RATE = 12000


def machine(fault_type: str, rpm: float, seed: int) -> Signal:
    samples = simulate(fault_type, duration_s=2.0, sampling_rate=RATE, rpm=rpm, seed=seed, snr_db=10)
    return Signal(samples, RATE, rpm, "SKF 6205", fault_type)


@pytest.fixture(scope="module")
def rig() -> list[Signal]:
    """A small rig: healthy at two speeds, an inner- and an outer-race fault."""
    return [machine("normal", 1200, 1), machine("normal", 1500, 2), machine("inner_race", 1200, 3),
            machine("outer_race", 1500, 4)]


def test_both_variants_are_scored_for_every_method_and_the_network_alone(rig, tmp_path):
    run = tmp_path / "hybrid-aprelu-s0"
    shutil.copytree(SHIPPED, run / "best")
    data = run_rig_out_baseline({"sim": [run]}, lambda fold: rig, log=lambda _: None)
    figures = data["rigs"]["sim"]
    assert data["measurement_windows"] == MEASUREMENT and data["goals"]["per_speed"] == (0.99, 0.95)
    assert figures["healthy_recordings"] == 2 and figures["faulty_recordings"] == 2 and figures["runs"] == 1
    assert figures["speeds_rpm"] == [1200, 1500]
    assert set(figures["one_speed"]) == {"1200", "1500"}  # each healthy speed is the baseline in turn
    for variant in ("per_speed", "one_speed_worst"):
        for method, cell in figures[variant]["measurement"].items():
            assert all(0.0 <= cell[k] <= 1.0 for k in FIGURES), (variant, method, cell)
    per_speed = figures["per_speed"]["measurement"]["network"]
    # per speed judges the healthy second halves (2 x 1 s) and both faulty recordings (2 x 2 s)
    assert per_speed["faulty_windows"] > 2 * per_speed["healthy_windows"] > 0
    # the worst speed is no better than any single speed
    for method in figures["one_speed_worst"]["measurement"]:
        worst = figures["one_speed_worst"]["measurement"][method]["healthy_normal"]
        assert all(worst <= s["measurement"][method]["healthy_normal"] for s in figures["one_speed"].values())
    assert data["runs"][str(run)] == {k: v for k, v in figures.items() if k != "runs"}


def test_a_rig_without_healthy_recordings_is_skipped_with_its_counts(rig):
    from faultdx.diagnose import Diagnoser

    got = evaluate_rig(Diagnoser.from_dir(SHIPPED), [s for s in rig if s.fault_type != "normal"])
    assert got == {"skipped": "0 healthy, 2 faulty recordings present"}


def test_seeds_are_averaged_leaf_by_leaf_and_counts_kept():
    a = {"per_speed": {"x": {"healthy_normal": 1.0, "healthy_windows": 10}}, "speeds_rpm": [600.0]}
    b = {"per_speed": {"x": {"healthy_normal": 0.5, "healthy_windows": 10}}, "speeds_rpm": [600.0]}
    assert mean_figures([a, b]) == {"per_speed": {"x": {"healthy_normal": 0.75, "healthy_windows": 10}},
                                    "speeds_rpm": [600.0]}


def test_the_cli_protocol_takes_one_recipe():
    result = CliRunner().invoke(app, ["compare", "--protocols", "rig-out+baseline", "--recipes",
                                      "hybrid-aprelu,hybrid-relu", "--collect-only"])
    assert result.exit_code != 0
    assert "rig-out+baseline takes one recipe" in result.output
