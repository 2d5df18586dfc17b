"""Losses over class logits when some windows are labelled only by fault type (simulated machines, other
rigs): a fault type's probability is the sum of its classes' (``membership [K, 4]``)."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def type_log_probs(logits: torch.Tensor, membership: torch.Tensor) -> torch.Tensor:
    """Log-probability of each fault type ``[N, 4]``: log of the summed probabilities of its classes.

    A type with no class (normal in a 9-class model) gets a log-probability near -1e4, not -inf: a
    logsumexp over nothing but -inf has a NaN gradient, which would poison the weights even where unused.
    """
    log_p = torch.log_softmax(logits.float(), dim=-1)  # [N, K]
    absent = torch.where(membership > 0, 0.0, -1e4)  # [K, 4]
    return torch.logsumexp(log_p[:, :, None] + absent[None], dim=1)


def partial_label_loss(
    logits: torch.Tensor, y: torch.Tensor, fault_type: torch.Tensor, membership: torch.Tensor,
    label_smoothing: float = 0.0,
) -> torch.Tensor:
    """Cross-entropy on the class where it is known (``y >= 0``), on the fault type elsewhere."""
    known = y >= 0
    per_window = -type_log_probs(logits, membership).gather(1, fault_type[:, None])[:, 0]
    if known.any():
        class_loss = F.cross_entropy(logits.float()[known], y[known], label_smoothing=label_smoothing,
                                     reduction="none")
        per_window = per_window.masked_scatter(known, class_loss)
    return per_window.mean()
