"""File checksums: sha256, and git blob ids (sha1 of ``blob <size>\\0<bytes>``) for files known by those."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

CHUNK = 1 << 20


def file_sha256(path: Path) -> str:
    """Hex sha256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


def git_blob_sha1(path: Path) -> str:
    """Git blob id of a file (what ``git hash-object`` prints)."""
    h = hashlib.sha1(f"blob {Path(path).stat().st_size}\0".encode())
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


@dataclass(frozen=True)
class CheckResult:
    """Outcome of checking one file: ``status`` is ``ok``, ``mismatch``, ``absent`` or ``unknown``."""

    status: str
    algorithm: str | None = None
    expected: str | None = None
    actual: str | None = None


def check_file(path: Path, *, sha256: str | None = None, git_sha1: str | None = None) -> CheckResult:
    """Compare a file with its known sha256 (preferred) or git blob id; ``unknown`` when neither is known."""
    path = Path(path)
    if not path.is_file():
        return CheckResult("absent")
    if sha256:
        actual = file_sha256(path)
        return CheckResult("ok" if actual == sha256 else "mismatch", "sha256", sha256, actual)
    if git_sha1:
        actual = git_blob_sha1(path)
        return CheckResult("ok" if actual == git_sha1 else "mismatch", "git-sha1", git_sha1, actual)
    return CheckResult("unknown")
