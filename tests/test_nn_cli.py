"""`faultdx model list` and `faultdx model info`."""

from __future__ import annotations

import re

from typer.testing import CliRunner

from faultdx.cli import app
from faultdx.nn import ResNet1d, activation_names, preset_config

runner = CliRunner()


def test_model_list_shows_presets_and_activations():
    result = runner.invoke(app, ["model", "list"])
    assert result.exit_code == 0, result.output
    assert "small" in result.output and "base" in result.output
    for name in activation_names():
        assert re.search(rf"^\s+{name}\s", result.output, re.M), name


def test_model_info_prints_parameters_macs_and_slope_layers():
    result = runner.invoke(app, ["model", "info", "small", "--window", "2048"])
    assert result.exit_code == 0, result.output
    model = ResNet1d(preset_config("small"))
    assert f"parameters: {sum(p.numel() for p in model.parameters()):,}" in result.output
    macs = int(re.search(r"per window \(conv \+ linear\): ([\d,]+)", result.output).group(1).replace(",", ""))
    # The stem alone: out_channels * kernel * output length (2048 / stride 8 = 256 positions).
    assert 16 * 64 * 256 < macs < 5_000_000
    for name in model.slope_names():
        assert f"  {name} [" in result.output


def test_model_info_scales_with_window_and_handles_activation_without_slopes():
    def macs(*args: str) -> int:
        out = runner.invoke(app, ["model", "info", "small", *args]).output
        return int(re.search(r"\(conv \+ linear\): ([\d,]+)", out).group(1).replace(",", ""))

    assert 1.9 < macs("--window", "4096") / macs("--window", "2048") < 2.1
    result = runner.invoke(app, ["model", "info", "small", "--activation", "relu"])
    assert result.exit_code == 0 and "relu has no per-sample parameters" in result.output


def test_model_info_bad_input_is_a_usage_error():
    for args, message in (
        (["huge"], "unknown preset 'huge'"),
        (["small", "--activation", "swish"], "unknown activation 'swish'"),
        (["small", "--window", "4"], "--window must be >="),
    ):
        result = runner.invoke(app, ["model", "info", *args])
        assert result.exit_code == 2
        assert message in result.output


def test_model_export_writes_onnx_matching_the_model_dir(tmp_path):
    import numpy as np
    import onnxruntime as ort
    import torch

    from faultdx.modeldir import load_model_dir, save_model_dir

    torch.manual_seed(0)
    net = ResNet1d(preset_config("small", widths=(8, 16), depths=(1, 1), strides=(2, 2), stem_channels=8))
    meta = {
        "name": "tiny",
        "version": "1",
        "classes": [f"c{i}" for i in range(10)],
        "window": 1024,
        "hop": 1024,
        "sampling_rate": 12000,
        "channels": ["DE"],
        "dataset": {"name": "synthetic", "files": []},
    }
    model_dir = save_model_dir(tmp_path / "tiny", net.eval(), meta)
    out = tmp_path / "tiny.onnx"
    result = runner.invoke(app, ["model", "export", str(model_dir), str(out)])
    assert result.exit_code == 0, result.output
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    assert session.get_inputs()[0].shape[1:] == [1, 1024]
    x = np.random.default_rng(0).standard_normal((3, 1, 1024)).astype(np.float32)
    with torch.no_grad():
        want = load_model_dir(model_dir).model(torch.from_numpy(x)).numpy()
    context = np.tile(np.float32([[0.0025, 0.0089, 0.0135, 0.0059, 0.001]]), (3, 1))  # unused by a raw net
    feeds = {"windows": x, "context": context}
    got = session.run(["logits"], {i.name: feeds[i.name] for i in session.get_inputs()})[0]
    np.testing.assert_allclose(got, want, atol=1e-4)

    missing = runner.invoke(app, ["model", "export", str(tmp_path / "nope"), str(tmp_path / "nope.onnx")])
    assert missing.exit_code == 2 and "no model" in missing.output


def test_model_export_without_onnx_names_the_extra(monkeypatch, tmp_path):
    import importlib.util

    real = importlib.util.find_spec

    def find_spec(name, *args):
        return None if name == "onnx" else real(name, *args)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    result = CliRunner().invoke(app, ["model", "export", "hybrid-aprelu", str(tmp_path / "m.onnx")])
    assert result.exit_code == 2
    assert "faultdx[dev]" in result.output and "onnx" in result.output


def test_model_export_never_overwrites_without_force(tmp_path, monkeypatch):
    from faultdx.atomic import write_text_atomic
    from faultdx.modeldir import save_model_dir
    from faultdx.nn import export as export_module

    config = preset_config("small", num_classes=2, widths=(4,), depths=(1,), strides=(2,), stem_channels=4)
    net = ResNet1d(config)
    meta = {"name": "tiny", "classes": ["a", "b"], "window": 256, "hop": 256, "sampling_rate": 12000,
            "channels": ["DE"], "dataset": {"name": "synthetic"}}
    model_dir = save_model_dir(tmp_path / "tiny", net, meta)

    def fake_export(model, path, **kwargs):  # the real exporter is tested above; here only --force
        write_text_atomic(path, "new")
        return path

    monkeypatch.setattr(export_module, "export_onnx", fake_export)
    out = tmp_path / "tiny.onnx"
    out.write_text("old")
    refused = runner.invoke(app, ["model", "export", str(model_dir), str(out)])
    assert refused.exit_code == 2 and "--force" in refused.output
    assert out.read_text() == "old"
    forced = runner.invoke(app, ["model", "export", str(model_dir), str(out), "--force"])
    assert forced.exit_code == 0, forced.output
    assert out.read_text() == "new"


def test_model_list_and_info_describe_the_shipped_model_directories_offline(tmp_path, monkeypatch):
    from faultdx.modeldir import read_meta, resolve_model

    monkeypatch.setenv("FAULTDX_MODELS", str(tmp_path))  # no local models: only what ships with faultdx
    listing = runner.invoke(app, ["model", "list"])
    assert listing.exit_code == 0, listing.output
    assert re.search(r"^\s+hybrid-aprelu\s", listing.output, re.M)
    info = runner.invoke(app, ["model", "info", "hybrid-aprelu"])
    assert info.exit_code == 0, info.output
    meta = read_meta(resolve_model("hybrid-aprelu"))
    assert f"answers: {', '.join(meta.classes)}" in info.output
    assert f"{meta.sampling_rate:g} Hz" in info.output and "slope layers" in info.output
    unknown = runner.invoke(app, ["model", "info", "no-such-model"])
    assert unknown.exit_code == 2 and "no-such-model" in unknown.output and "small" in unknown.output
