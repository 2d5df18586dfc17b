"""Sample budgets of one file or request: the defaults every reader, route and setting starts from.

The lowest layer: the readers (:mod:`faultdx.data.readers`) check them before decoding, and
:mod:`faultdx.settings` offers them as the defaults of ``FAULTDX_MAX_SAMPLES`` / ``FAULTDX_MAX_CHANNELS``.
"""

from __future__ import annotations

MAX_SAMPLES = 1 << 22  # 4,194,304 samples after decoding (all channels): 16 MB as float32
MAX_CHANNELS = 16  # channels read from one file

__all__ = ["MAX_CHANNELS", "MAX_SAMPLES"]
