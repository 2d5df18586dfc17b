"""Self-describing model directories: ``model.safetensors`` (weights) + ``config.json`` (everything else).

A model directory holds all that is needed to rebuild the network and to preprocess a signal exactly as
in training (classes, window, hop, sampling rate, channels, normalisation), plus where it came from
(dataset files and their sha256, protocol, metrics). Weights are safetensors only: nothing here ever
unpickles a file.

Writes are atomic (:func:`faultdx.atomic.atomic_directory`): the directory is assembled next to the target and
exchanged with it in one step, so a reader sees the old model or the new one, never half of one or none.

An optional unknown-condition calibration (:mod:`faultdx.ood`) sits beside the weights as ``ood.safetensors``
(its tensors) + ``ood.json`` (method, threshold, target rate, the data it came from, the sha256 of the weights
it was fitted to). :func:`save_model_dir` never carries one over (new weights invalidate it);
:func:`write_calibration` adds or replaces it in an existing directory.
"""

from __future__ import annotations

import contextlib
import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import torch
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from safetensors.torch import load_file, save_file

from faultdx import __version__
from faultdx.atomic import atomic_directory, fsync_file, recover, write_text
from faultdx.errors import InputError
from faultdx.limits import MAX_CHANNELS
from faultdx.model_bounds import MAX_CLASSES, check_network, read_json_object
from faultdx.paths import PROJECT_ROOT, models_dir

if TYPE_CHECKING:
    from faultdx.nn.resnet1d import ResNet1d

FORMAT = "faultdx-model/1"
WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
CARD_FILE = "MODEL_CARD.md"
OOD_WEIGHTS_FILE = "ood.safetensors"
OOD_CONFIG_FILE = "ood.json"
MAX_WINDOW = 1 << 20  # samples per window (the shipped model's is 2,048)
MAX_MODEL_RATE = 1_000_000.0  # Hz


class CheckpointError(InputError):
    """A model directory is missing, corrupt, foreign or inconsistent."""


class DatasetFile(BaseModel):
    """One data file a model was trained on, with its checksum."""

    file: str
    sha256: str | None = None


class DatasetInfo(BaseModel):
    """Where the training data came from."""

    model_config = ConfigDict(extra="allow")

    name: str
    files: list[DatasetFile] = Field(default_factory=list)


class ModelMeta(BaseModel):
    """The contents of ``config.json`` (unknown extra keys are kept, never dropped)."""

    model_config = ConfigDict(extra="allow", protected_namespaces=())

    format: Literal["faultdx-model/1"] = FORMAT
    name: str
    version: str = "1"
    created: str
    faultdx_version: str
    model: dict[str, Any]
    classes: list[str] = Field(min_length=2, max_length=MAX_CLASSES)
    window: int = Field(gt=0, le=MAX_WINDOW)
    hop: int = Field(gt=0, le=MAX_WINDOW)
    sampling_rate: float = Field(gt=0, le=MAX_MODEL_RATE)
    channels: list[str] = Field(min_length=1, max_length=MAX_CHANNELS)
    normalisation: Literal["per_window_standardise"] = "per_window_standardise"
    dataset: DatasetInfo
    protocol: dict[str, Any] = Field(default_factory=dict)
    metrics: dict[str, Any] = Field(default_factory=dict)
    bearing: dict[str, Any] | None = None

    @field_validator("model")
    @classmethod
    def _within_bounds(cls, model: dict[str, Any]) -> dict[str, Any]:
        check_network(model)  # sizes before any tensor is built: a hostile config is a named error
        return model

    @model_validator(mode="after")
    def _consistent_with_network(self) -> ModelMeta:
        num_classes = self.model.get("num_classes")
        if num_classes is not None and num_classes != len(self.classes):
            raise ValueError(f"model.num_classes={num_classes} but {len(self.classes)} classes are listed")
        in_channels = self.model.get("in_channels")
        if in_channels is not None and in_channels != len(self.channels):
            raise ValueError(f"model.in_channels={in_channels} but {len(self.channels)} channels are listed")
        return self


@dataclass
class LoadedModel:
    """A network in eval mode and the metadata it was saved with."""

    model: ResNet1d
    meta: ModelMeta


def build_meta(model: torch.nn.Module, meta: dict[str, Any]) -> ModelMeta:
    """Validate ``meta``, filling ``format``, ``created``, ``faultdx_version`` and ``model`` when absent."""
    full = {
        "format": FORMAT,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "faultdx_version": __version__,
        **meta,
    }
    if "model" not in full and hasattr(_unwrap(model), "config"):
        full["model"] = _unwrap(model).config.to_dict()
    try:
        return ModelMeta.model_validate(full)
    except ValidationError as err:
        raise CheckpointError(f"invalid model metadata: {_describe(err)}") from err


def save_model_dir(
    path: str | Path, model: torch.nn.Module, meta: dict[str, Any], *, model_card: str | None = None
) -> Path:
    """Write ``model`` and ``meta`` as a model directory at ``path``, atomically; return the path.

    An existing directory at ``path`` is replaced as a whole. ``model_card`` (markdown) is written as
    ``MODEL_CARD.md``; without it an existing card in the replaced directory is carried over.
    """
    target = Path(path)
    validated = build_meta(model, meta)
    old_card = target / CARD_FILE
    card = (
        model_card
        if model_card is not None
        else (old_card.read_text(encoding="utf-8") if old_card.is_file() else None)
    )
    state = {k: v.detach().to("cpu").contiguous() for k, v in _unwrap(model).state_dict().items()}
    with atomic_directory(target) as staging:
        save_file(state, str(staging / WEIGHTS_FILE), metadata={"format": FORMAT})
        fsync_file(staging / WEIGHTS_FILE)
        write_text(staging / CONFIG_FILE, json.dumps(validated.model_dump(mode="json"), indent=2) + "\n")
        if card is not None:
            write_text(staging / CARD_FILE, card)
    return target


def read_meta(path: str | Path) -> ModelMeta:
    """Read and validate ``config.json`` of a model directory without touching the weights."""
    directory = Path(path)
    if not directory.is_dir():
        with contextlib.suppress(OSError):  # a writer killed mid-swap may have left it aside as .NAME.*.old
            recover(directory)
    if not directory.is_dir():
        raise CheckpointError(f"model directory {str(directory)!r} does not exist")
    config_path = directory / CONFIG_FILE
    if not config_path.is_file():
        raise CheckpointError(f"{str(config_path)!r} is missing: not a faultdx model directory")
    raw = _json_object(config_path)
    if raw.get("format") != FORMAT:
        raise CheckpointError(
            f"{str(config_path)!r} has unknown format {raw.get('format')!r} (this faultdx reads {FORMAT!r})"
        )
    try:
        return ModelMeta.model_validate(raw)
    except ValidationError as err:
        raise CheckpointError(f"{str(config_path)!r} is invalid: {_describe(err)}") from err


def load_state(path: str | Path) -> dict[str, torch.Tensor]:
    """Load a safetensors file, refusing anything else (e.g. a pickle renamed to ``.safetensors``)."""
    weights = Path(path)
    if not weights.is_file():
        raise CheckpointError(f"{str(weights)!r} is missing")
    with weights.open("rb") as fh:
        head = fh.read(9)
    if head[8:9] != b"{":  # safetensors = u64 header length, then a JSON header
        raise CheckpointError(
            f"{str(weights)!r} is {_foreign_kind(head)}, not safetensors; faultdx never loads pickles"
        )
    try:
        state = load_file(str(weights))
    except Exception as err:  # safetensors raises its own error types for any malformed header or body
        raise CheckpointError(f"{str(weights)!r} is not a valid safetensors file: {err}") from err
    broken = [k for k, t in state.items() if t.is_floating_point() and not bool(torch.isfinite(t).all())]
    if broken:  # such a network answers NaN, or a confident verdict from NaN logits, for every signal
        raise CheckpointError(
            f"{str(weights)!r}: {len(broken)} tensor(s) hold NaN or Inf values (first: {broken[0]!r})"
        )
    return state


def load_model_dir(
    path: str | Path,
    *,
    device: str | torch.device = "cpu",
    build: Callable[[ModelMeta], torch.nn.Module] | None = None,
) -> LoadedModel:
    """Rebuild the network saved at ``path`` (a model directory) in eval mode on ``device``.

    ``build(meta)`` makes the (untrained) network from its config; a :class:`ResNet1d` by default
    (:mod:`faultdx.diagnose.models` passes its registry of model kinds)."""
    directory = Path(path)
    meta = read_meta(directory)
    state = load_state(directory / WEIGHTS_FILE)
    try:
        model = (build or _build_resnet1d)(meta)
    except (TypeError, ValueError, KeyError) as err:
        raise CheckpointError(f"{str(directory)!r}: cannot rebuild the network from 'model': {err}") from err
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as err:
        raise CheckpointError(
            f"{str(directory)!r}: weights do not match the network in config.json: {_first_lines(err)}"
        ) from err
    return LoadedModel(model=model.to(device).eval(), meta=meta)


def _build_resnet1d(meta: ModelMeta) -> torch.nn.Module:
    from faultdx.nn.resnet1d import ResNet1d, ResNet1dConfig

    return ResNet1d(ResNet1dConfig.from_dict(meta.model))


def write_calibration(path: str | Path, tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> Path:
    """Add (or replace) the unknown-condition calibration of the model directory at ``path``, atomically:
    the directory is rebuilt with its other files copied and swapped into place as a whole."""
    directory = Path(path)
    read_meta(directory)  # refuse anything that is not a model directory
    replaced = (OOD_WEIGHTS_FILE, OOD_CONFIG_FILE)
    keep = [p for p in directory.iterdir() if p.is_file() and p.name not in replaced]
    state = {k: v.detach().to("cpu", torch.float32).contiguous() for k, v in tensors.items()}
    with atomic_directory(directory) as staging:
        for file in keep:
            shutil.copyfile(file, staging / file.name)
            fsync_file(staging / file.name)
        save_file(state, str(staging / OOD_WEIGHTS_FILE), metadata={"format": FORMAT})
        fsync_file(staging / OOD_WEIGHTS_FILE)
        write_text(staging / OOD_CONFIG_FILE, json.dumps(meta, indent=2, allow_nan=False) + "\n")
    return directory


def read_calibration(path: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]] | None:
    """The calibration tensors and JSON of a model directory; None when it has none (older directories)."""
    directory = Path(path)
    config_path = directory / OOD_CONFIG_FILE
    if not config_path.is_file():
        return None
    return load_state(directory / OOD_WEIGHTS_FILE), _json_object(config_path)


def resolve_model(name_or_path: str | Path) -> Path:
    """Find a model directory: an existing path (a run folder means its ``best/`` model), a name in
    ``models_dir()``, or the name of a model shipped inside the package (the default model)."""
    candidate = Path(name_or_path).expanduser()
    for directory in (candidate, models_dir() / str(name_or_path), shipped_models_dir() / str(name_or_path)):
        if (directory / CONFIG_FILE).is_file():
            return directory
        if (directory / "best" / CONFIG_FILE).is_file():
            return directory / "best"
    available = available_models()
    listing = ", ".join(available) if available else "none"
    raise CheckpointError(
        f"no model {str(name_or_path)!r}: not a model directory and not a name in {str(models_dir())!r} "
        f"(available: {listing})"
    )


def shipped_models_dir() -> Path:
    """Models shipped with faultdx: package data after ``pip install``, else the checkout's ``models/``."""
    installed = Path(__file__).resolve().parent / "shipped"
    return installed if installed.is_dir() else PROJECT_ROOT / "models"


def available_models() -> list[str]:
    """Names of the model directories in ``models_dir()`` and of the shipped models."""
    names = {
        p.name
        for root in (models_dir(), shipped_models_dir())
        if root.is_dir()
        for p in root.iterdir()
        if (p / CONFIG_FILE).is_file()
    }
    return sorted(names)


def _json_object(path: Path) -> dict[str, Any]:
    """The JSON object in ``path``, within a size and a nesting depth (CheckpointError naming the file)."""
    return read_json_object(path, CheckpointError)


def _unwrap(model: torch.nn.Module) -> torch.nn.Module:
    """The plain module under DDP / torch.compile wrappers (their state-dict keys carry prefixes)."""
    while True:
        if hasattr(model, "module") and isinstance(model.module, torch.nn.Module):
            model = model.module
        elif hasattr(model, "_orig_mod"):
            model = model._orig_mod
        else:
            return model


def _foreign_kind(head: bytes) -> str:
    if head[:2] == b"PK":
        return "a zip archive (a torch.save file?)"
    if head[:1] == b"\x80" and len(head) > 1 and 2 <= head[1] <= 5:
        return "a Python pickle"
    if len(head) < 9:
        return "truncated"
    return "an unknown format"


def _describe(err: ValidationError) -> str:
    return "; ".join(f"{'.'.join(str(p) for p in e['loc']) or '<root>'}: {e['msg']}" for e in err.errors())


def _first_lines(err: Exception, n: int = 4) -> str:
    return " ".join(str(err).strip().splitlines()[:n])
