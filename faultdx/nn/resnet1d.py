"""A 1D pre-activation deep residual network for vibration windows, with any registered activation.

Read top to bottom: the config, the building blocks, the network, the presets. The network reads either the
raw waveform (``frontend="raw"``) or, with ``frontend="defect_spectrum"``, the window's envelope spectra on
the axes of its bearing's defect frequencies (:mod:`faultdx.nn.frontend`), which needs the machine context
(shaft speed and bearing, as a ``[N, 5]`` context vector). ``ResNet1d.forward`` returns logits;
``ResNet1d.forward_with_slopes`` returns the same logits plus every per-sample activation parameter
(APReLU slopes, shrinkage thresholds, DY-ReLU coefficients) computed in the same pass, keyed by layer name;
``ResNet1d.forward_with_features`` returns the logits plus the penultimate features.
Shapes: N windows, C_in sensors, T samples, K classes.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from faultdx.nn.activations import check_activation_name, has_params, make_activation
from faultdx.nn.frontend import DefectSpectrumFrontend, FrontendConfig

Params = dict[str, Tensor]
FRONTENDS = ("raw", "defect_spectrum", "hybrid")


@dataclass
class ResNet1dConfig:
    """Everything that defines a :class:`ResNet1d`; JSON round-trips through ``to_dict`` / ``from_dict``."""

    in_channels: int = 1  # sensors per window
    num_classes: int = 10
    activation: str = "aprelu"  # any name from faultdx.nn.activations.activation_names()
    activation_options: dict[str, Any] = field(default_factory=dict)  # e.g. {"reduction": 2}
    stem_channels: int = 16
    stem_kernel: int = 64  # wide first kernel: standard for raw vibration (WDCNN)
    stem_stride: int = 8
    widths: tuple[int, ...] = (16, 32, 64)  # channels of each stage
    depths: tuple[int, ...] = (2, 2, 2)  # residual blocks per stage
    strides: tuple[int, ...] = (2, 2, 2)  # stride of each stage's first block
    kernel_size: int = 3
    dropout: float = 0.0  # before the final linear layer
    frontend: str = "raw"  # "raw" waveform, "defect_spectrum" (needs the context), or "hybrid" (both trunks)
    raw_dropout: float = 0.5  # hybrid: share of training windows whose raw-trunk features are zeroed
    frontend_options: dict[str, Any] = field(default_factory=dict)  # FrontendConfig fields

    def __post_init__(self) -> None:
        self.widths, self.depths, self.strides = tuple(self.widths), tuple(self.depths), tuple(self.strides)
        scalars = ("in_channels", "num_classes", "stem_channels", "stem_kernel", "stem_stride", "kernel_size")
        for name in scalars:
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"ResNet1dConfig.{name} must be a positive integer, got {value!r}")
        if self.num_classes < 2:
            raise ValueError(f"ResNet1dConfig.num_classes must be >= 2, got {self.num_classes}")
        if self.kernel_size % 2 == 0:
            raise ValueError(f"ResNet1dConfig.kernel_size must be odd, got {self.kernel_size}")
        if not self.widths or not (len(self.widths) == len(self.depths) == len(self.strides)):
            raise ValueError(
                "ResNet1dConfig.widths, depths and strides must be non-empty and of equal length, got "
                f"{self.widths}, {self.depths}, {self.strides}"
            )
        for name in ("widths", "depths", "strides"):
            if any(not isinstance(v, int) or v < 1 for v in getattr(self, name)):
                values = getattr(self, name)
                raise ValueError(f"ResNet1dConfig.{name} must hold positive integers, got {values}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"ResNet1dConfig.dropout must be in [0, 1), got {self.dropout}")
        check_activation_name(self.activation)
        make_activation(self.activation, 1, **self.activation_options)  # fail now on bad options
        if self.frontend not in FRONTENDS:
            raise ValueError(f"ResNet1dConfig.frontend must be one of {FRONTENDS}, got {self.frontend!r}")
        self.frontend_config()  # fail now on bad options

    def frontend_config(self) -> FrontendConfig:
        options = dict(self.frontend_options)
        if "bands" in options:
            options["bands"] = tuple(tuple(b) for b in options["bands"])
        try:
            return FrontendConfig(**options)
        except TypeError as err:
            raise ValueError(f"ResNet1dConfig.frontend_options: {err}") from None

    @property
    def needs_context(self) -> bool:
        """Whether ``forward`` needs the machine-context vector."""
        return self.frontend != "raw"

    @property
    def stem_in_channels(self) -> int:
        return self.in_channels if self.frontend == "raw" else self.frontend_config().channels

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (tuples become lists)."""
        d = dataclasses.asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ResNet1dConfig:
        """Inverse of :meth:`to_dict`; unknown keys are a ``ValueError`` naming them."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"unknown ResNet1dConfig field(s) {unknown}; valid: {sorted(known)}")
        return cls(**d)

    @property
    def min_length(self) -> int:
        """Shortest input (samples) the network accepts."""
        if self.frontend != "raw":
            return 256  # below this no defect line is resolved
        return max(1, self.stem_kernel - 2 * self._stem_padding)

    @property
    def _stem_padding(self) -> int:
        return max(0, (self.stem_kernel - self.stem_stride) // 2)


def _act(act: nn.Module, x: Tensor, name: str, params: Params | None) -> Tensor:
    """Apply ``act``; when ``params`` is a dict, also record its per-sample parameters under ``name``."""
    if params is None or not has_params(act):
        return act(x)
    y, values = act.forward_with_params(x)
    if len(values) == 1:
        params[name] = values[0]
    else:
        params.update({f"{name}.{p}": v for p, v in zip(act.param_names, values, strict=True)})
    return y


class Stem(nn.Module):
    """Wide strided convolution → BN → act: [N, C_in, T] → [N, stem_channels, ~T / stem_stride]."""

    def __init__(self, config: ResNet1dConfig) -> None:
        super().__init__()
        c = config.stem_channels
        self.conv = nn.Conv1d(
            config.stem_in_channels,
            c,
            config.stem_kernel,
            stride=config.stem_stride,
            padding=config._stem_padding,
            bias=False,
        )
        self.bn = nn.BatchNorm1d(c)
        self.act = make_activation(config.activation, c, **config.activation_options)

    def forward(self, x: Tensor, params: Params | None = None) -> Tensor:
        return _act(self.act, self.bn(self.conv(x)), "stem.act", params)


class PreActBlock(nn.Module):
    """BN → act → Conv → BN → act → Conv, plus an identity or (strided) 1×1 projection shortcut."""

    def __init__(self, c_in: int, c_out: int, stride: int, config: ResNet1dConfig) -> None:
        super().__init__()
        k, options = config.kernel_size, config.activation_options
        self.bn1 = nn.BatchNorm1d(c_in)
        self.act1 = make_activation(config.activation, c_in, **options)
        self.conv1 = nn.Conv1d(c_in, c_out, k, stride=stride, padding=k // 2, bias=False)
        self.bn2 = nn.BatchNorm1d(c_out)
        self.act2 = make_activation(config.activation, c_out, **options)
        self.conv2 = nn.Conv1d(c_out, c_out, k, padding=k // 2, bias=False)
        project = stride != 1 or c_in != c_out
        self.shortcut = nn.Conv1d(c_in, c_out, 1, stride=stride, bias=False) if project else None

    def forward(self, x: Tensor, name: str, params: Params | None = None) -> Tensor:
        out = _act(self.act1, self.bn1(x), f"{name}.act1", params)  # [N, c_in, L]
        shortcut = x if self.shortcut is None else self.shortcut(out)  # [N, c_out, ceil(L / stride)]
        out = self.conv1(out)  # [N, c_out, ceil(L / stride)]
        out = self.conv2(_act(self.act2, self.bn2(out), f"{name}.act2", params))
        return out + shortcut


class Head(nn.Module):
    """BN → act → global average pool → (dropout) → linear: [N, C, L] → [N, K]."""

    def __init__(self, channels: int, config: ResNet1dConfig, extra: int = 0) -> None:
        super().__init__()
        self.bn = nn.BatchNorm1d(channels)
        self.act = make_activation(config.activation, channels, **config.activation_options)
        self.dropout = nn.Dropout(config.dropout)
        self.fc = nn.Linear(channels + extra, config.num_classes)

    def features(self, x: Tensor, params: Params | None = None, extra: Tensor | None = None) -> Tensor:
        """The penultimate features ``[N, C + extra]``: what the final linear layer reads."""
        x = _act(self.act, self.bn(x), "head.act", params).mean(dim=-1)  # [N, C]
        return x if extra is None else torch.cat([x, extra], dim=1)  # [N, C + extra]

    def forward(self, x: Tensor, params: Params | None = None, extra: Tensor | None = None) -> Tensor:
        return self.fc(self.dropout(self.features(x, params, extra)))  # [N, K]


class RawTrunk(nn.Module):
    """The hybrid network's second trunk: the raw waveform through a small residual stack, pooled to
    ``[N, width]``. In training its features are zeroed for a random ``raw_dropout`` share of windows, so the
    classifier cannot lean on the waveform alone (which identifies recordings rather than faults)."""

    def __init__(self, config: ResNet1dConfig) -> None:
        super().__init__()
        raw = dataclasses.replace(config, frontend="raw", stem_channels=16, stem_kernel=64, stem_stride=8,
                                  widths=(16, 32, 64), depths=(1, 1, 1), strides=(2, 2, 2))
        self.config = raw
        self.stem = Stem(raw)
        c_in = raw.stem_channels
        for i, (width, stride) in enumerate(zip(raw.widths, raw.strides, strict=True), start=1):
            self.add_module(f"stage{i}", PreActBlock(c_in, width, stride, raw))
            c_in = width
        self.bn = nn.BatchNorm1d(c_in)
        self.act = make_activation(raw.activation, c_in, **raw.activation_options)
        self.width = c_in

    def forward(self, x: Tensor, params: Params | None = None) -> Tensor:
        x = self.stem(x, _Prefixed(params, "raw."))
        for i in range(1, len(self.config.widths) + 1):
            x = getattr(self, f"stage{i}")(x, f"raw.stage{i}", params)
        x = _act(self.act, self.bn(x), "raw.act", params).mean(dim=-1)  # [N, width]
        if self.training and self.config.raw_dropout > 0:
            keep = torch.rand(x.shape[0], 1, device=x.device) >= self.config.raw_dropout
            x = x * keep
        return x

    def layer_names(self) -> list[str]:
        names = ["raw.stem.act"]
        for i in range(1, len(self.config.widths) + 1):
            names += [f"raw.stage{i}.act1", f"raw.stage{i}.act2"]
        return names + ["raw.act"]


class _Prefixed(dict):
    """A params dict view that prefixes the names written into it (the stem names itself ``stem.act``)."""

    def __init__(self, params: Params | None, prefix: str) -> None:
        super().__init__()
        self.params, self.prefix = params, prefix

    def __setitem__(self, key: str, value: Tensor) -> None:
        if self.params is not None:
            self.params[self.prefix + key] = value

    def update(self, other: dict) -> None:  # type: ignore[override]
        for k, v in other.items():
            self[k] = v


class ResNet1d(nn.Module):
    """1D pre-activation ResNet: stem → stages of residual blocks → head.

    Layer names (the keys of :meth:`forward_with_slopes`) are ``stem.act``, ``stage{i}.block{j}.act1|act2``
    (1-based) and ``head.act``; they are also the module paths, so ``model.get_submodule(name)`` works.
    """

    def __init__(self, config: ResNet1dConfig) -> None:
        super().__init__()
        self.config = config
        self.frontend = DefectSpectrumFrontend(config.frontend_config()) if config.needs_context else None
        self.raw = RawTrunk(config) if config.frontend == "hybrid" else None
        self.stem = Stem(config)
        c_in = config.stem_channels
        stages = zip(config.widths, config.depths, config.strides, strict=True)
        for i, (width, depth, stride) in enumerate(stages, start=1):
            blocks = nn.Module()
            for j in range(1, depth + 1):
                blocks.add_module(f"block{j}", PreActBlock(c_in, width, stride if j == 1 else 1, config))
                c_in = width
            self.add_module(f"stage{i}", blocks)
        self.head = Head(c_in, config, extra=self.raw.width if self.raw is not None else 0)
        self._init_weights()

    def _init_weights(self) -> None:
        for m in self.modules():
            if isinstance(m, nn.Conv1d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def _features(self, x: Tensor, context: Tensor | None, params: Params | None) -> Tensor:
        if x.dim() != 3 or x.shape[1] != self.config.in_channels:
            raise ValueError(
                f"ResNet1d expects input [N, {self.config.in_channels}, T], got {tuple(x.shape)}"
            )
        raw = self.raw(x, params) if self.raw is not None else None  # [N, 64] or None
        if self.frontend is not None:
            if context is None:
                raise ValueError("this network reads defect spectra: pass the context vector [N, 5]")
            x = self.frontend(x, context)  # [N, bands·axes + 1, length]
        x = self.stem(x, params)  # [N, stem_channels, ~T / stem_stride]
        for i in range(1, len(self.config.widths) + 1):
            stage = getattr(self, f"stage{i}")
            for j, block in enumerate(stage.children(), start=1):
                x = block(x, f"stage{i}.block{j}", params)  # [N, width_i, L / prod(strides[:i])]
        return self.head.features(x, params, raw)  # [N, D]

    def _forward(self, x: Tensor, context: Tensor | None, params: Params | None) -> Tensor:
        return self.head.fc(self.head.dropout(self._features(x, context, params)))  # [N, K]

    def forward(self, x: Tensor, context: Tensor | None = None) -> Tensor:
        """Logits ``[N, K]`` for windows ``x [N, C_in, T]`` (and their context ``[N, 5]`` when needed)."""
        return self._forward(x, context, None)

    def forward_with_features(self, x: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Logits ``[N, K]`` and, from the same pass, the penultimate features ``[N, D]`` they are a linear
        function of (the pooled head, plus the raw trunk's for a hybrid network); used by
        :mod:`faultdx.ood`."""
        features = self._features(x, context, None)
        return self.head.fc(self.head.dropout(features)), features

    def forward_with_slopes(
        self, x: Tensor, context: Tensor | None = None
    ) -> tuple[Tensor, dict[str, Tensor]]:
        """Logits ``[N, K]`` and, from the same pass, every per-sample activation parameter ``[N, C_layer]``.

        APReLU: its slopes α under the layer name (``stage2.block1.act2``). Shrinkage: its thresholds τ under
        the layer name. DY-ReLU: its coefficients under ``<layer>.a1``, ``.b1``, ``.a2``, ``.b2``. Activations
        without per-sample parameters (relu, prelu, …) contribute nothing, so the dict is empty.
        """
        params: Params = {}
        logits = self._forward(x, context, params)
        return logits, params

    def forward_with_slopes_and_features(
        self, x: Tensor, context: Tensor | None = None
    ) -> tuple[Tensor, dict[str, Tensor], Tensor]:
        """Logits, every per-sample activation parameter (as :meth:`forward_with_slopes`) and the penultimate
        features (as :meth:`forward_with_features`), all from one pass."""
        params: Params = {}
        features = self._features(x, context, params)
        return self.head.fc(self.head.dropout(features)), params, features

    def activation_layer_names(self) -> list[str]:
        """Names of the activation layers in forward order (``stem.act``, ``stage1.block1.act1``, …)."""
        names = ["stem.act"]
        for i, depth in enumerate(self.config.depths, start=1):
            for j in range(1, depth + 1):
                names += [f"stage{i}.block{j}.act1", f"stage{i}.block{j}.act2"]
        return names + ["head.act"] + (self.raw.layer_names() if self.raw is not None else [])

    def slope_names(self) -> list[str]:
        """The keys :meth:`forward_with_slopes` returns, in order, without running the network."""
        names: list[str] = []
        for layer in self.activation_layer_names():
            act = self.get_submodule(layer)
            if has_params(act):
                pnames = act.param_names
                names += [layer] if len(pnames) == 1 else [f"{layer}.{p}" for p in pnames]
        return names


PRESETS: dict[str, ResNet1dConfig] = {
    # CPU / embedded, the shipped model: ~2.9 M multiply-accumulates per 2048-sample window.
    "small": ResNet1dConfig(),
    # GPU: wider and deeper, 4 stages.
    "base": ResNet1dConfig(
        stem_channels=32,
        stem_kernel=64,
        stem_stride=4,
        widths=(32, 64, 128, 256),
        depths=(2, 2, 2, 2),
        strides=(1, 2, 2, 2),
        dropout=0.1,
    ),
    # Physics-aware: envelope spectra on defect-frequency axes (17 × 128) in, the same residual stages after.
    "physics": ResNet1dConfig(
        frontend="defect_spectrum",
        stem_channels=32,
        stem_kernel=5,
        stem_stride=1,
        widths=(32, 48, 64),
        depths=(2, 2, 2),
        strides=(1, 2, 2),
        dropout=0.1,
    ),
}


def preset_config(name: str, **overrides: Any) -> ResNet1dConfig:
    """Config of preset ``name`` with ``overrides`` applied (e.g. ``activation="relu"``)."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; valid: {', '.join(PRESETS)}")
    known = {f.name for f in dataclasses.fields(ResNet1dConfig)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise ValueError(f"unknown ResNet1dConfig field(s) {unknown}; valid: {sorted(known)}")
    return dataclasses.replace(PRESETS[name], **overrides)


__all__ = ["PRESETS", "PreActBlock", "ResNet1d", "ResNet1dConfig", "preset_config"]
