"""Decoded-array cache: .npy files under ``faultdx.paths.cache_dir()``, keyed by the source file's identity.

Decoding a MAT file and resampling it costs far more than reading a .npy; the cache makes every read after
the first one cheap. Keys include the source's size and mtime, so a replaced file is decoded again. Writes are
atomic (temp file in the same folder, fsync, ``os.replace``), so concurrent readers never see half a file.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from faultdx.paths import cache_dir


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


def cached_array(namespace: str, key: str, compute: Callable[[], np.ndarray]) -> np.ndarray:
    """Return the cached array for ``namespace/key``, computing and storing it on a miss.

    Hits come back memory-mapped read-only (no copy until used). A cache that cannot be written (read-only
    home, full disk) is not an error: the computed array is still returned.
    """
    path = cache_dir() / namespace / f"{key}.npy"
    if path.is_file():
        try:
            return np.load(path, mmap_mode="r", allow_pickle=False)
        except (OSError, ValueError):
            path.unlink(missing_ok=True)
    array = compute()
    with contextlib.suppress(OSError):
        atomic_save_npy(path, array)
    return array
