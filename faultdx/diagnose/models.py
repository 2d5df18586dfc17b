"""One registry of model kinds: the kind a config names → its network; a name or path → a loaded model.

As timm and litgpt build a network from the kind named in its config, a model directory's ``config.json``
names its kind in ``model.kind`` (``"resnet1d"`` when absent: the trained networks written before kinds were
named) and :data:`NETWORK_KINDS` builds it before the weights are loaded. Models built in code, without a
directory, are registered by name in :data:`BUILT_IN` (the envelope reference, ``"envelope"``). The envelope
module registers here and knows nothing of the Diagnoser: the Diagnoser reads what :func:`load_model` returns.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from faultdx.baselines.envelope import ENVELOPE_NAME, EnvelopeConfig, EnvelopeReference, load_envelope
from faultdx.data.bearing import SKF_6205, BearingGeometry, bearing_from
from faultdx.modeldir import LoadedModel, ModelMeta, load_model_dir, resolve_model
from faultdx.nn.resnet1d import ResNet1d, ResNet1dConfig
from faultdx.ood import OodCalibration, load_calibration
from faultdx.paths import models_dir

DEFAULT_KIND = "resnet1d"


@dataclass(frozen=True)
class ReadyModel:
    """A network in eval mode with what it was saved with: metadata, its directory (None for a model built
    in code) and its unknown-condition calibration (None without one)."""

    network: torch.nn.Module
    meta: ModelMeta
    path: Path | None = None
    calibration: OodCalibration | None = None


def _resnet1d(meta: ModelMeta) -> torch.nn.Module:
    return ResNet1d(ResNet1dConfig.from_dict({k: v for k, v in meta.model.items() if k != "kind"}))


def _envelope(meta: ModelMeta) -> torch.nn.Module:
    return EnvelopeReference(EnvelopeConfig.from_dict(meta.model), sampling_rate=meta.sampling_rate)


# model kind (config.json's model.kind) -> the untrained network its config describes
NETWORK_KINDS: dict[str, Callable[[ModelMeta], torch.nn.Module]] = {
    DEFAULT_KIND: _resnet1d,
    ENVELOPE_NAME: _envelope,
}
# models built in code, served under their name unless a model directory of that name exists
BUILT_IN: dict[str, Callable[[], LoadedModel]] = {ENVELOPE_NAME: load_envelope}


def build_network(meta: ModelMeta) -> torch.nn.Module:
    """The network of the kind ``meta.model`` names; a ``ValueError`` naming the known kinds otherwise."""
    kind = meta.model.get("kind", DEFAULT_KIND)
    if kind not in NETWORK_KINDS:
        raise ValueError(f"unknown model kind {kind!r}; known: {', '.join(NETWORK_KINDS)}")
    return NETWORK_KINDS[kind](meta)


def is_built_in(name: str | Path) -> bool:
    """Whether ``name`` is a model built in code (and no model directory of that name shadows it)."""
    return isinstance(name, str) and name in BUILT_IN and not (models_dir() / name).is_dir()


def load_model(path_or_name: str | Path) -> ReadyModel:
    """A model directory (a path, or a name in ``models_dir()`` or the shipped models) or a built-in model,
    loaded in eval mode with its calibration; :class:`~faultdx.modeldir.CheckpointError` when unusable."""
    if is_built_in(path_or_name):
        built = BUILT_IN[str(path_or_name)]()
        return ReadyModel(built.model.eval(), built.meta)
    path = resolve_model(path_or_name)
    loaded = load_model_dir(path, build=build_network)
    return ReadyModel(loaded.model, loaded.meta, path, load_calibration(path))


def meta_bearing(bearing: dict | None) -> BearingGeometry:
    """A model directory's bearing (API form, or the older field names); SKF 6205 when none is recorded."""
    if not bearing:
        return SKF_6205
    if "n_balls" in bearing:  # model directories written before the API form
        bearing = {"balls": bearing["n_balls"], "ball_diameter_mm": bearing["ball_diameter"],
                   "pitch_diameter_mm": bearing["pitch_diameter"],
                   "contact_angle_deg": bearing.get("contact_angle_deg", 0.0), "name": bearing.get("name")}
    return bearing_from({k: v for k, v in bearing.items() if k != "source"}, "model.bearing")


__all__ = ["BUILT_IN", "NETWORK_KINDS", "ReadyModel", "build_network", "is_built_in",
           "load_model", "meta_bearing"]
