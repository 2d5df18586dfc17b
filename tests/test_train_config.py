"""Run config: defaults, files (YAML / JSON / TOML), overrides, and errors that name the option."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from faultdx.cli import app
from faultdx.train.config import ConfigError, dump_config, load_config, parse_override, read_config_file


def test_defaults_are_valid_and_round_trip_through_yaml(tmp_path):
    config = load_config()
    assert config.model.activation == "aprelu"
    assert config.split.protocol == "time"
    path = tmp_path / "run.yaml"
    path.write_text(dump_config(config))
    assert load_config(path) == config


@pytest.mark.parametrize("suffix", [".yaml", ".json", ".toml"])
def test_config_files_of_each_format(tmp_path, suffix):
    path = tmp_path / f"run{suffix}"
    if suffix == ".yaml":
        path.write_text("epochs: 3\noptim:\n  lr: 0.01\nmodel:\n  activation: relu\n")
    elif suffix == ".json":
        path.write_text(json.dumps({"epochs": 3, "optim": {"lr": 0.01}, "model": {"activation": "relu"}}))
    else:
        path.write_text('epochs = 3\n[optim]\nlr = 0.01\n[model]\nactivation = "relu"\n')
    config = load_config(path)
    assert (config.epochs, config.optim.lr, config.model.activation) == (3, 0.01, "relu")


def test_overrides_beat_file_and_explicit_flags(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("epochs: 3\nseed: 5\n")
    config = load_config(path, ["optim.lr=3e-3", "augment.snr_db=[-2, 4]", "seed=7"], **{"epochs": 9})
    assert config.epochs == 9
    assert config.seed == 7
    assert config.optim.lr == pytest.approx(3e-3)
    assert config.augment.snr_db == (-2.0, 4.0)


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        (["optim.lr=-1"], "optim.lr"),
        (["optim.lrr=1"], "optim.lrr: unknown option"),
        (["model.activation=swish"], "model.activation: unknown activation 'swish'; valid: relu"),
        (["model.preset=huge"], "model.preset: unknown preset 'huge'"),
        (["data.name=nope"], "data.name: unknown dataset 'nope'"),
        (["split.fractions=[0.5, 0.5, 0.5]"], "split.fractions"),
        (["split.protocol=condition"], "train_conditions"),
        (["augment.snr_db=[5, -5]"], "augment.snr_db"),
        (["device=tpu"], "device"),
        (["batch_size=1"], "batch_size"),
    ],
)
def test_invalid_options_are_named(overrides, named):
    with pytest.raises(ConfigError) as err:
        load_config(None, overrides)
    assert named in str(err.value)


def test_override_syntax_and_bad_files(tmp_path):
    assert parse_override("optim.lr=1e-3") == ("optim.lr", pytest.approx(1e-3))
    with pytest.raises(ConfigError, match="section.option=value"):
        parse_override("optim.lr")
    with pytest.raises(ConfigError, match="epochs"):
        load_config(None, ["epochs.x=1"])
    file = tmp_path / "run.yaml"
    file.write_text("epochs: 3\n")
    with pytest.raises(ConfigError, match="'epochs' is not a section"):
        load_config(file, ["epochs.x=1"])
    with pytest.raises(ConfigError, match="does not exist"):
        read_config_file(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.json"
    bad.write_text("{epochs: ")
    with pytest.raises(ConfigError, match="cannot be parsed"):
        read_config_file(bad)
    other = tmp_path / "run.ini"
    other.write_text("[x]")
    with pytest.raises(ConfigError, match="unknown extension"):
        read_config_file(other)
    listing = tmp_path / "list.yaml"
    listing.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="mapping"):
        read_config_file(listing)


def test_cli_reports_bad_options_with_exit_code_2():
    result = CliRunner().invoke(app, ["train", "--set", "optim.lr=0", "--activation", "nope"])
    assert result.exit_code == 2
    assert "optim.lr" in result.output
    assert "model.activation" in result.output


def test_export_over_an_existing_model_is_refused_before_training_unless_forced(tmp_path):
    shipped = tmp_path / "models" / "cwru12k-aprelu"
    shipped.mkdir(parents=True)
    (shipped / "config.json").write_text("{}")
    args = ["train", "--out", str(tmp_path / "runs"), "--export", str(shipped), "--set", "optim.lr=0"]
    refused = CliRunner().invoke(app, args)
    assert refused.exit_code == 2
    assert "already exists" in refused.output and "--force" in refused.output
    assert not (tmp_path / "runs").exists() and (shipped / "config.json").read_text() == "{}"
    forced = CliRunner().invoke(app, [*args, "--force"])  # gets past the check, to the next error
    assert forced.exit_code == 2 and "optim.lr" in forced.output and "--force" not in forced.output


def test_train_without_a_config_starts_from_the_shipped_recipe(tmp_path, monkeypatch):
    from faultdx.cli import train as train_cli

    seen = {}

    def fake_train(cfg, **kwargs):  # stop before any data is read: only the config matters here
        seen["cfg"] = cfg
        raise ValueError("stopped before training")

    monkeypatch.setattr("faultdx.train.run.train", fake_train)
    result = CliRunner().invoke(app, ["train", "--out", str(tmp_path)])
    assert result.exit_code == 2 and "stopped before training" in result.output
    recipe = train_cli.shipped_recipe()
    assert recipe.name == "hybrid-aprelu.train.yaml" and str(recipe) in result.output
    cfg = seen["cfg"]
    assert cfg.model_name == "hybrid-aprelu" and cfg.model.overrides.get("frontend") == "hybrid"
