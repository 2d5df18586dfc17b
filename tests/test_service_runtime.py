"""The service under uvicorn: the body timeout, what requests still running or queued get when the server
shuts down (in this process, a thread), and SIGTERM to a real ``faultdx serve`` with several workers (a
subprocess). The header and keep-alive timeouts and the connection cap (issue 24 item 5) are replayed in
tests/test_reliability.py."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
import uvicorn
from faultdx_service.settings import Settings

from tests.service_support import (
    RATE,
    WINDOW,
    diagnose_body,
    free_port,
    half_sent_post,
    make_model_dir,
    serving,
    tone,
)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    return make_model_dir(tmp_path_factory.mktemp("models") / "tiny-aprelu")


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
    deadline = time.monotonic() + 20  # one in the forward pass, the others queued behind it
    while len(server.server_state.tasks) < n:  # wait for all to be in (the machine may be busy)
        assert time.monotonic() < deadline, "the requests did not arrive"
        time.sleep(0.05)
    time.sleep(0.2)
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


def test_sigterm_with_several_workers_stops_accepting_and_answers_what_it_holds(tmp_path) -> None:
    model = make_model_dir(tmp_path / "tiny-aprelu")
    port = free_port()
    env = {**{k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"},
           "FAULTDX_LOG_LEVEL": "warning", "FAULTDX_TRACE": "false"}
    args = [sys.executable, "-c", "from faultdx.cli import main; main()", "serve", "--host", "127.0.0.1",
            "--port", str(port), "--workers", "2", "--model", str(model)]
    proc = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:  # both workers answer (each gets some of the new connections)
            assert proc.poll() is None, proc.stdout.read()
            assert time.monotonic() < deadline, "the workers did not start"
            with contextlib.suppress(httpx.HTTPError):
                statuses = {httpx.get(url + "/healthz", timeout=2).status_code for _ in range(6)}
                if statuses == {200} and len(_children(proc.pid)) >= 2:
                    break
            time.sleep(0.3)
        body = diagnose_body()
        held = [half_sent_post(port, body) for _ in range(4)]  # in progress at the signal, on either worker
        time.sleep(0.5)
        proc.send_signal(signal.SIGTERM)
        signalled = time.monotonic()
        refused_s = _refused_after(port, signalled, limit_s=5.0)
        answers = []
        for sock in held:
            with sock:
                sock.sendall(body[len(body) // 2 :])
                sock.settimeout(30)
                answers.append(sock.recv(65536))
        proc.wait(timeout=10)
        stopped_s = time.monotonic() - signalled
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert all(a.startswith(b"HTTP/1.1 200") for a in answers), [a[:60] for a in answers]
    assert proc.returncode == 0
    assert refused_s <= 1.0  # the port refuses new connections at once, not when the workers are done
    assert stopped_s <= 10.0


def _refused_after(port: int, since: float, limit_s: float) -> float:
    """Seconds from ``since`` until a connection to ``port`` is refused (fails past ``limit_s``)."""
    while time.monotonic() - since < limit_s:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
        except ConnectionRefusedError:
            return time.monotonic() - since
        time.sleep(0.02)
    pytest.fail(f"port {port} still accepted connections {limit_s} s after SIGTERM")


def _children(pid: int) -> list[str]:
    try:
        return open(f"/proc/{pid}/task/{pid}/children").read().split()
    except OSError:
        return []
