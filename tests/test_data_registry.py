"""Adding a dataset is one module plus one registry line: the CLI, the page and training then use it."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from faultdx.cli import app
from faultdx.data import registry
from faultdx.train.config import load_config
from faultdx.train.prepare import prepare_data


@pytest.fixture
def toy():
    registry.register("toy", "tests.toy_dataset:ToyDataset")
    yield
    registry.unregister("toy")


def test_the_cli_lists_and_describes_a_registered_dataset(toy) -> None:
    runner = CliRunner()
    listed = runner.invoke(app, ["data", "list"])
    assert listed.exit_code == 0 and "toy" in listed.output and "speed step" in listed.output
    info = runner.invoke(app, ["data", "info", "toy", "-o", "seconds=2"])
    assert info.exit_code == 0, info.output
    assert "inner_race" in info.output and "toy footer line" in info.output
    bad = runner.invoke(app, ["data", "info", "toy", "-o", "minutes=2"])
    assert bad.exit_code == 1 and "has no option(s) minutes" in bad.output


def test_the_page_offers_its_examples(toy, tmp_path) -> None:
    from faultdx_service.main import create_app
    from faultdx_service.settings import Settings

    from tests.service_support import make_model_dir

    model = make_model_dir(tmp_path / "m")
    with TestClient(create_app(Settings(model=[str(model)], log_json=False, trace=False))) as client:
        names = [e["name"] for e in client.get("/v1/examples").json()["examples"]]
        assert {"toy-normal", "toy-inner_race"} <= set(names)
        one = client.get("/v1/examples/toy-inner_race").json()
        assert one["sampling_rate"] == 8000 and len(one["signal"]) == 8000 and one["source"] == "simulated"


def test_training_prepares_windows_from_it(toy) -> None:
    config = load_config(None, ["data.name=toy", "data.window=1024", "data.hop=512", "split.protocol=time"])
    data = prepare_data(config)
    assert data.classes == ("normal", "inner_race")
    assert {len(w) > 0 for w in data.splits.values()} == {True}
    assert set(data.splits["test"].y.tolist()) == {0, 1}
