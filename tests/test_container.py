"""The CPU image, built for real with podman from a Debian base (``docker/build-local.sh``) and run.

Everything is checked from outside the container, as a user or an orchestrator sees it: ``/readyz``, a real
CWRU recording diagnosed, the process's user id on the host, the image's own ``HEALTHCHECK``, ``podman stop``
(SIGTERM) with a request in flight, a models folder mounted at the documented path, ``FAULTDX_*`` settings;
and ``docker/compose.yaml`` read by ``podman-compose config``.

Needs root, podman, debootstrap and runc (``.ci/run`` installs them): with ``CI`` set a missing one fails,
else the module skips. The Debian base image is reused when present (building it takes about two minutes
more), and podman's layer cache turns a rebuild with unchanged sources into seconds. Containers share the
host's network (no bridge on these machines) and listen on 127.0.0.1 at a free port.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import yaml

from tests import image_build
from tests.docker_spec import COMPOSE_FILE, DOCKER_DIR, ROOT, SHIPPED_MODEL
from tests.service_support import free_port

pytestmark = pytest.mark.slow

IMAGE = "localhost/faultdx:cpu"
PODMAN_ENV = image_build.PODMAN_ENV
TOOL_PATH = image_build.TOOL_PATH
BUILD_TIMEOUT_S = 1800  # a first build: Debian base (~2 min) + torch + every dependency from the registries
READY_TIMEOUT_S = 180
API_KEY = "container-test-key"
CWRU_INNER_RACE = "cwru/12k_drive_end/105.mat"  # inner race, 0.007 in, 0 hp, 1797 rpm, drive-end SKF 6205


def _require(condition: bool, message: str) -> None:
    if condition:
        return
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def _podman(*args: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess:
    done = subprocess.run(["podman", *args], env=PODMAN_ENV, capture_output=True, text=True, timeout=timeout)
    if check:
        assert done.returncode == 0, f"podman {' '.join(args)}: {done.stderr[-3000:]}"
    return done


def _inspect(name: str, template: str, kind: str = "container") -> str:
    return _podman(kind, "inspect", "--format", template, name).stdout.strip()


@dataclass
class Container:
    name: str
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def logs(self) -> str:
        done = _podman("logs", self.name, check=False)
        return (done.stdout + done.stderr)[-4000:]


@pytest.fixture(scope="module")
def image() -> dict:
    """``bash docker/build-local.sh`` (reusing the base when present), started in the background when the
    session collected this module (tests/image_build.py); its JSON report."""
    missing = image_build.missing_tools()
    _require(not missing, f"{', '.join(missing)} not found: apt-get install podman debootstrap runc")
    _require(os.geteuid() == 0, "building the image needs root (debootstrap, rootful podman)")
    build = image_build.finished(BUILD_TIMEOUT_S)  # started when the session collected this module
    stdout, stderr = build.output()
    assert build.process.returncode == 0, f"build-local.sh failed:\n{stdout[-4000:]}\n{stderr[-4000:]}"
    assert f"built {IMAGE}" in stdout, stdout[-2000:]
    return json.loads(build.report.read_text())


def _run(name: str, *, env: dict[str, str] | None = None, volumes: tuple[str, ...] = ()) -> Container:
    """``podman run -d`` the image on a free loopback port; returns once ``/readyz`` answers 200."""
    container = Container(f"faultdx-test-{os.getpid()}-{name}", free_port())
    _podman("rm", "--force", container.name, check=False)
    settings = {"FAULTDX_HOST": "127.0.0.1", "FAULTDX_PORT": str(container.port), **(env or {})}
    args = ["run", "--detach", "--name", container.name, "--network=host"]
    args += [f"--env={key}={value}" for key, value in settings.items()]
    args += [f"--volume={volume}" for volume in volumes]
    _podman(*args, IMAGE)
    deadline = time.monotonic() + READY_TIMEOUT_S
    while True:
        try:
            if httpx.get(f"{container.url}/readyz", timeout=5).status_code == 200:
                return container
        except httpx.TransportError:
            pass
        running = _inspect(container.name, "{{.State.Running}}")
        assert running == "true", f"the container exited:\n{container.logs()}"
        assert time.monotonic() < deadline, f"not ready in {READY_TIMEOUT_S} s:\n{container.logs()}"
        time.sleep(1)


def _remove(container: Container) -> None:
    _podman("rm", "--force", "--time", "0", container.name, check=False)


@pytest.fixture(scope="module")
def served(image: dict) -> Iterator[Container]:
    """The image as shipped: no settings but the loopback address and port."""
    container = _run("default")
    yield container
    _remove(container)


def test_the_image_runs_python_3_11_and_the_cpu_build_of_torch_on_the_debian_base(image: dict) -> None:
    assert image["image_bytes"] > image["base_bytes"] > 0
    script = ("import sys, torch, importlib.metadata as m; print(sys.version_info[:2], torch.__version__, "
              "sorted(n for d in m.distributions() if (n := d.metadata['Name']).startswith('nvidia')))")
    done = _podman("run", "--rm", "--network=host", "--entrypoint", "python", IMAGE, "-c", script)
    assert done.stdout.strip() == "(3, 11) 2.13.0+cpu []", done.stdout
    os_release = _podman("run", "--rm", "--network=host", "--entrypoint", "cat", IMAGE, "/etc/os-release")
    assert "VERSION_CODENAME=bookworm" in os_release.stdout


def test_ready_with_the_shipped_model_and_a_real_recording_diagnosed(served: Container) -> None:
    ready = httpx.get(f"{served.url}/readyz", timeout=10).json()
    assert SHIPPED_MODEL in ready["models"], ready
    recording = Path(os.environ.get("FAULTDX_DATA", ROOT / "data")) / CWRU_INNER_RACE
    _require(recording.is_file() and not os.environ.get("FAULTDX_TEST_STANDIN"),
             f"the real CWRU recording {recording} (set FAULTDX_DATA; see ../shared/data/MANIFEST.md)")
    response = httpx.post(f"{served.url}/v1/diagnose/file", timeout=120,
                          files={"file": (recording.name, recording.read_bytes())},
                          data={"rpm": "1797", "bearing": "SKF 6205", "channel": "DE"})
    assert response.status_code == 200, response.text
    body = response.json()
    (result,) = body["results"]
    assert body["model"]["name"] == SHIPPED_MODEL
    assert result["label"] == "inner_race_007", {k: result.get(k) for k in ("label", "probabilities")}
    machine = result["machine"]  # the context sent was used, not estimated
    assert (machine["rpm"], machine["rpm_source"]) == (1797.0, "given")
    assert (machine["bearing"]["name"], machine["bearing_source"]) == ("SKF 6205", "given")


def test_the_page_and_the_probes_ship_in_the_wheel(served: Container) -> None:
    # the image installs the package non-editable: only what the wheel carries (an editable install hides
    # package-data mistakes)
    page = httpx.get(f"{served.url}/", timeout=10)
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    for probe in ("/healthz", "/v2/health/live", "/v2/health/ready"):  # Kubernetes / KServe probes
        assert httpx.get(f"{served.url}{probe}", timeout=10).status_code == 200, probe


def test_the_server_process_is_not_root(served: Container) -> None:
    pid = int(_inspect(served.name, "{{.State.Pid}}"))
    status = Path(f"/proc/{pid}/status").read_text()
    uids = next(line for line in status.splitlines() if line.startswith("Uid:")).split()[1:]
    gids = next(line for line in status.splitlines() if line.startswith("Gid:")).split()[1:]
    assert set(uids) == {"10001"} and set(gids) == {"10001"}, (uids, gids)


def test_the_image_healthcheck_passes_when_ready_and_fails_when_nothing_listens(served: Container) -> None:
    check = json.loads(_inspect(IMAGE, "{{json .Config.Healthcheck}}", kind="image"))
    assert check["Test"][:2] == ["CMD", "python"], check  # kept in the image (docker format, not OCI)
    done = _podman("healthcheck", "run", served.name, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    # the same command in a container whose server never started: the probe must fail, or it proves nothing
    idle = _podman("run", "--rm", "--network=host", f"--env=FAULTDX_PORT={free_port()}", "--entrypoint",
                   check["Test"][1], IMAGE, *check["Test"][2:], check=False, timeout=60)
    assert idle.returncode != 0 and "Connection refused" in idle.stderr, idle.stderr[-1000:]


def _signal(seconds: float) -> list[float]:
    from faultdx.data.synthetic import simulate

    return simulate("outer_race_007", duration_s=seconds, seed=3).astype(float).tolist()


def test_podman_stop_answers_the_request_in_flight_and_exits_within_10_s(served: Container) -> None:
    # a short signal: the answer must come within the stop timeout even on a loaded 2-core machine
    body = json.dumps({"signals": [_signal(1.0)], "sampling_rate": 12000}).encode()
    connection = http.client.HTTPConnection("127.0.0.1", served.port, timeout=60)
    connection.putrequest("POST", "/v1/diagnose")
    connection.putheader("Content-Type", "application/json")
    connection.putheader("Content-Length", str(len(body)))
    connection.endheaders()
    connection.send(body[: len(body) // 2])
    time.sleep(0.5)  # the server has read the headers: this request is in flight

    started = time.monotonic()
    stop: dict = {}
    stopper = threading.Thread(target=lambda: stop.update(done=_podman("stop", "--time", "10", served.name,
                                                                        check=False, timeout=60)))
    stopper.start()
    while True:  # SIGTERM reached the server: it refuses new connections at once ...
        try:
            socket.create_connection(("127.0.0.1", served.port), timeout=1).close()
        except ConnectionRefusedError:
            break
        assert time.monotonic() - started < 10, "still accepting connections 10 s after podman stop"
        time.sleep(0.1)
    connection.send(body[len(body) // 2 :])  # ... and still answers the request in flight
    response = connection.getresponse()
    answer = json.loads(response.read())
    connection.close()
    assert response.status == 200, answer
    assert answer["results"][0]["label"] in answer["results"][0]["probabilities"]
    stopper.join(timeout=60)
    elapsed = time.monotonic() - started
    assert stop["done"].returncode == 0, stop["done"].stderr
    assert elapsed < 10, f"podman stop took {elapsed:.1f} s (SIGKILL after 10 s)"
    assert _inspect(served.name, "{{.State.ExitCode}}") == "0", served.logs()  # not killed: a clean exit
    assert "Application shutdown complete." in served.logs()
    _assert_json_lines(_podman("logs", served.name).stdout)


def _assert_json_lines(stdout: str) -> None:
    """Every line the server wrote to stdout is one JSON object with time (UTC), level, logger and message;
    the requests of this module are in the access log, and nothing was logged as an error."""
    records = [json.loads(line) for line in stdout.splitlines() if line.strip()]
    assert records
    for record in records:
        assert {"time", "level", "logger", "message"} <= record.keys(), record
        assert record["time"].endswith("+00:00"), record
    access = {(r["method"], r["path"], r["status"]) for r in records if r["logger"] == "uvicorn.access"}
    assert {("POST", "/v1/diagnose", 200), ("GET", "/readyz", 200)} <= access, access
    assert not [r for r in records if r["level"] in ("ERROR", "CRITICAL")], "errors logged"


def test_a_mounted_models_folder_and_faultdx_settings_are_served(image: dict, tmp_path: Path) -> None:
    models = tmp_path / "models"
    site = models / "site-model"
    shutil.copytree(ROOT / "models" / SHIPPED_MODEL, site)
    config = json.loads((site / "config.json").read_text())
    (site / "config.json").write_text(json.dumps(config | {"name": "site-model"}))
    for folder in (tmp_path, models, site):
        folder.chmod(0o755)  # readable by the image's user 10001
    settings = {"FAULTDX_MODELS": "/models", "FAULTDX_MODEL": "site-model", "FAULTDX_API_KEY": API_KEY,
                "FAULTDX_MAX_BODY_BYTES": "200000", "FAULTDX_LOG_JSON": "false"}
    container = _run("settings", env=settings, volumes=(f"{models}:/models:ro",))
    try:
        url = container.url
        assert httpx.get(f"{url}/readyz", timeout=10).json()["models"] == ["site-model"]
        small = {"signals": [_signal(0.5)], "sampling_rate": 12000}
        assert httpx.post(f"{url}/v1/diagnose", json=small, timeout=60).status_code == 401  # FAULTDX_API_KEY
        answered = httpx.post(f"{url}/v1/diagnose", json=small, timeout=60, headers={"X-API-Key": API_KEY})
        assert answered.status_code == 200 and answered.json()["model"]["name"] == "site-model", answered.text
        large = {"signals": [_signal(4.0)], "sampling_rate": 12000}  # ~1 MB of JSON > FAULTDX_MAX_BODY_BYTES
        refused = httpx.post(f"{url}/v1/diagnose", json=large, timeout=60, headers={"X-API-Key": API_KEY})
        assert refused.status_code == 413, refused.text
        assert not container.logs().lstrip().startswith("{"), "FAULTDX_LOG_JSON=false: plain-text logs"
    finally:
        _remove(container)


def _compose_config(env: dict[str, str], path: Path = COMPOSE_FILE) -> subprocess.CompletedProcess:
    tool = shutil.which("podman-compose", path=str(Path(sys.executable).parent) + ":" + TOOL_PATH)
    _require(tool is not None, "podman-compose not found: install the dev extras")
    return subprocess.run([tool, "-f", str(path), "config"], cwd=path.parent, capture_output=True, text=True,
                          timeout=60, env=PODMAN_ENV | env)


def test_compose_file_is_read_by_podman_compose_and_matches_the_built_image(image: dict, tmp_path) -> None:
    done = _compose_config({"FAULTDX_PUBLISH_PORT": "18000", "FAULTDX_API_KEY": "from-the-shell"})
    assert done.returncode == 0, done.stderr[-3000:]
    service = yaml.safe_load(done.stdout)["services"]["faultdx"]
    build = service["build"]
    assert (Path(build["context"]) / build["dockerfile"]).resolve() == DOCKER_DIR / "Dockerfile"
    env_list = json.loads(_inspect(IMAGE, "{{json .Config.Env}}", "image"))
    image_env = dict(item.split("=", 1) for item in env_list)
    assert service["ports"] == [f"18000:{image_env['FAULTDX_PORT']}"]  # variables substituted from the shell
    assert service["environment"]["FAULTDX_API_KEY"] is None  # passed through from the shell at run time
    assert f"models:{image_env['FAULTDX_MODELS']}" in service["volumes"]
    assert f":{image_env['FAULTDX_PORT']}/readyz" in service["healthcheck"]["test"][-1]
    # the parser does refuse a broken file (a volume no top-level entry defines), or the check proves nothing
    broken = tmp_path / "compose.yaml"
    text = COMPOSE_FILE.read_text()
    broken.write_text(text.replace("models:/opt/faultdx/models", "nowhere:/opt/faultdx/models", 1))
    refused = _compose_config({}, broken)
    assert refused.returncode != 0 and "nowhere" in refused.stderr, refused.stderr[-2000:]
