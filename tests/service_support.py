"""Helpers for the service and Diagnoser tests: model directories, a real uvicorn server in a subprocess."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import numpy as np
import torch

from faultdx.data.base import CWRU_10_CLASSES
from faultdx.modeldir import save_model_dir
from faultdx.nn.resnet1d import ResNet1d, preset_config
from faultdx.paths import PROJECT_ROOT

if TYPE_CHECKING:
    from fastapi.testclient import TestClient

SHIPPED = PROJECT_ROOT / "models" / "cwru12k-aprelu"
WINDOW = 2048
RATE = 12000


def make_model_dir(
    path: Path,
    *,
    name: str = "tiny-aprelu",
    activation: str = "aprelu",
    seed: int = 0,
    card: str | None = "# tiny\nAn untrained test model.\n",
) -> Path:
    """An untrained small ResNet1d saved as a model directory (real format, random weights)."""
    torch.manual_seed(seed)
    model = ResNet1d(
        preset_config("small", activation=activation, widths=(8, 16, 16), stem_channels=8)
    ).eval()
    meta = {
        "name": name,
        "version": "1",
        "classes": list(CWRU_10_CLASSES),
        "window": WINDOW,
        "hop": WINDOW,
        "sampling_rate": RATE,
        "channels": ["DE"],
        "dataset": {"name": "synthetic", "files": []},
        "metrics": {"test_accuracy": 0.1},
        "bearing": {
            "name": "SKF 6205",
            "n_balls": 9,
            "ball_diameter": 7.94,
            "pitch_diameter": 39.04,
            "contact_angle_deg": 0.0,
        },
    }
    return save_model_dir(path, model, meta, model_card=card)


def served_model_dir(tmp: Path) -> Path:
    """The shipped model when it is there, else an untrained one of the same shape (plumbing only)."""
    if (SHIPPED / "config.json").is_file():
        return SHIPPED
    return make_model_dir(tmp / "tiny-aprelu")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def running_server(
    *models: str | Path, env: dict[str, str] | None = None, workers: int = 1, timeout: float = 90.0
) -> Iterator[str]:
    """``faultdx serve`` in a subprocess on a free 127.0.0.1 port; yields its URL once /readyz is 200."""
    port = free_port()
    args = [
        sys.executable,
        "-c",
        "from faultdx.cli import main; main()",
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
    ]
    for m in models:
        args += ["--model", str(m)]
    inherited = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    full_env = {**inherited, "FAULTDX_LOG_LEVEL": "warning", **(env or {})}
    proc = subprocess.Popen(args, env=full_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"server exited with {proc.returncode}:\n{proc.stdout.read()}")
            try:
                if httpx.get(url + "/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"server not ready after {timeout} s")
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextlib.contextmanager
def app_client(model: str | Path, **settings: Any) -> Iterator[TestClient]:
    """An in-process client of the service serving ``model`` (JSON logs and tracing off; ``settings`` add to
    or override those), started and shut down around the block."""
    # imported here: conftest loads this module (through postgres_support) for every test, most need no app
    from fastapi.testclient import TestClient
    from faultdx_service.main import create_app
    from faultdx_service.settings import Settings

    quiet: dict[str, Any] = {"log_json": False, "trace": False}
    with TestClient(create_app(Settings(model=[str(model)], **{**quiet, **settings}))) as client:
        yield client


@contextlib.contextmanager
def serving(settings: Any, shutdown_timeout_s: float = 5.0) -> Iterator[tuple[str, Any]]:
    """The app under a real uvicorn server configured as ``faultdx serve`` configures it (timeouts,
    connection cap), on a free 127.0.0.1 port, in a thread; yields (its URL, the ``uvicorn.Server``)."""
    import threading

    import uvicorn
    from faultdx_service.main import create_app
    from faultdx_service.runtime import uvicorn_config

    port = free_port()
    settings = settings.model_copy(
        update={"host": "127.0.0.1", "port": port, "shutdown_timeout_s": shutdown_timeout_s}
    )
    server = uvicorn.Server(uvicorn_config(settings, None, app=create_app(settings)))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "server did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}", server
    finally:
        server.should_exit = True
        thread.join(30)


def diagnose_body() -> bytes:
    """A one-window /v1/diagnose JSON body."""
    import json

    return json.dumps({"signals": tone(WINDOW / RATE).tolist(), "sampling_rate": RATE, "rpm": 1797}).encode()


def half_sent_post(port: int, body: bytes) -> socket.socket:
    """A connection holding a request in progress: its headers and the first half of its body sent."""
    sock = socket.create_connection(("127.0.0.1", port))
    sock.sendall(b"POST /v1/diagnose HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 b"Content-Length: %d\r\n\r\n" % len(body) + body[: len(body) // 2])
    return sock


def tone(seconds: float, rate: float = RATE, seed: int = 0) -> np.ndarray:
    """A noisy 157 Hz tone: a stand-in vibration signal."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    return (np.sin(2 * np.pi * 157 * t) + 0.3 * rng.standard_normal(t.size)).astype(np.float32)
