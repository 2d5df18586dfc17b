"""Atomic writes: the one place faultdx replaces a file or a directory.

Files are written under a temporary name in the same folder (``.NAME.<token>.tmp<suffix>``), fsynced,
``os.replace``-d over the target, and the folder is fsynced: a reader, or a run killed at any instant, sees
the old file or the new one, never a mix.

Directories (model directories, training state) are assembled in ``.NAME.<token>.tmp`` with every file
fsynced, then exchanged with the target in one step by ``renameat2(RENAME_EXCHANGE)`` (Linux >= 3.15, glibc
>= 2.28), so ``NAME`` names the complete old directory or the complete new one at every instant. The
swapped-out old copy, now under the staging name, is then deleted. Where the exchange is unavailable (another
OS, or a filesystem that refuses it such as NFS) the fallback is two renames: the target moves aside to
``.NAME.<token>.old``, the staging directory moves in. Between the two a reader finds no ``NAME``, and a crash
there leaves the complete old copy in ``.old``, which recovery renames back. (A symlink flip was rejected: it
turns every model directory, tracked ones included, into a link to a hidden folder, and still cannot replace
an existing real directory in one step.)

Recovery (:func:`recover`, run by every write and by loads and ``--resume``) recognises the siblings a
writer killed part-way leaves behind by their names; the name is the completeness marker, set by an atomic
rename, so no marker file ends up inside model directories:

* ``.NAME.<token>.tmp``: partial or never committed (or the swapped-out old copy): deleted;
* ``.NAME.<token>.old``: a complete former ``NAME``: renamed back when ``NAME`` is missing, else deleted;
* ``.NAME.<token>.trash``: being deleted: deleted.

A sibling is stranded only when its writer is gone: each writer holds an ``flock`` on its staging entry for
its lifetime (the kernel drops it when the process dies), and creation, commit and recovery run under an
``flock`` on the parent folder.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import os
import re
import secrets
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

__all__ = [
    "atomic_directory",
    "atomic_file",
    "commit_file",
    "fsync_file",
    "recover",
    "save_npy_atomic",
    "write_bytes_atomic",
    "write_text",
    "write_text_atomic",
]

RENAME_EXCHANGE = 2  # linux/fs.h
_AT_FDCWD = -100
_TOKEN = r"[0-9a-f]{16}-[0-9a-f]{6}"
_LEGACY_TOKEN = r"[a-z0-9_]{8}"  # tempfile.mkdtemp names of faultdx <= 0.1 (an old copy sat in .old/NAME)


class ExchangeUnsupported(OSError):
    """``renameat2(RENAME_EXCHANGE)`` is not available for these paths (OS, libc or filesystem)."""


# -- directories ---------------------------------------------------------------------------------------------


@contextlib.contextmanager
def atomic_directory(target: str | Path) -> Iterator[Path]:
    """Yield an empty staging directory next to ``target``; when the block succeeds it replaces ``target``
    as a whole (see the module docstring). Files written into it must be fsynced (:func:`write_text`,
    :func:`fsync_file`). On an exception the staging directory is removed and ``target`` is untouched."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging, fd = _create_owned(target, directory=True)
    committed = False
    try:
        yield staging
        _fsync_path(staging)
        with _folder_lock(target.parent):
            _commit_directory(staging, target)
        committed = True
    finally:
        if not committed:
            _remove(staging)
        os.close(fd)
    _sweep(target)


def recover(target: str | Path) -> None:
    """Clean up after writers of ``target`` that died part-way: delete their stranded ``.tmp``/``.trash``
    siblings and their ``.old`` copies, renaming the newest ``.old`` back first when ``target`` is missing.
    Siblings whose writer is still running are left alone."""
    target = Path(target)
    if target.parent.is_dir():
        with _folder_lock(target.parent):
            _recover(target)


def _commit_directory(staging: Path, target: Path) -> None:
    if not os.path.lexists(target):
        os.rename(staging, target)
        _fsync_path(target.parent)
        return
    try:
        _exchange(staging, target)
    except ExchangeUnsupported:
        _swap_by_two_renames(staging, target)
        return
    _fsync_path(target.parent)
    _remove(staging, name=target.name)  # the staging name now holds the old copy


def _swap_by_two_renames(staging: Path, target: Path) -> None:
    """The fallback where no exchange exists: a gap without ``target`` that :func:`recover` closes."""
    old = _sibling(target, "old")
    os.rename(target, old)
    try:
        os.rename(staging, target)
    except BaseException:
        os.rename(old, target)
        raise
    _fsync_path(target.parent)
    _remove(old, name=target.name)


def _exchange(a: Path, b: Path) -> None:
    """Swap the entries ``a`` and ``b`` in one step; :class:`ExchangeUnsupported` where that is impossible."""
    renameat2 = _renameat2()
    if renameat2 is None:
        raise ExchangeUnsupported(errno.ENOSYS, "renameat2 is not available", str(a))
    if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), RENAME_EXCHANGE) == 0:
        return
    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
        raise ExchangeUnsupported(code, os.strerror(code), str(a), None, str(b))
    raise OSError(code, os.strerror(code), str(a), None, str(b))


_libc_renameat2: object = ...


def _renameat2():
    """libc's ``renameat2`` (None where libc has none), looked up once."""
    global _libc_renameat2
    if _libc_renameat2 is ...:
        try:
            function = ctypes.CDLL(None, use_errno=True).renameat2
        except (AttributeError, OSError):
            function = None
        else:
            function.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
            function.restype = ctypes.c_int
        _libc_renameat2 = function
    return _libc_renameat2


def _recover(target: Path) -> None:
    """:func:`recover` with the folder lock held."""
    stranded = [entry for entry in _siblings(target) if _abandoned(entry[0])]
    if not os.path.lexists(target):
        copies = sorted((token, path) for path, token, state in stranded if state == "old")
        if copies:
            token, path = copies[-1]
            source = path / target.name if re.fullmatch(_LEGACY_TOKEN, token) else path
            os.rename(source, target)
            _fsync_path(target.parent)
    for path, _token, _state in stranded:
        _remove(path, name=target.name)


def _sweep(target: Path) -> None:
    """Recovery after a successful write; the write stands even where someone else's leftovers cannot be
    removed (e.g. another user's, in a shared folder)."""
    with contextlib.suppress(OSError):
        recover(target)


def _siblings(target: Path) -> list[tuple[Path, str, str]]:
    """``(path, token, state)`` of every staging, old or trash entry of ``target`` in its folder."""
    pattern = re.compile(
        rf"\.{re.escape(target.name)}\.(?P<token>{_TOKEN}|{_LEGACY_TOKEN})\.(?P<state>tmp|old|trash)(\.[^.]*)?"
    )
    found = []
    with os.scandir(target.parent) as entries:
        for entry in entries:
            match = pattern.fullmatch(entry.name)
            if match:
                found.append((Path(entry.path), match["token"], match["state"]))
    return found


# -- files ---------------------------------------------------------------------------------------------------


@contextlib.contextmanager
def atomic_file(path: str | Path, *, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path next to ``path`` for a writer that wants a file name (matplotlib, the ONNX
    exporter, ``np.savetxt``); when the block succeeds that file is fsynced and replaces ``path``.

    The temporary name ends with ``suffix`` (default: ``path``'s own), for writers that pick a format from it.
    On an exception it is removed and ``path`` is untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp, fd = _create_owned(path, directory=False, suffix=path.suffix if suffix is None else suffix)
    committed = False
    try:
        yield tmp
        commit_file(tmp, path)
        committed = True
    finally:
        if not committed:
            tmp.unlink(missing_ok=True)
        os.close(fd)
    _sweep(path)


def commit_file(source: str | Path, target: str | Path) -> None:
    """Move the finished file ``source`` over ``target`` in one step, durably (fsync file, rename, fsync
    folder). ``source`` must be in the same folder; e.g. a verified download's ``.part`` file."""
    fsync_file(source)
    os.replace(source, target)
    _fsync_path(Path(target).parent)


def write_bytes_atomic(path: str | Path, data: bytes) -> None:
    """Replace the file at ``path`` with ``data`` atomically."""
    with atomic_file(path) as tmp:
        tmp.write_bytes(data)


def write_text_atomic(path: str | Path, text: str) -> None:
    """Replace the file at ``path`` with ``text`` (UTF-8) atomically."""
    write_bytes_atomic(path, text.encode("utf-8"))


def save_npy_atomic(path: str | Path, array: np.ndarray) -> None:
    """Replace the file at ``path`` with ``array`` in ``.npy`` format (no pickles) atomically."""
    import numpy as np

    with atomic_file(path) as tmp, tmp.open("wb") as fh:
        np.save(fh, array, allow_pickle=False)


def write_text(path: str | Path, text: str) -> None:
    """Write ``text`` to ``path`` and fsync it: for a file inside :func:`atomic_directory` (a lone file
    wants :func:`write_text_atomic`)."""
    with Path(path).open("w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())


def fsync_file(path: str | Path) -> None:
    """Flush a written file to disk (e.g. one a library wrote into an :func:`atomic_directory`)."""
    with Path(path).open("rb") as fh:
        os.fsync(fh.fileno())


# -- names, ownership and locks ------------------------------------------------------------------------------


def _sibling(target: Path, state: str, suffix: str = "") -> Path:
    """A fresh ``.NAME.<token>.<state><suffix>`` next to ``target``; tokens sort by creation time."""
    token = f"{time.time_ns():016x}-{secrets.token_hex(3)}"
    return target.parent / f".{target.name}.{token}.{state}{suffix}"


def _create_owned(target: Path, *, directory: bool, suffix: str = "") -> tuple[Path, int]:
    """Create a staging entry for ``target`` and hold an flock on it until the returned fd is closed, so
    that :func:`recover` in another process leaves it alone (created under the folder lock: no window)."""
    path = _sibling(target, "tmp", suffix)
    with _folder_lock(target.parent):
        if directory:
            os.mkdir(path)
            fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
        else:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        fcntl.flock(fd, fcntl.LOCK_EX)
    return path, fd


def _abandoned(path: Path) -> bool:
    """True when no live process holds the flock of ``path`` (its writer is gone)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    except OSError:  # a filesystem without flock: treat the entry as stranded, as names alone would
        return True
    finally:
        os.close(fd)
    return True


@contextlib.contextmanager
def _folder_lock(folder: Path) -> Iterator[None]:
    """Exclusive flock on ``folder`` (released by the kernel if the process dies); unlocked where the
    filesystem has no flock."""
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        with contextlib.suppress(OSError):
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _remove(path: Path, *, name: str | None = None) -> None:
    """Delete a file or directory; a directory is first renamed ``.NAME.<token>.trash`` so that a crash
    half-way through leaves an entry that is recognisably garbage."""
    if path.is_dir() and not path.is_symlink():
        if name is not None and not path.name.endswith(".trash"):
            trash = _sibling(path.parent / name, "trash")
            os.rename(path, trash)
            path = trash
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _fsync_path(path: Path) -> None:
    """fsync a directory's entries (no-op where the OS cannot open directories for that)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
