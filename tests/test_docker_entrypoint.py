"""The CPU image's entrypoint, run natively: no Docker engine in CI, so this rebuilds what the image runs.

1. A fresh virtual environment is installed by replaying the build stage of ``docker/Dockerfile`` step by step
   (``python3 -m venv``, ``pip install torch==2.13.0``, ``pip install --requirement docker/constraints.txt``,
   ``pip install --constraint docker/constraints.txt .``),
   from a copy of exactly the files its ``COPY`` lines take through ``.dockerignore``. Two local differences:
   torch comes from pip's configured sources instead of ``--index-url https://download.pytorch.org/whl/cpu``
   (the same ``2.13.0+cpu`` wheel; CI reaches only package registries), and pip's cache is used (the image
   passes ``--no-cache-dir`` to keep it out of a layer). About a minute of CPU; see the README (Deploy).
2. The final stage's ``ENTRYPOINT`` + ``CMD`` start with its ``ENV`` (container paths mapped to temporary
   folders; host 127.0.0.1 and a free port instead of 0.0.0.0:8000) plus an API key, as ``docker run -e``
   would pass it. Its ``HEALTHCHECK`` command is the readiness probe.
3. A diagnosis is answered; then SIGTERM arrives while a request is in flight (headers and half the body
   sent) and that request still completes with 200 before the process exits; stdout is JSON lines.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

import httpx
import pytest

from tests.docker_spec import (
    CPU_DOCKERFILE,
    ROOT,
    SHIPPED_MODEL,
    Stage,
    context_files,
    pip_install_args,
    stages,
)

pytestmark = pytest.mark.slow

API_KEY = "docker-test-key"
READY_TIMEOUT_S = 180
VENV_IN_IMAGE = "/opt/venv"


@dataclass
class Image:
    """The natively rebuilt image: its venv, its environment and what it runs."""

    root: Path
    venv: Path
    env: dict[str, str]
    argv: list[str]
    healthcheck: list[str]
    home: Path


@dataclass
class Server:
    process: subprocess.Popen
    port: int
    stdout: list[str] = field(default_factory=list)
    stderr: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def _run(argv: list[str], **kwargs) -> subprocess.CompletedProcess:
    done = subprocess.run(argv, capture_output=True, text=True, **kwargs)
    assert done.returncode == 0, f"{' '.join(argv)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


def _copy_context(build: Stage, src: Path) -> None:
    """``COPY`` of the build stage: the listed sources, filtered by ``.dockerignore``, into ``WORKDIR``."""
    context = context_files()
    for sources, dest, flags in build.copies():
        assert not flags, f"unexpected COPY flags in the build stage: {flags}"
        target = src / dest
        for source in (s.rstrip("/") for s in sources):
            if (ROOT / source).is_dir():
                files = [p for p in context if p.startswith(source + "/") and (ROOT / p).is_file()]
                copies = {rel: target / Path(rel).relative_to(source) for rel in files}
            else:
                copies = {source: target / Path(source).name if dest.endswith("/") else target}
            assert copies and set(copies) <= context, f"COPY {source}: not in the build context"
            for rel, out in copies.items():
                out.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(ROOT / rel, out)


def _install(build: Stage, src: Path, venv: Path) -> None:
    """Replay the build stage's RUN commands; an unknown command fails so that this test keeps up."""
    for command in build.run_commands():
        args = pip_install_args(command)
        if command.split()[:3] in (["python", "-m", "venv"], ["python3", "-m", "venv"]):
            assert command.split()[3] == VENV_IN_IMAGE, command
            _run([sys.executable, "-m", "venv", str(venv)], timeout=120)
        elif args is not None:
            if "--index-url" in args:  # CI reaches only package registries; pip's sources hold the CPU wheel
                at = args.index("--index-url")
                del args[at : at + 2]
            args = [a for a in args if a != "--no-cache-dir"]
            pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet"]
            _run([*pip, *args], cwd=src, timeout=600)
        else:
            raise AssertionError(f"build step not replayed by this test, teach it: {command!r}")


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> Image:
    build, final = stages(CPU_DOCKERFILE)[0], stages(CPU_DOCKERFILE)[-1]
    root = tmp_path_factory.mktemp("image")
    workdir = build.last("WORKDIR")
    src = root / workdir.value[0].lstrip("/")
    src.mkdir(parents=True)
    venv = root / VENV_IN_IMAGE.lstrip("/")
    _copy_context(build, src)
    _install(build, src, venv)

    image_env = final.env()
    paths = {VENV_IN_IMAGE: str(venv), image_env["FAULTDX_MODELS"]: str(root / "models")}
    for sources, dest, flags in final.copies():  # the shipped model
        if not flags:
            assert sources == [f"models/{SHIPPED_MODEL}"], sources
            outside = root / "models" / Path(dest).relative_to(image_env["FAULTDX_MODELS"])
            shutil.copytree(ROOT / sources[0], outside)
    home = root / final.last("WORKDIR").value[0].lstrip("/")
    home.mkdir(parents=True)
    env = {"HOME": str(home), "LANG": "C.UTF-8", "TMPDIR": str(root)}
    base_path = os.environ["PATH"]
    for name, value in image_env.items():
        value = value.replace("$PATH", base_path)
        for inside, outside in paths.items():
            value = value.replace(inside, outside)
        assert "$" not in value, f"{name}={value}: unexpanded variable"
        env[name] = value
    env["FAULTDX_HOST"] = "127.0.0.1"  # tests listen on loopback only; the image binds 0.0.0.0
    env["FAULTDX_API_KEY"] = API_KEY
    argv = final.exec_form("ENTRYPOINT") + final.exec_form("CMD")
    return Image(root, venv, env, argv, final.exec_form("HEALTHCHECK"), home)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _probe(image: Image, port: int) -> int:
    """The image's HEALTHCHECK command, run as Docker would inside the container; its exit status."""
    env = image.env | {"FAULTDX_PORT": str(port)}
    argv = [shutil.which(image.healthcheck[0], path=env["PATH"]), *image.healthcheck[1:]]
    return subprocess.run(argv, env=env, capture_output=True, timeout=30).returncode


def _pump(stream, lines: list[str]) -> None:
    for line in stream:
        lines.append(line.rstrip("\n"))


@pytest.fixture(scope="module")
def server(image: Image) -> Iterator[Server]:
    port = _free_port()
    assert _probe(image, port) != 0, "the healthcheck must fail while nothing listens"
    env = image.env | {"FAULTDX_PORT": str(port)}
    executable = shutil.which(image.argv[0], path=env["PATH"])
    assert executable == str(image.venv / "bin" / image.argv[0]), executable
    process = subprocess.Popen(
        [executable, *image.argv[1:]],
        env=env,
        cwd=image.home,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    running = Server(process, port)
    for stream, lines in ((process.stdout, running.stdout), (process.stderr, running.stderr)):
        threading.Thread(target=_pump, args=(stream, lines), daemon=True).start()
    deadline = time.monotonic() + READY_TIMEOUT_S
    while _probe(image, port) != 0:
        assert process.poll() is None, "server exited:\n" + "\n".join(running.stdout + running.stderr)[-5000:]
        assert time.monotonic() < deadline, "not ready in time:\n" + "\n".join(running.stdout)[-5000:]
        time.sleep(0.5)
    yield running
    if process.poll() is None:
        process.kill()
        process.wait(timeout=30)


def _signal(seconds: float = 2.0) -> list[float]:
    from faultdx.data.synthetic import simulate

    return simulate("outer_race_007", duration_s=seconds, seed=3).astype(float).tolist()


def test_the_venv_holds_the_cpu_build_of_torch_and_the_package(image: Image) -> None:
    site = next((image.venv / "lib").glob("python3.*/site-packages"))
    installed = {d.metadata["Name"].lower(): d.version for d in metadata.distributions(path=[str(site)])}
    assert installed["torch"] == "2.13.0+cpu"
    assert installed["faultdx"]
    assert not [name for name in installed if name.startswith("nvidia")], "CUDA libraries were pulled in"


def test_healthcheck_passes_once_ready_and_health_stays_open(server: Server) -> None:
    ready = httpx.get(f"{server.url}/readyz", timeout=10)
    assert ready.status_code == 200 and SHIPPED_MODEL in ready.json()["models"]
    refused = httpx.post(f"{server.url}/v1/diagnose", json={"signals": [0.0] * 4096, "sampling_rate": 12000})
    assert refused.status_code == 401, refused.text


def test_non_python_files_and_probes_survive_a_non_editable_install(server: Server) -> None:
    # An editable install hides package-data mistakes; this venv holds only what the wheel carries.
    page = httpx.get(f"{server.url}/", timeout=10)
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    for probe in ("/healthz", "/v2/health/live", "/v2/health/ready"):  # Kubernetes / KServe probes, no key
        assert httpx.get(f"{server.url}{probe}", timeout=10).status_code == 200, probe


def test_a_diagnosis_is_answered(server: Server) -> None:
    response = httpx.post(
        f"{server.url}/v1/diagnose",
        headers={"X-API-Key": API_KEY},
        timeout=60,
        json={"signals": [_signal()], "sampling_rate": 12000, "include_slopes": True},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model"]["name"] == SHIPPED_MODEL
    (result,) = body["results"]
    assert result["label"] in result["probabilities"]
    assert sum(result["probabilities"].values()) == pytest.approx(1.0, abs=1e-3)
    assert result["windows"] and result["slopes"]


def test_sigterm_lets_the_in_flight_request_finish(server: Server) -> None:
    body = json.dumps({"signals": [_signal(4.0)], "sampling_rate": 12000}).encode()
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    connection.putrequest("POST", "/v1/diagnose")
    for name, value in (
        ("Content-Type", "application/json"),
        ("Content-Length", str(len(body))),
        ("X-API-Key", API_KEY),
    ):
        connection.putheader(name, value)
    connection.endheaders()
    connection.send(body[: len(body) // 2])
    time.sleep(0.5)  # the server has read the headers: this request is now in flight

    server.process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 10
    while True:  # the server stops accepting connections at once (a load balancer sees it leave) ...
        try:
            socket.create_connection(("127.0.0.1", server.port), timeout=1).close()
        except ConnectionRefusedError:
            break
        assert time.monotonic() < deadline, "still accepting connections 10 s after SIGTERM"
        time.sleep(0.1)
    assert server.process.poll() is None, "exited with a request in flight"

    connection.send(body[len(body) // 2 :])  # ... and the request in flight still gets its answer
    response = connection.getresponse()
    answer = json.loads(response.read())
    assert response.status == 200, answer
    assert answer["results"][0]["label"] in answer["results"][0]["probabilities"]
    connection.close()

    code = server.process.wait(timeout=60)
    # after uvicorn's graceful shutdown `faultdx serve` exits 0 (and removes its metrics directory)
    assert code == 0, code
    time.sleep(0.2)  # let the reader threads drain the pipes
    messages = [json.loads(line).get("message", "") for line in server.stdout if line.startswith("{")]
    assert "Application shutdown complete." in messages, messages[-10:]
    assert not any("Traceback" in line for line in server.stderr), "\n".join(server.stderr)[-3000:]


def test_stdout_is_json_lines(server: Server) -> None:
    assert server.process.poll() is not None, "run after the SIGTERM test"
    lines = [line for line in server.stdout if line.strip()]
    assert lines
    records = []
    for line in lines:
        record = json.loads(line)  # every line of stdout is one JSON object
        assert {"time", "level", "logger", "message"} <= record.keys(), record
        records.append(record)
    access = [r for r in records if r["logger"] == "uvicorn.access"]
    statuses = {(r["method"], r["path"], r["status"]) for r in access}
    assert {("POST", "/v1/diagnose", 200), ("POST", "/v1/diagnose", 401)} <= statuses, statuses
    assert not [r for r in records if r["level"] in ("ERROR", "CRITICAL")], "errors logged"
    assert all(r["time"].endswith("+00:00") for r in records), "times in UTC"
