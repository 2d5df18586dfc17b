"""APReLU1d: the paper's formula, slope range, per-sample slopes, eval-mode batch independence."""

from __future__ import annotations

import pytest
import torch

from faultdx.nn import APReLU1d
from tests.nn_helpers import tiny_model


def _trained_like(channels: int = 6) -> APReLU1d:
    """An APReLU whose gate has non-trivial weights and running statistics, in eval mode."""
    torch.manual_seed(0)
    act = APReLU1d(channels)
    act.train()
    for _ in range(5):  # populate running stats with varied batches
        act(torch.randn(16, channels, 50) * torch.rand(16, channels, 1) * 3)
    return act.eval()


def test_output_is_identity_for_positive_and_alpha_times_x_for_negative():
    act = _trained_like()
    x = torch.randn(4, 6, 100)
    y, (alpha,) = act.forward_with_params(x)
    pos = x >= 0
    torch.testing.assert_close(y[pos], x[pos])
    expected_neg = (alpha.unsqueeze(-1) * x).expand_as(x)[~pos]
    torch.testing.assert_close(y[~pos], expected_neg)
    torch.testing.assert_close(act(x), y)


def test_alpha_strictly_between_zero_and_one_and_per_sample():
    act = _trained_like()
    x = torch.randn(8, 6, 64)
    x[1] *= 5.0  # a very different sample
    x[2] = x[2].abs()  # no negative part at all
    _, (alpha,) = act.forward_with_params(x)
    assert alpha.shape == (8, 6)
    assert bool(((alpha > 0) & (alpha < 1)).all())
    assert not torch.allclose(alpha[0], alpha[1], atol=1e-4)
    assert not torch.allclose(alpha[0], alpha[2], atol=1e-4)


def test_reduction_sets_hidden_width_and_bad_values_fail():
    assert APReLU1d(16).gate[0].out_features == 16  # the paper's hidden width C
    assert APReLU1d(16, reduction=4).gate[0].out_features == 4
    assert APReLU1d(16).gate[0].in_features == 32  # GAP of positive and negative parts, concatenated
    with pytest.raises(ValueError, match="reduction"):
        APReLU1d(16, reduction=0)


def test_batch_of_one_equals_same_sample_inside_a_batch_in_eval_mode():
    model = tiny_model("aprelu")
    model.train()
    with torch.no_grad():
        for _ in range(3):
            model(torch.randn(8, 1, 512))
    model.eval()
    x = torch.randn(6, 1, 512)
    with torch.no_grad():
        logits_b, slopes_b = model.forward_with_slopes(x)
        logits_1, slopes_1 = model.forward_with_slopes(x[3:4])
    torch.testing.assert_close(logits_1, logits_b[3:4], atol=1e-5, rtol=1e-5)
    for name, value in slopes_1.items():
        torch.testing.assert_close(value, slopes_b[name][3:4], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("activation", ["aprelu", "dyrelu_b", "shrinkage"])
def test_runs_under_cpu_autocast_bf16(activation):
    model = tiny_model(activation).eval()
    x = torch.randn(3, 1, 512)
    with torch.no_grad():
        want = model(x)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            logits, slopes = model.forward_with_slopes(x)
    assert torch.isfinite(logits.float()).all()
    torch.testing.assert_close(logits.float(), want, atol=0.1, rtol=0.05)  # bf16 keeps ~3 digits
    if activation == "aprelu":
        assert all(bool(((s > 0) & (s < 1)).all()) for s in slopes.values())
