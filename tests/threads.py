"""Torch's thread count for a block: the one implementation behind the session-wide ``_one_torch_thread``
fixture (tests/conftest.py)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator


@contextlib.contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Run torch on ``n`` threads inside the block, as it was afterwards (tests share 2 cores with servers
    and each other; two threads crawl there)."""
    import torch

    old = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)
