"""Shared fixtures and file makers for the data-layer tests (imported by tests/test_data_*.py)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from faultdx.paths import data_dir

REAL_ROOT = Path(os.environ.get("FAULTDX_DATA", data_dir()))
HAS_CWRU = (REAL_ROOT / "cwru/12k_drive_end/105.mat").is_file()
HAS_MFPT = (REAL_ROOT / "mfpt/InnerRaceFault_vload_1.mat").is_file()
IN_CI = bool(os.environ.get("CI"))  # CI has the recordings: a missing file fails there, never skips
WHERE = ("the real CWRU / MFPT recordings; set FAULTDX_DATA to a folder in the layout of "
         "../shared/data/MANIFEST.md (e.g. FAULTDX_DATA=../shared/data) or run `faultdx data fetch cwru`")
STANDIN = bool(os.environ.get("FAULTDX_TEST_STANDIN"))  # set by tests/conftest.py
needs_real_data = pytest.mark.skipif(
    STANDIN, reason=f"checks the real files; FAULTDX_DATA is a simulated stand-in; needs {WHERE}"
)
needs_cwru = pytest.mark.skipif(
    not HAS_CWRU and not IN_CI, reason=f"needs {WHERE} (not found under {REAL_ROOT})"
)
needs_mfpt = pytest.mark.skipif(
    not HAS_MFPT and not IN_CI, reason=f"needs {WHERE} (not found under {REAL_ROOT})"
)


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path_factory, monkeypatch) -> Path:
    """Point the decoded-array cache at a session-wide temp folder (never the user's cache, never shared/)."""
    path = tmp_path_factory.getbasetemp() / "faultdx-cache"
    monkeypatch.setenv("FAULTDX_CACHE", str(path))
    return path


def write_cwru_mat(
    path: Path,
    number: int,
    length: int,
    *,
    channels=("DE", "FE", "BA"),
    foreign: int | None = None,
    seed: int = 0,
) -> dict[str, np.ndarray]:
    """A small .mat in the publisher's layout: ``Xnnn_<ch>_time`` + ``XnnnRPM`` (+ a foreign record)."""
    from scipy.io import savemat

    rng = np.random.default_rng(seed)
    variables = {f"X{number:03d}_{ch}_time": rng.standard_normal((length, 1)) for ch in channels}
    variables[f"X{number:03d}RPM"] = np.array([[1797.0]])
    if foreign is not None:
        variables[f"X{foreign:03d}_DE_time"] = rng.standard_normal((length // 2, 1)) + 100.0
    path.parent.mkdir(parents=True, exist_ok=True)
    savemat(path, variables, format="5")
    return variables


def write_mfpt_mat(
    path: Path, length: int, *, load: str = "50", rate: int = 48828, seed: int = 0
) -> np.ndarray:
    """A small .mat in MFPT's layout: struct ``bearing`` (gs, sr, rate, load as a string) + scalars."""
    from scipy.io import savemat

    gs = np.random.default_rng(seed).standard_normal((length, 1))
    bearing = {
        "gs": gs,
        "sr": np.array([[rate]], dtype=np.uint16),
        "rate": np.array([[25]], dtype=np.uint8),
        "load": np.array([load]),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    savemat(
        path, {"bearing": bearing, "BPFO": 81.125, "BPFI": 118.875, "BSF": 63.91, "FTF": 14.8375}, format="5"
    )
    return gs


class PublisherServer:
    """A local stand-in for the publisher: serves ``/sites/default/files/<name>`` on 127.0.0.1 in a thread.

    ``files``: name -> bytes. ``drop_once``: names whose first full-body response stops halfway (connection
    closed mid-body). Honours ``Range: bytes=N-`` with 206. ``requests`` logs (path, Range header).
    """

    def __init__(self, files: dict[str, bytes], drop_once: set[str] = frozenset()) -> None:
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.files = dict(files)
        self.drop_once = set(drop_once)
        self.requests: list[tuple[str, str | None]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:  # keep test output quiet
                pass

            def do_GET(self) -> None:
                server.requests.append((self.path, self.headers.get("Range")))
                name = self.path.rsplit("/", 1)[-1]
                if not self.path.startswith("/sites/default/files/") or name not in server.files:
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                data = server.files[name]
                start = (
                    int(self.headers["Range"].split("=")[1].rstrip("-")) if self.headers.get("Range") else 0
                )
                if start >= len(data) and start:
                    self.send_response(416)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(206 if start else 200)
                if start:
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                self.send_header("Content-Length", str(len(data) - start))
                self.end_headers()
                body = data[start:]
                if name in server.drop_once and not start:
                    server.drop_once.discard(name)
                    self.wfile.write(body[: len(body) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/sites/default/files"

    def __enter__(self) -> PublisherServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


def missing_data(what: str) -> None:
    """Skip (with where to get the data) outside CI; fail in CI, which has every recording."""
    message = f"{what}: needs {WHERE} (looked under {REAL_ROOT})"
    if IN_CI:
        pytest.fail(message)
    pytest.skip(message)
