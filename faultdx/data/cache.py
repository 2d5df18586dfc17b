"""Decoded-array cache: .npy files under ``faultdx.paths.cache_dir()``, keyed by the source file's identity.

Decoding a MAT file and resampling it costs far more than reading a .npy; the cache makes every read after
the first one cheap. Keys include the source's size and mtime, so a replaced file is decoded again. Writes are
atomic (temp file in the same folder, fsync, ``os.replace``), so concurrent readers never see half a file.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path

import numpy as np

from faultdx.paths import cache_dir

MEMO_BYTES = 1 << 30  # in-process memo of decoded arrays: at most 1 GiB (the 12 kHz CWRU set is 18 MB)
_memo: OrderedDict[str, np.ndarray] = OrderedDict()
_memo_lock = threading.Lock()  # the service may load datasets from several threads


def source_key(path: Path) -> str:
    """Identity of a source file: name, size and modification time (ns)."""
    st = path.stat()
    return f"{path.stem}-{st.st_size}-{st.st_mtime_ns}"


def atomic_save_npy(path: Path, array: np.ndarray) -> None:
    """Write ``array`` to ``path`` atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            np.save(f, array, allow_pickle=False)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


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
        atomic_save_npy(path, array)
    return _remember(str(path), array)
