"""README command 1 (`faultdx demo`): train on the simulator, diagnose unseen simulated signals."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from faultdx.cli import app
from faultdx.cli.demo import EXAMPLE_RPM, SIM_MODEL, train_simulator_model, write_examples
from faultdx.data.base import CWRU_10_CLASSES, fault_type_of
from faultdx.data.readers import read_signal
from faultdx.diagnose import Diagnoser
from faultdx.paths import DEFAULT_MODEL


def test_demo_trains_a_simulator_model_that_diagnoses_unseen_examples(tmp_path, monkeypatch):
    monkeypatch.setenv("FAULTDX_CACHE", str(tmp_path / "cache"))
    model_dir = train_simulator_model(tmp_path / "run", epochs=2)
    meta = json.loads((model_dir / "config.json").read_text())
    assert meta["name"] == SIM_MODEL
    assert meta["classes"] == list(CWRU_10_CLASSES)

    files = write_examples(tmp_path / "examples")
    assert sorted(files) == sorted(CWRU_10_CLASSES)
    diagnoser = Diagnoser.from_dir(model_dir)
    correct = 0
    for label, path in files.items():
        loaded = read_signal(path, sampling_rate=12000)
        (result,) = diagnoser.diagnose([loaded.signal], 12000)
        correct += result.label == label
    assert correct >= 7, f"only {correct} of 10 unseen simulated examples diagnosed correctly"


def test_shipped_model_names_the_fault_type_of_every_demo_example(tmp_path):
    """The default model never trained on these simulated signals: transfer to a new 'machine'."""
    files = write_examples(tmp_path / "examples")
    diagnoser = Diagnoser.from_dir(DEFAULT_MODEL)
    wrong = []
    for label, path in files.items():
        loaded = read_signal(path, sampling_rate=12000)
        (result,) = diagnoser.diagnose([loaded.signal], 12000, rpm=EXAMPLE_RPM, bearing="SKF 6205")
        if result.fault_type != fault_type_of(label):
            wrong.append((label, result.fault_type))
    assert len(wrong) <= 1, wrong


def test_demo_command_is_listed_with_its_options():
    result = CliRunner().invoke(app, ["demo", "--help"])
    assert result.exit_code == 0
    for option in ("--epochs", "--no-serve", "--port", "--model"):
        assert option in result.output
