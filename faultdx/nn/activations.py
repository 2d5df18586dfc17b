"""The activation registry: one place that maps a name to a layer ``make_activation(name, channels)``.

Every activation takes the channel count first (element-wise ones ignore it). Activations with per-sample
parameters (APReLU slopes, DY-ReLU coefficients, shrinkage thresholds) also expose
``forward_with_params(x) -> (y, tuple of [N, C] tensors)`` and a ``param_names`` tuple naming those tensors;
:class:`faultdx.nn.resnet1d.ResNet1d` calls it only when asked for them, so ``forward`` pays nothing.
"""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from faultdx.nn.aprelu import APReLU1d
from faultdx.nn.dyrelu import DyReLU1d
from faultdx.nn.shrinkage import SoftShrinkage1d


def _elementwise(factory: Callable[[], nn.Module]) -> Callable[..., nn.Module]:
    def build(channels: int) -> nn.Module:
        return factory()

    return build


_REGISTRY: dict[str, Callable[..., nn.Module]] = {
    "relu": _elementwise(nn.ReLU),
    "leaky_relu": _elementwise(lambda: nn.LeakyReLU(0.01)),
    "prelu": lambda channels: nn.PReLU(channels),  # channel-wise slopes, shared by all samples
    "elu": _elementwise(nn.ELU),
    "selu": _elementwise(nn.SELU),
    "gelu": _elementwise(nn.GELU),
    "aprelu": APReLU1d,
    "dyrelu_a": lambda channels, **options: DyReLU1d(channels, channel_wise=False, **options),
    "dyrelu_b": lambda channels, **options: DyReLU1d(channels, channel_wise=True, **options),
    "shrinkage": SoftShrinkage1d,
}


def activation_names() -> list[str]:
    """Every registered activation name."""
    return list(_REGISTRY)


def check_activation_name(name: str) -> str:
    """Return ``name`` if registered, else raise ``ValueError`` listing the valid names."""
    if name not in _REGISTRY:
        raise ValueError(f"unknown activation {name!r}; valid: {', '.join(_REGISTRY)}")
    return name


def make_activation(name: str, channels: int, **options: object) -> nn.Module:
    """Build activation ``name`` for ``channels`` channels; ``options`` go to its constructor."""
    factory = _REGISTRY[check_activation_name(name)]
    try:
        return factory(channels, **options)
    except TypeError as err:
        raise ValueError(f"activation {name!r} does not accept options {sorted(options)}: {err}") from err


def has_params(module: nn.Module) -> bool:
    """Whether ``module`` exposes per-sample parameters through ``forward_with_params``."""
    return hasattr(module, "forward_with_params")
