"""ONNX (onnxruntime) and torch.export match PyTorch logits and slopes; torch.compile traces the network."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from faultdx.nn import ResNet1d, preset_config
from faultdx.nn.export import LogitsAndSlopes, export_onnx, export_program
from tests.nn_helpers import tiny_model

CONTEXT = torch.tensor([[0.0025, 0.0089, 0.0135, 0.0059, 0.001]])  # SKF 6205 at 1797 rpm, 12 kHz


def _feeds(session: ort.InferenceSession, x: torch.Tensor) -> dict[str, np.ndarray]:
    """The session's inputs: the windows and, when the graph kept it, the context vector."""
    values = {"windows": x.numpy(), "context": CONTEXT.expand(len(x), 5).contiguous().numpy()}
    return {i.name: values[i.name] for i in session.get_inputs()}


def _with_running_stats(activation: str):
    """A tiny model whose BatchNorms hold non-trivial running statistics, in eval mode."""
    torch.manual_seed(0)
    model = tiny_model(activation)
    with torch.no_grad():
        for _ in range(3):
            model(torch.randn(8, 1, 512) * 2)
    return model.eval()


@pytest.mark.parametrize("activation", ["aprelu", "shrinkage"])
def test_onnx_round_trip_matches_logits_and_slopes(tmp_path, activation):
    model = _with_running_stats(activation)
    path = export_onnx(model, tmp_path / "model.onnx", window=512, opset=18)
    assert onnx.load(str(path)).opset_import[0].version >= 17
    assert not list(tmp_path.glob("*.tmp"))  # atomic write left no temp file
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    assert names == ["logits", *model.slope_names()]
    x = torch.randn(5, 1, 512)  # batch differs from the export example: dynamic batch
    outputs = session.run(None, _feeds(session, x))
    with torch.no_grad():
        logits, slopes = model.forward_with_slopes(x)
    np.testing.assert_allclose(outputs[0], logits.numpy(), atol=1e-4, rtol=0)
    for name, value in zip(names[1:], outputs[1:], strict=True):
        np.testing.assert_allclose(value, slopes[name].numpy(), atol=1e-4, rtol=0, err_msg=name)


def test_onnx_runs_the_physics_front_end_inside_the_graph(tmp_path):
    """The hybrid network holds the whole defect-spectrum network plus a raw trunk, so its graph carries
    every operation of both physics front ends (exporting the defect-spectrum one alone added 13 s)."""
    torch.manual_seed(0)
    config = preset_config("physics", stem_channels=8, widths=(8, 8, 8), depths=(1, 1, 1), frontend="hybrid")
    model = ResNet1d(config).eval()
    path = export_onnx(model, tmp_path / "physics.onnx", window=1024, opset=18)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["windows", "context"]
    x = torch.randn(3, 1, 1024)
    context = CONTEXT.expand(3, 5) * torch.tensor([[1.0], [0.8], [1.3]])  # three machines
    outputs = session.run(None, {"windows": x.numpy(), "context": context.numpy()})
    with torch.no_grad():
        logits = model(x, context)
    np.testing.assert_allclose(outputs[0], logits.numpy(), atol=1e-3, rtol=0)


def test_onnx_rejects_old_opset(tmp_path):
    with pytest.raises(ValueError, match="opset"):
        export_onnx(tiny_model(), tmp_path / "m.onnx", opset=13)


def test_torch_export_matches_eager():
    model = _with_running_stats("aprelu")
    program = export_program(model, window=512)
    x = torch.randn(3, 1, 512)
    context = CONTEXT.expand(3, 5)
    out = program.module()(x, context)
    with torch.no_grad():
        expected = LogitsAndSlopes(model)(x, context)
    assert len(out) == len(expected) == 1 + len(model.slope_names())
    for got, want in zip(out, expected, strict=True):
        torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)


def test_torch_compile_fullgraph_matches_eager():
    """Dynamo traces forward and forward_with_slopes without graph breaks (aot_eager keeps CI cheap)."""
    model = _with_running_stats("aprelu")
    x = torch.randn(2, 1, 256)
    compiled = torch.compile(model.forward_with_slopes, backend="aot_eager", fullgraph=True)
    with torch.no_grad():
        logits, slopes = compiled(x)
        want_logits, want_slopes = model.forward_with_slopes(x)
    torch.testing.assert_close(logits, want_logits)
    assert slopes.keys() == want_slopes.keys()
