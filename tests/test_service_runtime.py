"""The service under uvicorn in this process (a thread): the body-read timeout, and what requests still
running or queued get when the server shuts down."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
import uvicorn
from faultdx_service.main import create_app
from faultdx_service.settings import Settings

from tests.service_support import RATE, WINDOW, free_port, make_model_dir, tone


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    return make_model_dir(tmp_path_factory.mktemp("models") / "tiny-aprelu")


@contextlib.contextmanager
def serving(settings: Settings, shutdown_timeout_s: float = 5.0) -> Iterator[tuple[str, uvicorn.Server]]:
    """The app under a real uvicorn server on a free 127.0.0.1 port, in a thread."""
    app = create_app(settings)
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="critical",
                            timeout_graceful_shutdown=shutdown_timeout_s)
    server = uvicorn.Server(config)
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


def test_a_body_that_does_not_arrive_gets_408_within_the_timeout(model_dir) -> None:
    settings = Settings(model=[str(model_dir)], api_key=None, trace=False, body_timeout_s=1.0)
    with serving(settings) as (url, _):
        port = int(url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            start = time.monotonic()
            sock.sendall(b"POST /v1/diagnose HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                         b"Content-Length: 1000\r\n\r\n" + b'{"signals":')  # 11 of the 1,000 bytes
            answer = b""
            while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
                chunk = sock.recv(4096)
                if not chunk:
                    break
                answer += chunk
            elapsed = time.monotonic() - start
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 408"), answer[:200]
        assert json.loads(body)["field"] == "body" and b"connection: close" in head.lower()
        assert 0.9 < elapsed < 5.0
        assert httpx.get(url + "/healthz").status_code == 200  # the server keeps serving


def _slow(predict, seconds: float):
    def slow(*args, **kwargs):
        time.sleep(seconds)
        return predict(*args, **kwargs)

    return slow


def _post(url: str) -> httpx.Response:
    body = {"signals": tone(WINDOW / RATE).tolist(), "sampling_rate": RATE, "rpm": 1797}
    return httpx.post(url + "/v1/diagnose", json=body, timeout=30)


def _start_requests(url: str, server: uvicorn.Server, n: int, predict_seconds: float):
    served = next(iter(server.config.app.state.models.models.values()))
    served.batcher.predict = _slow(served.batcher.predict, predict_seconds)
    pool = ThreadPoolExecutor(n)
    futures = [pool.submit(_post, url) for _ in range(n)]
    time.sleep(0.5)  # one in the forward pass, the others queued behind it
    return pool, futures


def test_requests_running_at_the_shutdown_timeout_get_a_json_503(model_dir) -> None:
    settings = Settings(model=[str(model_dir)], api_key=None, trace=False, max_batch=1)
    with serving(settings, shutdown_timeout_s=0.5) as (url, server):
        pool, futures = _start_requests(url, server, 3, predict_seconds=2.0)
        server.should_exit = True  # what SIGTERM does
        answers = [f.result(timeout=30) for f in futures]
        pool.shutdown()
    for r in answers:
        assert r.status_code == 503, r.text
        assert r.headers["content-type"] == "application/json" and r.headers["Retry-After"] == "1"
        assert "shutting down" in r.json()["error"] and r.json()["request_id"] == r.headers["X-Request-ID"]


def test_requests_queued_at_shutdown_are_answered(model_dir) -> None:
    settings = Settings(model=[str(model_dir)], api_key=None, trace=False, max_batch=1)
    with serving(settings, shutdown_timeout_s=20) as (url, server):
        pool, futures = _start_requests(url, server, 4, predict_seconds=0.3)
        server.should_exit = True
        answers = [f.result(timeout=30) for f in futures]
        pool.shutdown()
    assert [r.status_code for r in answers] == [200] * 4
