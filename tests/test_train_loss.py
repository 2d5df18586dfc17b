"""The partial-label loss: class cross-entropy where the size is known, fault type elsewhere."""

from __future__ import annotations

import torch

from faultdx.data.base import CWRU_10_CLASSES, type_membership
from faultdx.train.losses import partial_label_loss, type_log_probs


def test_fault_type_probability_is_the_sum_of_its_classes():
    logits = torch.randn(4, 10)
    membership = torch.from_numpy(type_membership(CWRU_10_CLASSES))
    types = type_log_probs(logits, membership).exp()
    probs = logits.softmax(-1)
    torch.testing.assert_close(types[:, 0], probs[:, 0])  # normal
    torch.testing.assert_close(types[:, 2], probs[:, 4:7].sum(-1))  # inner race: its three sizes
    torch.testing.assert_close(types.sum(-1), torch.ones(4))


def test_a_model_without_a_normal_class_trains_with_finite_gradients():
    """9 fault classes (by-load protocol): normal has no class; its -inf must not turn gradients into NaN."""
    membership = torch.from_numpy(type_membership(CWRU_10_CLASSES[1:]))
    logits = torch.randn(6, 9, requires_grad=True)
    y = torch.tensor([0, 3, 5, -1, -1, 8])
    fault_type = torch.tensor([1, 2, 3, 2, 3, 3])
    loss = partial_label_loss(logits, y, fault_type, membership)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(logits.grad).all()


def test_known_classes_use_class_loss_and_unknown_sizes_the_type_loss():
    membership = torch.from_numpy(type_membership(CWRU_10_CLASSES))
    logits = torch.zeros(2, 10)
    logits[:, 4] = 5.0  # confident inner_race_007
    # both windows are inner-race faults; the first is labelled inner_race_014, the second only "inner race"
    loss_known = partial_label_loss(logits[:1], torch.tensor([5]), torch.tensor([2]), membership)
    loss_type = partial_label_loss(logits[1:], torch.tensor([-1]), torch.tensor([2]), membership)
    assert loss_known > 3.0  # wrong size: a large class loss
    assert loss_type < 0.1  # right type: nothing to learn
