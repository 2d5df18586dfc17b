"""Export a :class:`ResNet1d` with its per-sample slopes to ONNX or ``torch.export``.

Exporters want tensors out, not dicts, so :class:`LogitsAndSlopes` returns ``(logits, *slopes)`` in the order
of ``ResNet1d.slope_names()``; the ONNX outputs are named ``logits`` and then the layer names. Its inputs are
``windows`` and ``context`` (the machine-context vector ``[N, 5]``, ignored by a raw-waveform network), so
the physics front end runs inside the exported graph too.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor, nn

from faultdx.atomic import atomic_file
from faultdx.nn.resnet1d import ResNet1d


class LogitsAndSlopes(nn.Module):
    """``forward(x [N, C_in, T], context [N, 5]) -> (logits [N, K], *slopes [N, C_layer])`` in ``self.names``
    order."""

    def __init__(self, model: ResNet1d) -> None:
        super().__init__()
        self.model = model
        self.names: list[str] = model.slope_names()

    def forward(self, x: Tensor, context: Tensor) -> tuple[Tensor, ...]:
        logits, slopes = self.model.forward_with_slopes(x, context)
        return (logits, *(slopes[name] for name in self.names))


def _example(model: ResNet1d, window: int) -> tuple[Tensor, Tensor]:
    """Two windows and a context vector (SKF 6205 at 1797 rpm, 12 kHz) to trace with."""
    context = torch.tensor([[0.0025, 0.0089, 0.0135, 0.0059, 0.001]]).expand(2, 5).contiguous()
    return torch.randn(2, model.config.in_channels, window), context


def export_program(model: ResNet1d, *, window: int = 2048) -> torch.export.ExportedProgram:
    """``torch.export`` of :class:`LogitsAndSlopes`, dynamic batch; puts ``model`` in eval mode."""
    wrapper = LogitsAndSlopes(model).eval()
    batch = torch.export.Dim("batch", min=1, max=65536)
    shapes = {"x": {0: batch}, "context": {0: batch}}
    return torch.export.export(wrapper, _example(model, window), dynamic_shapes=shapes)


def export_onnx(model: ResNet1d, path: str | Path, *, window: int = 2048, opset: int = 18) -> Path:
    """Write ``model`` (logits + slopes, dynamic batch) as ONNX to ``path`` atomically (eval mode)."""
    if opset < 17:
        raise ValueError(f"opset must be >= 17, got {opset}")
    path = Path(path)
    wrapper = LogitsAndSlopes(model).eval()
    batch = torch.export.Dim("batch", min=1, max=65536)
    program = torch.onnx.export(
        wrapper,
        _example(model, window),
        dynamo=True,
        opset_version=opset,
        input_names=["windows", "context"],
        output_names=["logits", *wrapper.names],
        dynamic_shapes={"x": {0: batch}, "context": {0: batch}},
        external_data=False,
        verbose=False,
    )
    with atomic_file(path) as tmp:
        program.save(str(tmp))
    return path
