"""The activation registry, DY-ReLU, shrinkage, and gradient flow for every activation."""

from __future__ import annotations

import pytest
import torch

from faultdx.nn import activation_names, make_activation
from faultdx.nn.dyrelu import DyReLU1d
from faultdx.nn.shrinkage import SoftShrinkage1d
from tests.nn_helpers import tiny_model

CONTRACT_NAMES = [
    "relu", "leaky_relu", "prelu", "elu", "selu", "gelu", "aprelu", "dyrelu_a", "dyrelu_b", "shrinkage",
]  # fmt: skip


def test_registry_has_exactly_the_contract_names():
    assert activation_names() == CONTRACT_NAMES


@pytest.mark.parametrize("name", CONTRACT_NAMES)
def test_every_activation_takes_channels_and_keeps_shape(name):
    act = make_activation(name, 5).eval()
    x = torch.randn(3, 5, 17)
    assert act(x).shape == x.shape


def test_unknown_activation_lists_valid_names():
    with pytest.raises(ValueError, match="unknown activation 'swish'.*relu.*aprelu.*shrinkage"):
        make_activation("swish", 4)


def test_bad_options_are_a_value_error():
    with pytest.raises(ValueError, match="relu"):
        make_activation("relu", 4, reduction=2)
    assert make_activation("aprelu", 8, reduction=2).gate[0].out_features == 4


@pytest.mark.parametrize("name", ["dyrelu_a", "dyrelu_b"])
def test_dyrelu_at_initialisation_equals_relu(name):
    torch.manual_seed(0)
    act = make_activation(name, 6)
    x = torch.randn(4, 6, 33) * 3
    y, (a1, b1, a2, b2) = act.forward_with_params(x)
    assert torch.equal(y, torch.relu(x))
    assert torch.equal(a1, torch.ones(4, 6)) and torch.equal(a2, torch.zeros(4, 6))
    assert torch.equal(b1, torch.zeros(4, 6)) and torch.equal(b2, torch.zeros(4, 6))


@pytest.mark.parametrize("channel_wise", [False, True])
def test_dyrelu_coefficients_follow_the_paper_ranges_and_sharing(channel_wise):
    torch.manual_seed(0)
    act = DyReLU1d(16, channel_wise=channel_wise)
    torch.nn.init.normal_(act.fc2.weight, std=3.0)
    x = torch.randn(5, 16, 40) + torch.randn(5, 16, 1)  # samples with different channel means
    y, (a1, b1, a2, b2) = act.forward_with_params(x)
    assert a1.min() >= 0 and a1.max() <= 2  # 1 + λa·[-1, 1], λa = 1
    assert a2.min() >= -1 and a2.max() <= 1
    assert b1.min() >= -0.5 and b1.max() <= 0.5  # λb = 0.5
    expected = torch.maximum(x * a1[..., None] + b1[..., None], x * a2[..., None] + b2[..., None])
    torch.testing.assert_close(y, expected)
    per_channel_spread = (a1 - a1[:, :1]).abs().max()
    assert (per_channel_spread > 1e-4) == channel_wise  # A shares across channels, B does not
    assert not torch.allclose(a1[0], a1[1])  # per-sample


def test_shrinkage_is_soft_thresholding_with_bounded_threshold():
    torch.manual_seed(0)
    act = SoftShrinkage1d(4).eval()
    x = torch.randn(3, 4, 50)
    y, (tau,) = act.forward_with_params(x)
    assert tau.shape == (3, 4)
    magnitude = x.abs().mean(-1)
    assert bool((tau > 0).all()) and bool((tau < magnitude).all())
    expected = torch.sign(x) * torch.clamp(x.abs() - tau[..., None], min=0)
    torch.testing.assert_close(y, expected)
    assert bool((y[x.abs() < tau[..., None]] == 0).all())


@pytest.mark.parametrize("name", CONTRACT_NAMES)
def test_backward_reaches_every_parameter(name):
    torch.manual_seed(0)
    model = tiny_model(name).train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    x, target = torch.randn(6, 1, 256), torch.randint(0, 4, (6,))
    # Two steps: DY-ReLU's zero-initialised last FC blocks its first FC's gradient until it has moved once.
    for _ in range(2):
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(model(x), target).backward()
        optimizer.step()
    for pname, p in model.named_parameters():
        assert p.grad is not None, f"{name}: no gradient reached {pname}"
        assert torch.isfinite(p.grad).all(), f"{name}: non-finite gradient in {pname}"
        assert p.grad.abs().sum() > 0, f"{name}: zero gradient in {pname}"
