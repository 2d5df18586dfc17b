"""One gate builder for APReLU, shrinkage and DY-ReLU: layouts, unchanged checkpoint keys and answers."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from faultdx.modeldir import load_model_dir, shipped_models_dir
from faultdx.nn import APReLU1d, make_activation
from faultdx.nn.dyrelu import DyReLU1d
from faultdx.nn.gates import se_gate
from tests.nn_helpers import tiny_model


def test_gate_layouts_of_the_three_activations():
    kinds = [type(m) for m in se_gate(8, 4, 6, out_norm=True)]
    assert kinds == [nn.Linear, nn.BatchNorm1d, nn.ReLU, nn.Linear, nn.BatchNorm1d, nn.Sigmoid]  # APReLU
    kinds = [type(m) for m in se_gate(8, 4, 8)]
    assert kinds == [nn.Linear, nn.BatchNorm1d, nn.ReLU, nn.Linear, nn.Sigmoid]  # shrinkage
    kinds = [type(m) for m in se_gate(8, 2, 4, hidden_norm=False, sigmoid=False)]
    assert kinds == [nn.Linear, nn.ReLU, nn.Linear]  # DY-ReLU's hyper function
    with pytest.raises(ValueError, match="widths"):
        se_gate(8, 0, 4)


@pytest.mark.parametrize(
    ("name", "keys"),
    [
        ("aprelu", ["gate.0.weight", "gate.0.bias", "gate.1.weight", "gate.3.weight", "gate.4.running_var"]),
        ("shrinkage", ["gate.0.weight", "gate.1.running_mean", "gate.3.weight", "gate.3.bias"]),
        ("dyrelu_b", ["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"]),
    ],
)
def test_checkpoint_keys_are_those_written_before_the_gate_was_shared(name, keys):
    state = make_activation(name, 8).state_dict()
    assert set(keys) <= set(state)
    assert not any(k.startswith("gate.") for k in state) or name != "dyrelu_b"


def test_dyrelu_checkpoint_with_the_old_names_loads_strictly_and_answers_the_same():
    torch.manual_seed(0)
    model = tiny_model("dyrelu_b")
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.3)  # non-trivial hyper functions
    state = model.state_dict()
    assert "stem.act.fc2.weight" in state and not any(".gate." in k for k in state)
    keys = list(state)
    fresh = tiny_model("dyrelu_b")
    fresh.load_state_dict(state, strict=True)
    assert list(fresh.state_dict()) == keys  # the same keys, in the same order
    x = torch.randn(3, 1, 512)
    model.eval(), fresh.eval()
    assert torch.equal(model(x), fresh(x))
    with pytest.raises(RuntimeError, match=r"stem\.act\.gate\.2\.bias"):  # a missing key is still refused
        fresh.load_state_dict({k: v for k, v in state.items() if k != "stem.act.fc2.bias"}, strict=True)


def test_dyrelu_fc_accessors_are_the_gate_layers():
    act = DyReLU1d(8, channel_wise=True)
    assert act.fc1 is act.gate[0] and act.fc2 is act.gate[2]
    assert torch.count_nonzero(act.fc2.weight) == 0  # untrained DY-ReLU == ReLU


def _alpha_by_hand(act: APReLU1d, x: torch.Tensor) -> torch.Tensor:
    """The paper's APReLU slope from the layer's saved tensors with functional ops (no nn.Sequential)."""
    s = {k: v for k, v in act.state_dict().items()}
    pos = torch.relu(x).mean(-1)
    h = F.linear(torch.cat([pos, x.mean(-1) - pos], 1), s["gate.0.weight"], s["gate.0.bias"])
    h = F.batch_norm(
        h, s["gate.1.running_mean"], s["gate.1.running_var"], s["gate.1.weight"], s["gate.1.bias"]
    )
    h = F.linear(torch.relu(h), s["gate.3.weight"], s["gate.3.bias"])
    h = F.batch_norm(
        h, s["gate.4.running_mean"], s["gate.4.running_var"], s["gate.4.weight"], s["gate.4.bias"]
    )
    return torch.sigmoid(h)


def test_shipped_model_slopes_equal_the_formula_exactly():
    loaded = load_model_dir(shipped_models_dir() / "hybrid-aprelu")
    model = loaded.model.eval()
    checked = 0
    inputs: dict[str, torch.Tensor] = {}
    for name, layer in model.named_modules():
        if isinstance(layer, APReLU1d):  # record what each layer is given (slopes bypass forward hooks)

            def recording(x, name=name, original=layer.forward_with_params):
                inputs[name] = x
                return original(x)

            layer.forward_with_params = recording
    g = torch.Generator().manual_seed(1)
    x = torch.randn(4, model.config.in_channels, loaded.meta.window, generator=g)
    context = torch.rand(4, 5, generator=g) if model.config.needs_context else None
    with torch.no_grad():
        _, slopes = model.forward_with_slopes(x, context)
        for name, features in inputs.items():
            assert torch.equal(slopes[name], _alpha_by_hand(model.get_submodule(name), features)), name
            checked += 1
    assert checked == len(slopes) >= 5
