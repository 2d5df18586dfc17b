"""Export a :class:`ResNet1d` with its per-sample slopes to ONNX or ``torch.export``.

Exporters want tensors out, not dicts, so :class:`LogitsAndSlopes` returns ``(logits, *slopes)`` in the order
of ``ResNet1d.slope_names()``; the ONNX outputs are named ``logits`` and then the layer names.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import torch
from torch import Tensor, nn

from faultdx.nn.resnet1d import ResNet1d


class LogitsAndSlopes(nn.Module):
    """``forward(x [N, C_in, T]) -> (logits [N, K], *slopes [N, C_layer])`` in ``self.names`` order."""

    def __init__(self, model: ResNet1d) -> None:
        super().__init__()
        self.model = model
        self.names: list[str] = model.slope_names()

    def forward(self, x: Tensor) -> tuple[Tensor, ...]:
        logits, slopes = self.model.forward_with_slopes(x)
        return (logits, *(slopes[name] for name in self.names))


def export_program(model: ResNet1d, *, window: int = 2048) -> torch.export.ExportedProgram:
    """``torch.export`` of :class:`LogitsAndSlopes`, dynamic batch; puts ``model`` in eval mode."""
    wrapper = LogitsAndSlopes(model).eval()
    example = torch.randn(2, model.config.in_channels, window)
    batch = torch.export.Dim("batch", min=1, max=65536)
    return torch.export.export(wrapper, (example,), dynamic_shapes={"x": {0: batch}})


def export_onnx(model: ResNet1d, path: str | Path, *, window: int = 2048, opset: int = 18) -> Path:
    """Write ``model`` (logits + slopes, dynamic batch) as ONNX to ``path`` atomically (eval mode)."""
    if opset < 17:
        raise ValueError(f"opset must be >= 17, got {opset}")
    path = Path(path)
    wrapper = LogitsAndSlopes(model).eval()
    example = torch.randn(2, model.config.in_channels, window)
    batch = torch.export.Dim("batch", min=1, max=65536)
    fd, tmp = tempfile.mkstemp(suffix=".onnx.tmp", dir=path.parent)
    os.close(fd)
    try:
        program = torch.onnx.export(
            wrapper,
            (example,),
            dynamo=True,
            opset_version=opset,
            input_names=["windows"],
            output_names=["logits", *wrapper.names],
            dynamic_shapes={"x": {0: batch}},
            external_data=False,
            verbose=False,
        )
        program.save(tmp)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp creates 0600
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path
