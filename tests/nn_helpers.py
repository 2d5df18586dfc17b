"""Small shared builders for the networks tests (not a conftest: imported explicitly)."""

from __future__ import annotations

from faultdx.nn import ResNet1d, preset_config


def tiny_model(activation: str = "aprelu", **overrides: object) -> ResNet1d:
    """A two-stage, few-channel ResNet1d: same code paths as the presets, a fraction of the cost."""
    options = {"stem_channels": 8, "widths": (8, 16), "depths": (1, 1), "strides": (2, 2), "num_classes": 4}
    options.update(overrides)
    return ResNet1d(preset_config("small", activation=activation, **options))
