"""The one batched forward helper: batches equal one pass, slopes and features on request, no gradients."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from faultdx.nn.inference import NetworkCalls, batched_forward, forward_batches
from tests.nn_helpers import tiny_model


@pytest.fixture(scope="module")
def model() -> torch.nn.Module:
    torch.manual_seed(0)
    return tiny_model().eval()


def windows(n: int) -> np.ndarray:
    return np.random.default_rng(1).standard_normal((n, 1, 512)).astype(np.float32)


def test_batches_give_the_answers_of_one_pass(model) -> None:
    x = windows(11)
    with torch.inference_mode():
        whole, features = model.forward_with_features(torch.from_numpy(x), None)
    out = batched_forward(model, x, None, batch_size=4, features=True)
    assert out.logits.shape == (11, 4) and out.logits.dtype == torch.float32
    torch.testing.assert_close(out.logits, whole, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(out.features, features, rtol=1e-5, atol=1e-5)
    assert out.slopes == {}
    assert [len(b.logits) for b in forward_batches(model, x, None, batch_size=4)] == [4, 4, 3]


def test_slopes_and_features_together_match_their_own_passes(model) -> None:
    x = torch.from_numpy(windows(5))
    out = batched_forward(model, x, None, batch_size=2, slopes=True, features=True)
    with torch.inference_mode():
        logits, slopes = model.forward_with_slopes(x, None)
        _, features = model.forward_with_features(x, None)
    assert slopes and out.slopes.keys() == slopes.keys()
    for name, values in slopes.items():
        torch.testing.assert_close(out.slopes[name], values.float(), rtol=1e-5, atol=1e-5)
        assert out.slopes[name].shape[0] == 5
    torch.testing.assert_close(out.logits, logits, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(out.features, features, rtol=1e-5, atol=1e-5)


def test_prepare_sees_each_batch_and_its_rows(model) -> None:
    x = windows(7)
    seen = []

    def prepare(batch: torch.Tensor, rows: slice) -> torch.Tensor:
        seen.append((rows.start, len(batch)))
        return batch * 0.0  # every window silenced: all logits equal

    out = batched_forward(model, x, None, batch_size=3, prepare=prepare)
    assert seen == [(0, 3), (3, 3), (6, 1)]
    torch.testing.assert_close(out.logits, out.logits[:1].expand(7, -1))


def test_no_gradient_mode_is_left_before_each_yield(model) -> None:
    for out in forward_batches(model, windows(4), None, batch_size=2):
        assert torch.is_grad_enabled() and not torch.is_inference_mode_enabled()
        assert not out.logits.requires_grad


def test_empty_input_has_outputs_of_their_width(model) -> None:
    out = batched_forward(model, windows(0), None, batch_size=8)
    assert out.logits.shape == (0, 4)


def test_a_missing_forward_is_refused_by_name(model) -> None:
    with pytest.raises(ValueError, match="forward_with_features"):
        batched_forward(NetworkCalls(model), windows(2), None, batch_size=2, features=True)


def test_slopes_and_features_together_take_one_pass() -> None:
    net = tiny_model("aprelu").eval()
    calls = NetworkCalls.of(net)
    assert calls.with_slopes_and_features is not None
    counted = []
    stem = net.stem
    original = stem.forward

    def counting(*args, **kwargs):
        counted.append(1)
        return original(*args, **kwargs)

    stem.forward = counting
    x = windows(5)
    both = batched_forward(calls, x, None, batch_size=8, slopes=True, features=True)
    assert len(counted) == 1  # one pass over the stem for logits, slopes and features
    slopes_only = batched_forward(calls, x, None, batch_size=8, slopes=True)
    features_only = batched_forward(calls, x, None, batch_size=8, features=True)
    assert torch.equal(both.logits, slopes_only.logits)
    assert both.slopes.keys() == slopes_only.slopes.keys()
    assert all(torch.equal(both.slopes[k], slopes_only.slopes[k]) for k in both.slopes)
    assert torch.equal(both.features, features_only.features)
    two_pass = NetworkCalls(net, net.forward_with_slopes, net.forward_with_features)
    counted.clear()
    batched_forward(two_pass, x, None, batch_size=8, slopes=True, features=True)
    assert len(counted) == 2  # without the combined call: two passes
