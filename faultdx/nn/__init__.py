"""Networks: the APReLU activation, its comparison activations, and the 1D deep residual network."""

from faultdx.nn.activations import activation_names, make_activation
from faultdx.nn.aprelu import APReLU1d
from faultdx.nn.resnet1d import PRESETS, ResNet1d, ResNet1dConfig, preset_config

__all__ = [
    "PRESETS",
    "APReLU1d",
    "ResNet1d",
    "ResNet1dConfig",
    "activation_names",
    "make_activation",
    "preset_config",
]
