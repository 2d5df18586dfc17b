"""Model directories: round trip, atomic replacement, and clear errors for corrupt or foreign checkpoints."""

from __future__ import annotations

import json
import pickle
import shutil

import pytest
import torch

from faultdx import modeldir as checkpoint
from faultdx.modeldir import (
    CheckpointError,
    load_model_dir,
    read_meta,
    resolve_model,
    save_model_dir,
)
from faultdx.nn.resnet1d import ResNet1d, preset_config

CLASSES = ["normal", "ball", "inner_race", "outer_race"]


def _model(**overrides) -> ResNet1d:
    torch.manual_seed(0)
    return ResNet1d(preset_config("small", num_classes=4, widths=(8, 8, 8), depths=(1, 1, 1), **overrides))


def _meta(**changes) -> dict:
    meta = {
        "name": "tiny",
        "classes": CLASSES,
        "window": 2048,
        "hop": 1024,
        "sampling_rate": 12000,
        "channels": ["DE"],
        "dataset": {"name": "cwru", "files": [{"file": "cwru/12k_drive_end/105.mat", "sha256": "ab" * 32}]},
        "protocol": {"split": {"protocol": "time"}},
        "metrics": {"val": {"val_acc": 1.0}},
    }
    meta.update(changes)
    return meta


def test_round_trip_rebuilds_the_same_network(tmp_path):
    model = _model().eval()
    path = save_model_dir(tmp_path / "m", model, _meta(), model_card="# card\n")
    assert sorted(p.name for p in path.iterdir()) == ["MODEL_CARD.md", "config.json", "model.safetensors"]
    loaded = load_model_dir(path)
    assert not loaded.model.training
    assert loaded.meta.classes == CLASSES
    assert loaded.meta.format == "faultdx-model/1"
    assert loaded.meta.normalisation == "per_window_standardise"
    assert loaded.meta.model["num_classes"] == 4
    assert loaded.meta.dataset.files[0].sha256 == "ab" * 32
    x = torch.randn(3, 1, 2048)
    with torch.no_grad():
        torch.testing.assert_close(loaded.model(x), model(x))
    raw = json.loads((path / "config.json").read_text())
    assert raw["faultdx_version"] and raw["created"]


def test_save_replaces_whole_directory_and_keeps_the_card(tmp_path):
    target = tmp_path / "m"
    save_model_dir(target, _model(), _meta(name="one"), model_card="# the card\n")
    (target / "stale.txt").write_text("left over")
    save_model_dir(target, _model(), _meta(name="two"))
    assert read_meta(target).name == "two"
    assert (target / "MODEL_CARD.md").read_text() == "# the card\n"
    assert not (target / "stale.txt").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["m"]  # no staging or backup left behind


def test_failed_save_leaves_the_old_model_intact(tmp_path, monkeypatch):
    target = tmp_path / "m"
    save_model_dir(target, _model(), _meta(name="old"))
    before = (target / "model.safetensors").read_bytes()

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(checkpoint, "save_file", crash)
    with pytest.raises(OSError, match="disk full"):
        save_model_dir(target, _model(stem_channels=8), _meta(name="new"))
    assert read_meta(target).name == "old"
    assert (target / "model.safetensors").read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["m"]


def test_invalid_metadata_is_refused_before_writing(tmp_path):
    with pytest.raises(CheckpointError, match="num_classes=4 but 3 classes"):
        save_model_dir(tmp_path / "m", _model(), _meta(classes=CLASSES[:3]))
    with pytest.raises(CheckpointError, match="window"):
        save_model_dir(tmp_path / "m", _model(), _meta(window=0))
    assert not (tmp_path / "m").exists()


@pytest.fixture
def saved(tmp_path):
    return save_model_dir(tmp_path / "m", _model(), _meta())


def test_renamed_pickle_is_refused_without_unpickling(saved, tmp_path):
    marker = tmp_path / "unpickled"

    class Bomb:
        def __reduce__(self):
            return (marker.write_text, ("boom",))

    (saved / "model.safetensors").write_bytes(pickle.dumps({"w": Bomb()}, protocol=4))
    with pytest.raises(CheckpointError, match="Python pickle, not safetensors"):
        load_model_dir(saved)
    assert not marker.exists()


def test_torch_save_file_is_refused(saved):
    torch.save(_model().state_dict(), saved / "model.safetensors")
    with pytest.raises(CheckpointError, match="zip archive"):
        load_model_dir(saved)


def test_truncated_safetensors_is_refused(saved):
    data = (saved / "model.safetensors").read_bytes()
    (saved / "model.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="not a valid safetensors file"):
        load_model_dir(saved)


def test_shape_mismatch_is_refused(saved, tmp_path):
    other = save_model_dir(tmp_path / "other", _model(stem_channels=12), _meta())
    shutil.copy(other / "model.safetensors", saved / "model.safetensors")
    with pytest.raises(CheckpointError, match="weights do not match the network.*size mismatch"):
        load_model_dir(saved)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "is not valid JSON"),
        ("[1, 2]", "must hold a JSON object"),
        (json.dumps({"format": "onnx/1"}), "unknown format 'onnx/1'"),
        (json.dumps({"format": "faultdx-model/1", "name": "x"}), "is invalid: .*classes"),
    ],
)
def test_bad_config_json_is_refused(saved, content, message):
    (saved / "config.json").write_text(content)
    with pytest.raises(CheckpointError, match=message):
        load_model_dir(saved)


def test_unknown_network_field_is_refused(saved):
    raw = json.loads((saved / "config.json").read_text())
    raw["model"]["wings"] = 2
    (saved / "config.json").write_text(json.dumps(raw))
    with pytest.raises(CheckpointError, match="cannot rebuild the network.*wings"):
        load_model_dir(saved)


@pytest.mark.parametrize("missing", ["config.json", "model.safetensors"])
def test_missing_files_are_named(saved, missing):
    (saved / missing).unlink()
    with pytest.raises(CheckpointError, match=missing.replace(".", r"\.")):
        load_model_dir(saved)
    assert isinstance(CheckpointError("x"), ValueError)


def test_resolve_by_path_name_and_run_folder(saved, tmp_path, monkeypatch):
    monkeypatch.setenv("FAULTDX_MODELS", str(tmp_path))
    assert resolve_model(str(saved)) == saved
    assert resolve_model("m") == tmp_path / "m"
    run = tmp_path / "run"
    shutil.copytree(saved, run / "best")
    assert resolve_model(str(run)) == run / "best"
    with pytest.raises(CheckpointError, match=r"no model 'nope'.*available: .*hybrid-aprelu, m\)"):
        resolve_model("nope")


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_weights_holding_nan_or_inf_are_refused(saved, value):
    from safetensors.torch import load_file, save_file

    weights = saved / "model.safetensors"
    state = load_file(str(weights))
    name = next(k for k, t in state.items() if t.is_floating_point())
    state[name] = torch.full_like(state[name], value)
    save_file(state, str(weights))
    with pytest.raises(CheckpointError, match="NaN or Inf") as err:
        load_model_dir(saved)
    assert name in str(err.value)


# -- issue 24 item 10: model fields past their bounds (the hostile config.json cases: test_reliability.py) ---
def _refused_fast(saved, monkeypatch, match: str) -> CheckpointError:
    """load_model_dir refuses with ``match`` within a second and builds no tensor on the way."""
    import time

    built = []
    monkeypatch.setattr(checkpoint, "_build_resnet1d", lambda meta: built.append(meta))
    monkeypatch.setattr(checkpoint, "load_state", lambda path: built.append(path))
    start = time.perf_counter()
    with pytest.raises(CheckpointError, match=match) as err:
        load_model_dir(saved)
    assert time.perf_counter() - start < 1.0 and not built
    return err.value


def test_model_fields_past_their_bounds_are_refused(saved, monkeypatch):
    raw = json.loads((saved / "config.json").read_text())
    (saved / "config.json").write_text(json.dumps({**raw, "window": 10**12}))
    _refused_fast(saved, monkeypatch, "window")
    (saved / "config.json").write_text(json.dumps({**raw, "channels": ["DE"] * 1000}))
    _refused_fast(saved, monkeypatch, "channels")


def test_the_shipped_models_are_within_the_bounds():
    from faultdx.model_bounds import MAX_WEIGHTS, estimated_weights

    for name in ("hybrid-aprelu", "cwru12k-aprelu"):
        meta = read_meta(resolve_model(name))
        assert 0 < estimated_weights(meta.model) < MAX_WEIGHTS / 100, name
