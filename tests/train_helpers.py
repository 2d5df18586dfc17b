"""Shared settings for the training tests (imported by tests/test_train_*.py)."""

from __future__ import annotations

from pathlib import Path

from tests.data_helpers import HAS_CWRU, REAL_ROOT, needs_cwru

# A network and a data cut small enough that one CPU epoch on the real CWRU files takes a second or two.
TINY = [
    "data.hop=4096",
    "data.eval_hop=2048",
    "model.overrides={widths: [8, 8, 8], depths: [1, 1, 1], stem_channels: 8}",
    "batch_size=64",
    "optim.lr=0.01",
    "threads=1",
]


# `faultdx train` without --config trains the shipped recipe; the CLI tests pass this (the built-in defaults).
BASE_CONFIG = Path(__file__).with_name("base.train.yaml")


def tiny_overrides(out: Path, name: str, *extra: str) -> list[str]:
    """``--set`` items of a tiny real-CWRU run written to ``out/name``."""
    return [*TINY, f"out_dir={out}", f"name={name}", *extra]


__all__ = ["BASE_CONFIG", "HAS_CWRU", "REAL_ROOT", "TINY", "needs_cwru", "tiny_overrides"]
