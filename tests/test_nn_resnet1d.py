"""ResNet1d: config validation and JSON round trip, presets, shapes, determinism, slope introspection."""

from __future__ import annotations

import json

import pytest
import torch

from faultdx.nn import PRESETS, ResNet1d, ResNet1dConfig, preset_config
from faultdx.nn.aprelu import APReLU1d
from tests.nn_helpers import tiny_model


def test_config_json_round_trip_and_unknown_keys():
    config = preset_config("small", activation="shrinkage", activation_options={"reduction": 2})
    restored = ResNet1dConfig.from_dict(json.loads(json.dumps(config.to_dict())))
    assert restored == config
    assert isinstance(restored.widths, tuple)
    with pytest.raises(ValueError, match="unknown ResNet1dConfig field.*'width'"):
        ResNet1dConfig.from_dict({**config.to_dict(), "width": 3})


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"num_classes": 1}, "num_classes"),
        ({"in_channels": 0}, "in_channels"),
        ({"kernel_size": 4}, "kernel_size"),
        ({"widths": (8, 16), "depths": (1,)}, "widths"),
        ({"activation": "nope"}, "unknown activation 'nope'"),
        ({"dropout": 1.5}, "dropout"),
    ],
)
def test_invalid_config_names_the_field(overrides, field):
    with pytest.raises(ValueError, match=field):
        preset_config("small", **overrides)


def test_presets_and_unknown_preset():
    assert {"small", "base"} <= set(PRESETS)
    with pytest.raises(ValueError, match="unknown preset 'huge'.*small.*base"):
        preset_config("huge")
    assert preset_config("base", num_classes=4).num_classes == 4
    assert PRESETS["small"].num_classes == 10  # overrides never mutate the table


@pytest.mark.parametrize("length", [2048, 2047, 1001, 333, 64])
@pytest.mark.parametrize("in_channels", [1, 2])
def test_output_shape_for_several_lengths(length, in_channels):
    model = tiny_model("relu", in_channels=in_channels).eval()
    with torch.no_grad():
        assert model(torch.randn(3, in_channels, length)).shape == (3, 4)


def test_presets_run_on_a_window():
    context = torch.tensor([[0.0025, 0.0089, 0.0135, 0.0059, 0.001]]).expand(2, 5)
    for name in PRESETS:
        model = ResNet1d(preset_config(name)).eval()
        with torch.no_grad():
            assert model(torch.randn(2, 1, 2048), context).shape == (2, 10)


def test_physics_network_needs_the_context_and_reads_defect_lines():
    model = ResNet1d(preset_config("physics")).eval()
    with pytest.raises(ValueError, match="context vector"):
        model(torch.randn(2, 1, 2048))
    with pytest.raises(ValueError, match=r"context must be \[N=2, 5\]"):
        model(torch.randn(2, 1, 2048), torch.zeros(2, 4))
    # the same window read with another bearing's context gives other features, hence other logits
    x = torch.randn(1, 1, 2048)
    a = model(x, torch.tensor([[0.0025, 0.0089, 0.0135, 0.0059, 0.001]]))
    b = model(x, torch.tensor([[0.0021, 0.0068, 0.0100, 0.0044, 0.0008]]))
    assert not torch.allclose(a, b)


def test_wrong_input_shape_is_a_value_error():
    model = tiny_model("relu").eval()
    with pytest.raises(ValueError, match=r"\[N, 1, T\]"):
        model(torch.randn(3, 2, 512))
    with pytest.raises(ValueError, match=r"\[N, 1, T\]"):
        model(torch.randn(3, 512))


def test_eval_mode_is_deterministic():
    model = tiny_model("aprelu").eval()
    x = torch.randn(4, 1, 700)
    with torch.no_grad():
        torch.testing.assert_close(model(x), model(x), atol=0, rtol=0)


def test_forward_with_slopes_names_shapes_and_same_logits():
    model = tiny_model("aprelu").eval()
    x = torch.randn(3, 1, 512)
    with torch.no_grad():
        logits, slopes = model.forward_with_slopes(x)
        torch.testing.assert_close(logits, model(x))
    expected = ["stem.act", "stage1.block1.act1", "stage1.block1.act2", "stage2.block1.act1",
                "stage2.block1.act2", "head.act"]  # fmt: skip
    assert list(slopes) == expected == model.slope_names()
    for name, alpha in slopes.items():
        module = model.get_submodule(name)
        assert isinstance(module, APReLU1d)
        assert alpha.shape == (3, module.channels)


def test_slopes_of_other_activations():
    x = torch.randn(2, 1, 512)
    with torch.no_grad():
        assert tiny_model("relu").eval().forward_with_slopes(x)[1] == {}
        assert tiny_model("prelu").eval().slope_names() == []
        shrink = tiny_model("shrinkage").eval().forward_with_slopes(x)[1]
        assert list(shrink)[:2] == ["stem.act", "stage1.block1.act1"]
        dy = tiny_model("dyrelu_b").eval()
        keys = list(dy.forward_with_slopes(x)[1])
        assert keys[:4] == ["stem.act.a1", "stem.act.b1", "stem.act.a2", "stem.act.b2"]
        assert keys == dy.slope_names()


def test_slopes_leave_no_state_on_modules():
    model = tiny_model("aprelu").eval()
    before = {name: set(vars(m)) | set(m._buffers) for name, m in model.named_modules()}
    state = {k: v.clone() for k, v in model.state_dict().items()}
    with torch.no_grad():
        model.forward_with_slopes(torch.randn(2, 1, 512))
    assert before == {name: set(vars(m)) | set(m._buffers) for name, m in model.named_modules()}
    for k, v in model.state_dict().items():
        assert torch.equal(v, state[k]), k
