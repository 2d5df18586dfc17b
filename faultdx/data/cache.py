"""Decoded-array cache: .npy files under ``faultdx.paths.cache_dir()``, keyed by the source file's identity.

Decoding a MAT file and resampling it costs far more than reading a .npy; the cache makes every read after
the first one cheap. Keys include the source's size and mtime, so a replaced file is decoded again. Writes are
atomic (:func:`faultdx.atomic.save_npy_atomic`), so concurrent readers never see half a file.
"""

from __future__ import annotations

import contextlib
import threading
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path

import numpy as np

from faultdx.atomic import save_npy_atomic
from faultdx.paths import cache_dir

MEMO_BYTES = 1 << 30  # in-process memo of decoded arrays: at most 1 GiB (the 12 kHz CWRU set is 18 MB)
_memo: OrderedDict[str, np.ndarray] = OrderedDict()
_memo_lock = threading.Lock()  # the service may load datasets from several threads


def source_key(path: Path) -> str:
    """Identity of a source file: name, size and modification time (ns)."""
    st = path.stat()
    return f"{path.stem}-{st.st_size}-{st.st_mtime_ns}"


def _remember(path: str, array: np.ndarray) -> np.ndarray:
    """Keep ``array`` in the in-process memo (read-only: every caller shares it); evict the oldest."""
    array.flags.writeable = False
    with _memo_lock:
        _memo[path] = array
        total = sum(a.nbytes for a in _memo.values())
        while total > MEMO_BYTES and len(_memo) > 1:
            total -= _memo.popitem(last=False)[1].nbytes
    return array


def cached_array(namespace: str, key: str, compute: Callable[[], np.ndarray]) -> np.ndarray:
    """Return the cached array for ``namespace/key``, computing and storing it on a miss.

    Two levels: an in-process memo (so a second ``recordings()`` call costs nothing) over the .npy files. The
    returned array is read-only. A cache that cannot be written (read-only home, full disk) is not an error:
    the computed array is still returned.
    """
    path = cache_dir() / namespace / f"{key}.npy"
    with _memo_lock:
        hit = _memo.get(str(path))
        if hit is not None:
            _memo.move_to_end(str(path))
    if hit is not None:
        return hit
    if path.is_file():
        try:
            return _remember(str(path), np.load(path, allow_pickle=False))
        except (OSError, ValueError):
            path.unlink(missing_ok=True)
    array = np.ascontiguousarray(compute())
    with contextlib.suppress(OSError):
        save_npy_atomic(path, array)
    return _remember(str(path), array)
