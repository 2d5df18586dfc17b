"""Fetch the publisher's original files: streamed, resumable, checksum-verified, atomically renamed.

A file is downloaded to ``<final>.part`` (resumed with an HTTP ``Range`` request when a partial one exists or
the connection drops mid-body), verified against the catalogue's sha256 (or git blob id), fsynced and only
then renamed to its final name, so a half-written or corrupted file never sits under the final name.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import httpx

from faultdx.atomic import commit_file
from faultdx.data.catalogue import CwruFile
from faultdx.data.checksum import check_file

DEFAULT_CWRU_URL = "https://engineering.case.edu/sites/default/files"
CHUNK = 1 << 16
MAX_ATTEMPTS = 5
RETRY_DELAY_S = 1.0  # times the attempt number, between attempts

Progress = Callable[[str, int, int | None], None]  # (file name, bytes so far, total or None)


class DownloadError(ValueError):
    """A download that failed or did not verify; nothing was left under the final name."""


@dataclass(frozen=True)
class FetchResult:
    """What happened to one file: ``status`` is ``downloaded``, ``present`` (already there and verified)."""

    path: Path
    status: str
    checksum: str  # ok / unknown (no checksum catalogued)


def cwru_url(entry: CwruFile, base_url: str | None = None) -> str:
    """URL of a CWRU file: ``<base>/<number>.mat`` (base: the argument, else the publisher; the CLI passes
    ``$FAULTDX_CWRU_URL``)."""
    base = base_url or DEFAULT_CWRU_URL
    return f"{base.rstrip('/')}/{entry.filename}"


def _stream_to(client: httpx.Client, url: str, part: Path, name: str, progress: Progress | None) -> None:
    """Append the rest of ``url`` to ``part`` (Range from its current size), retrying dropped connections."""
    for attempt in range(1, MAX_ATTEMPTS + 1):
        have = part.stat().st_size if part.exists() else 0
        headers = {"Range": f"bytes={have}-"} if have else {}
        try:
            with client.stream("GET", url, headers=headers) as response:
                if response.status_code == 416:  # nothing left to fetch: the part file is complete
                    return
                if response.status_code not in (200, 206):
                    raise DownloadError(f"{name}: HTTP {response.status_code} from {url}")
                if response.status_code == 200 and have:  # server ignored Range: start over
                    have = 0
                length = response.headers.get("Content-Length")
                total = have + int(length) if length is not None else None
                with open(part, "ab" if have else "wb") as f:
                    for chunk in response.iter_bytes(CHUNK):
                        f.write(chunk)
                        have += len(chunk)
                        if progress:
                            progress(name, have, total)
                    f.flush()
                    os.fsync(f.fileno())
            return
        except httpx.TransportError as exc:  # refused, timed out, or dropped mid-body: resume
            if attempt == MAX_ATTEMPTS:
                raise DownloadError(
                    f"{name}: download from {url} failed after {attempt} attempts ({exc})"
                ) from exc
            time.sleep(RETRY_DELAY_S * attempt)


def fetch_file(
    url: str,
    final: Path,
    *,
    sha256: str | None = None,
    git_sha1: str | None = None,
    client: httpx.Client | None = None,
    progress: Progress | None = None,
) -> FetchResult:
    """Download ``url`` to ``final`` with resume and verification (see module docstring)."""
    final = Path(final)
    if final.is_file() and check_file(final, sha256=sha256, git_sha1=git_sha1).status == "ok":
        return FetchResult(final, "present", "ok")
    final.parent.mkdir(parents=True, exist_ok=True)
    part = final.with_name(final.name + ".part")
    own_client = client is None
    client = client or httpx.Client(follow_redirects=True, timeout=httpx.Timeout(30.0, read=60.0))
    try:
        _stream_to(client, url, part, final.name, progress)
    finally:
        if own_client:
            client.close()
    result = check_file(part, sha256=sha256, git_sha1=git_sha1)
    if result.status == "mismatch":
        part.unlink(missing_ok=True)  # a corrupt part must not be resumed from either
        raise DownloadError(
            f"{final.name}: {result.algorithm} mismatch (expected {result.expected}, got {result.actual}); "
            f"the download from {url} was discarded and nothing was saved as {final}"
        )
    commit_file(part, final)
    return FetchResult(final, "downloaded", result.status)


def fetch_cwru(
    entries: Iterable[CwruFile],
    root: Path,
    *,
    base_url: str | None = None,
    client: httpx.Client | None = None,
    progress: Progress | None = None,
) -> list[FetchResult]:
    """Fetch CWRU files into ``root/cwru/<set>/<number>.mat`` (the layout the datasets read)."""
    return [
        fetch_file(cwru_url(e, base_url), Path(root) / e.relpath, sha256=e.sha256, git_sha1=e.git_sha1,
                   client=client, progress=progress)
        for e in entries
    ]
