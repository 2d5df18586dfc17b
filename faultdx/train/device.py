"""Where and in what precision a run computes: device choice, autocast dtype, gradient scaler."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch


def resolve_device(spec: str, *, local_rank: int | None = None) -> torch.device:
    """``auto`` picks CUDA when present (the local rank's GPU under torchrun), else CPU."""
    if spec == "auto":
        spec = "cuda" if torch.cuda.is_available() else "cpu"
    if spec == "cuda" and local_rank is not None:
        spec = f"cuda:{local_rank}"
    device = torch.device(spec)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {spec!r} requested but CUDA is not available; use device=cpu or auto")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"device {spec!r} requested but MPS is not available; use device=cpu or auto")
    return device


@dataclass(frozen=True)
class Precision:
    """Mixed precision settings: ``dtype`` None means full fp32."""

    dtype: torch.dtype | None
    use_scaler: bool

    @property
    def name(self) -> str:
        return {None: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}[self.dtype]

    def autocast(self, device: torch.device) -> contextlib.AbstractContextManager:
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=device.type, dtype=self.dtype)

    def scaler(self, device: torch.device) -> torch.amp.GradScaler:
        return torch.amp.GradScaler(device.type, enabled=self.use_scaler)


def resolve_precision(spec: str, device: torch.device) -> Precision:
    """``auto``: bf16 on CUDA when supported, else fp16 + grad scaler on CUDA, fp32 elsewhere."""
    if spec == "auto":
        if device.type != "cuda":
            return Precision(None, False)
        spec = "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    if spec == "fp32":
        return Precision(None, False)
    if spec == "bf16":
        return Precision(torch.bfloat16, False)
    if device.type != "cuda":
        raise ValueError(f"precision fp16 needs a CUDA device, got {device}; use bf16 or fp32")
    return Precision(torch.float16, True)
