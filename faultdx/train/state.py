"""Resumable training state without pickle: tensors in ``state.safetensors``, the rest in ``state.json``.

The optimiser's per-parameter tensors (AdamW moments, step) are flattened to ``optim.<param>.<name>`` keys;
its param groups, the scheduler, the grad scaler and the loop's counters go to JSON. The model weights are
``model.<key>``; the global RNG state is ``rng.torch`` (and ``rng.cuda.<i>``). Written atomically as a
directory (:func:`faultdx.atomic.atomic_directory`) at the end of every epoch; loading first recovers what a
writer killed part-way left behind, so a resume after a crash at any instant finds the old or the new state.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file

from faultdx.atomic import atomic_directory, fsync_file, recover, write_text
from faultdx.modeldir import CheckpointError, load_state

TENSORS_FILE = "state.safetensors"
JSON_FILE = "state.json"
STATE_FORMAT = "faultdx-train-state/1"


@dataclass
class TrainState:
    """Counters of a run: the next epoch to train and the history needed to pick up where it stopped."""

    epoch: int = 0
    global_step: int = 0
    best_score: float | None = None
    best_epoch: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def save_train_state(
    path: str | Path,
    *,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    scaler: torch.amp.GradScaler,
    state: TrainState,
) -> None:
    """Write everything needed to resume into the directory ``path`` (atomically)."""
    tensors: dict[str, torch.Tensor] = {f"model.{k}": v for k, v in model.state_dict().items()}
    optim = optimizer.state_dict()
    optim_scalars: dict[str, dict[str, Any]] = {}
    for param_id, slots in optim["state"].items():
        for name, value in slots.items():
            if isinstance(value, torch.Tensor):
                tensors[f"optim.{param_id}.{name}"] = value
            else:
                optim_scalars.setdefault(str(param_id), {})[name] = value
    tensors["rng.torch"] = torch.get_rng_state()
    if torch.cuda.is_available():
        for i, rng in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"rng.cuda.{i}"] = rng
    document = {
        "format": STATE_FORMAT,
        "epoch": state.epoch,
        "global_step": state.global_step,
        "best_score": state.best_score,
        "best_epoch": state.best_epoch,
        "extra": state.extra,
        "optimizer": {"param_groups": optim["param_groups"], "scalars": optim_scalars},
        "scheduler": scheduler.state_dict(),
        "scaler": scaler.state_dict(),
    }
    text = json.dumps(document, indent=1)  # fails loudly on anything not JSON-able, before touching disk
    cpu = {k: v.detach().to("cpu").contiguous() for k, v in tensors.items()}
    with atomic_directory(path) as staging:
        save_file(cpu, str(staging / TENSORS_FILE), metadata={"format": STATE_FORMAT})
        fsync_file(staging / TENSORS_FILE)
        write_text(staging / JSON_FILE, text)


def load_train_state(
    path: str | Path,
    *,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    scaler: torch.amp.GradScaler,
) -> TrainState:
    """Restore model, optimiser, scheduler, scaler and RNG from ``path``; return the counters."""
    directory = Path(path)
    recover(directory)
    json_path = directory / JSON_FILE
    if not json_path.is_file():
        raise CheckpointError(f"no training state to resume at {str(directory)!r} ({JSON_FILE} missing)")
    try:
        document = json.loads(json_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise CheckpointError(f"{str(json_path)!r} is not valid JSON: {err}") from err
    if document.get("format") != STATE_FORMAT:
        raise CheckpointError(f"{str(json_path)!r}: unknown format {document.get('format')!r}")
    tensors = load_state(directory / TENSORS_FILE)
    device = next(model.parameters()).device
    model_state = {k.removeprefix("model."): v for k, v in tensors.items() if k.startswith("model.")}
    try:
        model.load_state_dict(model_state, strict=True)
    except RuntimeError as err:
        raise CheckpointError(
            f"training state at {str(directory)!r} does not fit this network: {err}"
        ) from err
    optimizer.load_state_dict(_optimizer_dict(document["optimizer"], tensors, device))
    scheduler.load_state_dict(document["scheduler"])
    if document["scaler"]:
        scaler.load_state_dict(document["scaler"])
    torch.set_rng_state(tensors["rng.torch"])
    cuda_states = [tensors[k] for k in sorted(t for t in tensors if t.startswith("rng.cuda."))]
    if cuda_states and torch.cuda.is_available() and len(cuda_states) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(cuda_states)
    return TrainState(
        epoch=document["epoch"],
        global_step=document["global_step"],
        best_score=document["best_score"],
        best_epoch=document["best_epoch"],
        extra=document.get("extra", {}),
    )


def _optimizer_dict(saved: dict[str, Any], tensors: dict[str, torch.Tensor], device: torch.device) -> dict:
    state: dict[int, dict[str, Any]] = {}
    for key, value in tensors.items():
        if key.startswith("optim."):
            _, param_id, name = key.split(".", 2)
            # "step" stays on CPU as AdamW keeps it; moments go back to the parameters' device
            state.setdefault(int(param_id), {})[name] = value if name == "step" else value.to(device)
    for param_id, scalars in saved["scalars"].items():
        state.setdefault(int(param_id), {}).update(scalars)
    return {"state": state, "param_groups": saved["param_groups"]}
