"""Transfer protocols: fold planning, a tiny real sweep into results JSON, tables rendered from results."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from typer.testing import CliRunner

from faultdx.cli import app
from faultdx.results_render import render, render_text
from faultdx.train.config import ConfigError
from faultdx.train.protocols import (
    PROTOCOLS,
    RECIPES,
    fold_config,
    parse_recipe,
    plan,
    recordings_right,
    resolve_protocols,
    resolve_recipes,
    summarise,
)
from tests.data_helpers import HAS_MFPT, isolated_cache, needs_cwru, needs_mfpt  # noqa: F401  (autouse fixture: temp decoded-array cache)
from tests.train_helpers import TINY


def test_size_protocol_holds_out_each_fault_size_once():
    configs = [fold_config({}, fold) for fold in PROTOCOLS["size"].folds]
    assert [(c.split.protocol, c.split.test_size) for c in configs] == [
        ("size", "007"), ("size", "014"), ("size", "021")]


def test_load_protocol_trains_on_three_loads_without_normal():
    folds = PROTOCOLS["load"].folds
    configs = [fold_config({}, fold, overrides=["data.exclude_classes=[ball_007]"]) for fold in folds]
    assert len(configs) == 4
    assert [c.split.test_conditions for c in configs] == [[0.0], [1.0], [2.0], [3.0]]
    assert configs[1].split.train_conditions == [0.0, 2.0, 3.0]
    assert all(c.split.protocol == "condition" for c in configs)
    assert all(c.data.exclude_classes == ["ball_007", "normal"] for c in configs)


def test_rig_protocol_tests_on_mfpt_and_the_fold_wins_over_recipe_and_overrides():
    (fold,) = PROTOCOLS["rig"].folds
    config = fold_config({}, fold, recipe=RECIPES["physics-relu"],
                         overrides=["split.protocol=time", "data.hop=4096"], seed=3)
    assert config.split.protocol == "rig" and config.split.test_data.name == "mfpt"
    assert (config.model.preset, config.model.activation, config.seed) == ("physics", "relu", 3)
    assert config.data.hop == 4096  # --set wins over the recipe
    assert config.data.mix[0].name == "simulated" and config.augment.context_jitter == 0.03
    assert fold_config({}, fold, recipe=RECIPES["raw-aprelu"]).model.preset == "small"


def test_plan_names_every_fold_recipe_and_seed_once():
    runs = plan(resolve_protocols(["time", "load", "size", "rig"]),
                resolve_recipes(["physics-aprelu", "raw-aprelu"]), [0, 1])
    assert len(runs) == (1 + 4 + 3 + 1) * 2 * 2
    assert len({r.name for r in runs}) == len(runs)
    assert runs[0].name == "time/all/physics-aprelu-s0" and runs[-1].seed == 1


def test_recipes_parse_and_unknown_names_fail():
    recipe = parse_recipe("wide=model.preset=base; optim.lr=1e-3")
    assert recipe.overrides == ("model.preset=base", "optim.lr=1e-3")
    assert resolve_recipes(["wide"], {"wide": recipe}) == [recipe]
    with pytest.raises(ConfigError, match="unknown recipe"):
        resolve_recipes(["nope"])
    with pytest.raises(ConfigError, match="unknown protocol"):
        resolve_protocols(["nope"])
    with pytest.raises(ConfigError, match="recipe name"):
        parse_recipe("a/b=model.preset=base")


def test_recordings_vote_on_the_mean_window_probability():
    probs = [[0.0, 0.9, 0.1, 0.0], [0.0, 0.0, 0.6, 0.4], [0.0, 0.1, 0.5, 0.4], [1.0, 0.0, 0.0, 0.0]]
    right, count = recordings_right(np.array(probs), np.array([0, 0, 0, 1]), np.array([2, 2, 2, 3]))
    assert (right, count) == (1, 2)  # recording 0: mean (0, .33, .4, .27) -> inner race; recording 1 wrong


# ---- a tiny real sweep --------------------------------------------------------------------------------


@needs_cwru
@needs_mfpt
def test_tiny_rig_sweep_writes_results_json_with_finite_figures(tmp_path, monkeypatch):
    monkeypatch.setenv("FAULTDX_RESULTS", str(tmp_path / "results"))
    sets = [*TINY, "epochs=1", "data.mix=[{name: simulated, options: {machines: 4}}]"]
    args = ["compare", "--protocols", "rig", "--recipes", "physics-aprelu,raw-aprelu", "--seeds", "0",
            "--out", str(tmp_path / "runs")]
    for item in sets:
        args += ["--set", item]
    result = CliRunner().invoke(app, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    payload = json.loads((tmp_path / "results" / "protocols.json").read_text())
    assert {"commit", "command", "machine", "date", "data"} <= set(payload)
    data = payload["data"]
    assert {"runs", "summary", "recipes", "protocols", "seeds", "envelope"} <= set(data)
    assert len(data["runs"]) == 2
    for row in data["runs"]:
        for which in ("best", "last"):
            assert row[which]["recordings"] == 14  # the MFPT inner- and outer-race recordings
            for key in ("type_accuracy", "type_macro_f1", "recording_accuracy"):
                assert 0.0 <= row[which][key] <= 1.0
    overall = data["summary"]["rig"]["raw-aprelu"]["overall"]["last"]["type_accuracy"]
    assert overall["n"] == 1 and math.isfinite(overall["mean"]) and overall["std"] is None
    if data["envelope"] is not None:  # the envelope reference is in the tree
        assert data["envelope"]["rig"]["recordings"] == 14
        assert 0.0 <= data["envelope"]["rig"]["type_accuracy"] <= 1.0
    assert "NaN" not in (tmp_path / "results" / "protocols.json").read_text()
    run = tmp_path / "runs" / "rig" / "mfpt" / "raw-aprelu-s0"
    again = CliRunner().invoke(app, ["evaluate", str(run / "last"), "--protocol", "rig"])
    assert again.exit_code == 0, again.output
    raw = next(r for r in data["runs"] if r["recipe"] == "raw-aprelu")["last"]
    assert f"| mfpt | {raw['windows']} | – | " in again.output  # MFPT has no healthy recording
    assert f" | {100 * raw['type_accuracy']:.2f} | " in again.output
    assert f"| {raw['recordings_right']} of 14 |" in again.output


# ---- tables from results --------------------------------------------------------------------------------


def _row(protocol, fold, recipe, seed, last, best, recordings=(7, 14)):
    figures = {"type_accuracy": last, "type_macro_f1": last / 2, "recording_accuracy": recordings[0] / 14}
    return {"protocol": protocol, "fold": fold, "recipe": recipe, "seed": seed,
            "last": figures, "best": {**figures, "type_accuracy": best}}


def _synthetic_results(root):
    protocols = resolve_protocols(["size", "rig"])
    recipes = resolve_recipes(["physics-aprelu", "raw-aprelu"])
    rows = [
        _row("rig", "mfpt", "physics-aprelu", 0, 0.9, 0.95),
        _row("rig", "mfpt", "physics-aprelu", 1, 0.8, 0.85),
        _row("rig", "mfpt", "raw-aprelu", 0, 0.5, 0.6),
        _row("size", "test007", "physics-aprelu", 0, 0.7, 0.7),  # two folds missing: no overall figure
    ]
    envelope = {"rig": {"type_accuracy": 0.75, "type_macro_f1": 0.7, "recording_accuracy": 1.0,
                        "recordings_right": 14, "recordings": 14}}
    data = {"seeds": [0, 1], "protocols": {p.name: {"folds": [f.name for f in p.folds]} for p in protocols},
            "recipes": {"physics-aprelu": ["model.preset=physics"], "raw-aprelu": ["model.preset=small"]},
            "runs": rows, "summary": summarise(rows, protocols, recipes), "envelope": envelope,
            "envelope_faults_only": {"rig": {**envelope["rig"], "type_accuracy": 0.95}}}
    payload = {"name": "protocols", "commit": "abc1234", "command": "faultdx compare --protocols size,rig",
               "machine": {"cpu": "x86_64", "cores": 2, "torch": "2.13.0"}, "date": "2026-12-02",
               "data": data}
    (root / "protocols.json").write_text(json.dumps(payload))


def test_protocols_table_is_rendered_from_results_json(tmp_path, monkeypatch):
    monkeypatch.setenv("FAULTDX_RESULTS", str(tmp_path))
    _synthetic_results(tmp_path)
    text = render_text("# x\n<!-- results:protocols -->\nstale\n<!-- /results:protocols -->\nafter\n")
    assert text.startswith("# x\n<!-- results:protocols -->\n_Generated from `results/protocols.json` by "
                           "`faultdx results render`; do not edit by hand._\n")
    assert text.endswith("<!-- /results:protocols -->\nafter\n") and "stale" not in text
    assert (
        "Fault-type accuracy (%), last epoch (best-on-validation):\n\n"
        "| protocol | physics-aprelu | raw-aprelu | envelope | envelope, no normal |\n"
        "|---|---|---|---|---|\n"
        "| size (3) | – (–) | – (–) | – | – |\n"
        "| rig (1) | 85.00 ± 7.07 (90.00 ± 7.07) | 50.00 (60.00) | 75.00 | 95.00 |\n"
    ) in text
    assert "| rig (1) | 50.00 (n=1)" not in text
    recordings = "| rig (1) | 50.00 ± 0.00 (50.00 ± 0.00) | 50.00 (50.00) | 100.00 (14/14) | 100.00 (14/14) |"
    assert recordings in text
    assert ("Measured at commit abc1234, 2026-12-02, on x86_64, 2 cores, torch 2.13.0, by "
            "`faultdx compare --protocols size,rig`.") in text


def test_render_check_fails_on_a_stale_file_and_passes_once_rendered(tmp_path, monkeypatch):
    monkeypatch.setenv("FAULTDX_RESULTS", str(tmp_path))
    _synthetic_results(tmp_path)
    card = tmp_path / "MODEL_CARD.md"
    card.write_text("<!-- results:protocols -->\nold table\n<!-- /results:protocols -->\n")
    runner = CliRunner()
    stale = runner.invoke(app, ["results", "render", "--check", str(card)])
    assert stale.exit_code == 1 and "stale" in stale.output
    assert "old table" in card.read_text()  # --check changes nothing
    assert runner.invoke(app, ["results", "render", str(card)]).exit_code == 0
    assert runner.invoke(app, ["results", "render", "--check", str(card)]).exit_code == 0
    card.write_text("<!-- results:nope -->\n<!-- /results:nope -->\n")
    assert runner.invoke(app, ["results", "render", str(card)]).exit_code == 2


def test_committed_readme_and_model_cards_match_results(monkeypatch):
    monkeypatch.delenv("FAULTDX_RESULTS", raising=False)
    assert render(check=True) == [], "run `faultdx results render` and commit the result"
