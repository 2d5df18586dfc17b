"""Torch's thread count for a block of a test: the one implementation behind the ``one_torch_thread``
fixture (tests/conftest.py) and module fixtures that load models (tests/service_support.py re-exports it)."""

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
