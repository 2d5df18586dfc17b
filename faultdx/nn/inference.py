"""The one batched forward pass over many windows: no gradients, batch slices, the device, and on request the
per-sample activation slopes or the penultimate features beside the logits.

Training evaluation, the Diagnoser and the unknown-condition calibration all run the network through
:func:`forward_batches` (one result per batch, for callers that reduce each batch at once) or
:func:`batched_forward` (the batches concatenated). Windows may be numpy arrays (converted to float32 one
batch at a time, so a large input is never copied whole) or tensors already on the device.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import Tensor

Windows = np.ndarray | Tensor
PrepareBatch = Callable[[Tensor, slice], Tensor]  # (raw batch, its rows in the input) -> what the net reads


@dataclass(frozen=True)
class NetworkCalls:
    """The network's forward functions: ``(x, context) → logits``, ``→ (logits, {layer: slopes})``,
    ``→ (logits, features)`` and ``→ (logits, {layer: slopes}, features)``. The eager module's own methods,
    or traced graphs of them. Without the last, slopes and features together take two passes."""

    logits: Callable[[Tensor, Tensor | None], Tensor]
    with_slopes: Callable[[Tensor, Tensor | None], tuple[Tensor, dict[str, Tensor]]] | None = None
    with_features: Callable[[Tensor, Tensor | None], tuple[Tensor, Tensor]] | None = None
    with_slopes_and_features: (
        Callable[[Tensor, Tensor | None], tuple[Tensor, dict[str, Tensor], Tensor]] | None
    ) = None

    @classmethod
    def of(cls, model: torch.nn.Module) -> NetworkCalls:
        """The eager calls of ``model`` (a method the network lacks stays None)."""
        names = ("forward_with_slopes", "forward_with_features", "forward_with_slopes_and_features")
        return cls(model, *(getattr(model, name, None) for name in names))


class SlopesAndFeatures(torch.nn.Module):
    """A network's ``forward_with_slopes_and_features`` as a module's ``forward``, so it can be traced."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: Tensor, context: Tensor) -> tuple[Tensor, dict[str, Tensor], Tensor]:
        return self.model.forward_with_slopes_and_features(x, context)


class ForwardOutputs(NamedTuple):
    """What the network computed for a batch (or for all windows): float32 logits ``[N, K]``, the slopes
    ``{layer: [N, C_layer]}`` (empty unless asked for) and the penultimate features ``[N, D]`` (None unless
    asked for)."""

    logits: Tensor
    slopes: dict[str, Tensor]
    features: Tensor | None


def forward_batches(
    network: torch.nn.Module | NetworkCalls,
    x: Windows,
    context: Windows | None,
    *,
    batch_size: int,
    device: torch.device | str | None = None,
    slopes: bool = False,
    features: bool = False,
    prepare: PrepareBatch | None = None,
    autocast: Callable[[], contextlib.AbstractContextManager[Any]] | None = None,
) -> Iterator[ForwardOutputs]:
    """Run ``network`` over windows ``x [N, C, W]`` (and ``context [N, 5]``, or None) ``batch_size`` at a
    time, without gradients; yield each batch's :class:`ForwardOutputs` in order.

    ``prepare(batch, rows)`` turns a raw batch into the network's input (noise, standardisation) inside the
    no-gradient pass; ``autocast()`` is entered around each forward (mixed precision). With both ``slopes``
    and ``features``, one pass when the network has ``with_slopes_and_features``, else two. An empty ``x``
    still yields one (empty) batch, so that its outputs have their width. The no-gradient mode is left before
    each yield.
    """
    calls = network if isinstance(network, NetworkCalls) else NetworkCalls.of(network)
    if slopes and calls.with_slopes is None:
        raise ValueError("this network has no forward_with_slopes")
    if features and calls.with_features is None:
        raise ValueError("this network has no forward_with_features")
    for begin in range(0, max(len(x), 1), batch_size):
        rows = slice(begin, begin + batch_size)
        with torch.inference_mode():
            batch = _batch(x, rows, device)
            ctx = None if context is None else _batch(context, rows, device)
            if prepare is not None:
                batch = prepare(batch, rows)
            with autocast() if autocast is not None else contextlib.nullcontext():
                out = _forward(calls, batch, ctx, slopes, features)
        yield out


def batched_forward(
    network: torch.nn.Module | NetworkCalls,
    x: Windows,
    context: Windows | None,
    *,
    batch_size: int,
    device: torch.device | str | None = None,
    slopes: bool = False,
    features: bool = False,
    prepare: PrepareBatch | None = None,
    autocast: Callable[[], contextlib.AbstractContextManager[Any]] | None = None,
) -> ForwardOutputs:
    """:func:`forward_batches` with the batches concatenated (on the device they were computed on)."""
    parts = list(forward_batches(network, x, context, batch_size=batch_size, device=device, slopes=slopes,
                                 features=features, prepare=prepare, autocast=autocast))
    merged = {k: torch.cat([p.slopes[k] for p in parts]) for k in parts[0].slopes}
    feats = torch.cat([p.features for p in parts]) if features else None  # type: ignore[misc]
    return ForwardOutputs(torch.cat([p.logits for p in parts]), merged, feats)


def _batch(values: Windows, rows: slice, device: torch.device | str | None) -> Tensor:
    """Rows of a numpy array (as contiguous float32) or of a tensor, on ``device`` when one is named."""
    if isinstance(values, Tensor):
        part = values[rows]
    else:
        part = torch.from_numpy(np.ascontiguousarray(values[rows], dtype=np.float32))
    return part if device is None else part.to(device)


def _forward(
    calls: NetworkCalls, batch: Tensor, context: Tensor | None, slopes: bool, features: bool
) -> ForwardOutputs:
    layer_slopes: dict[str, Tensor] = {}
    feats = None
    if slopes and features and calls.with_slopes_and_features is not None:  # one pass for both
        logits, layer_slopes, feats = calls.with_slopes_and_features(batch, context)
        layer_slopes = {k: v.float() for k, v in layer_slopes.items()}
    elif slopes:
        logits, layer_slopes = calls.with_slopes(batch, context)  # type: ignore[misc]
        layer_slopes = {k: v.float() for k, v in layer_slopes.items()}
        if features:  # this slopes call does not return the features: a second pass
            feats = calls.with_features(batch, context)[1]  # type: ignore[misc]
    elif features:
        logits, feats = calls.with_features(batch, context)  # type: ignore[misc]
    else:
        logits = calls.logits(batch, context)
    return ForwardOutputs(logits.float(), layer_slopes, None if feats is None else feats.float())
