"""The CPU image's build (``docker/build-local.sh``), started in the background as soon as the session has
collected a container test, so that its minutes (a Debian base, torch and every dependency from the
registries) pass while the other tests run; the container tests, moved to the end of the session, then
find the image built (:func:`finished`). A session that collects no container test builds nothing."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from tests.docker_spec import DOCKER_DIR, ROOT

PODMAN_ENV = os.environ | {"CONTAINERS_CONF": str(DOCKER_DIR / "podman" / "containers.conf")}
TOOL_PATH = os.environ.get("PATH", "") + ":/usr/sbin:/sbin"
TOOLS = ("podman", "debootstrap", "runc")
# the build takes what CPU and disk the tests leave idle (they wait on servers, brokers and subprocesses much
# of the time); at normal priority it slowed the rest of the session by about two minutes on 2 cores
LOW_PRIORITY = [arg for tool in (["nice", "-n", "19"], ["ionice", "-c", "3"]) if shutil.which(tool[0])
                for arg in tool]


@dataclass
class Build:
    """A build running (or done) in the background: its process, logs and JSON report."""

    process: subprocess.Popen
    folder: Path
    started: float

    @property
    def report(self) -> Path:
        return self.folder / "build.json"

    def output(self) -> tuple[str, str]:
        return ((self.folder / "stdout.log").read_text(errors="replace"),
                (self.folder / "stderr.log").read_text(errors="replace"))


_running: Build | None = None


def missing_tools() -> list[str]:
    return [tool for tool in TOOLS if not shutil.which(tool, path=TOOL_PATH)]


def can_build() -> bool:
    """Whether this machine can build the image (root, podman, debootstrap, runc)."""
    return os.geteuid() == 0 and not missing_tools()


def start() -> Build | None:
    """Start the build unless it runs already or cannot run here; the build in progress."""
    global _running
    if _running is None and can_build():
        folder = Path(tempfile.mkdtemp(prefix="faultdx-image-build-"))
        with (folder / "stdout.log").open("wb") as out, (folder / "stderr.log").open("wb") as err:
            command = ["bash", str(DOCKER_DIR / "build-local.sh"), "--report", str(folder / "build.json")]
            process = subprocess.Popen(
                [*LOW_PRIORITY, *command], cwd=ROOT, env=PODMAN_ENV, stdout=out, stderr=err,
                stdin=subprocess.DEVNULL)
        _running = Build(process, folder, time.monotonic())
    return _running


def finished(timeout_s: float) -> Build:
    """The build, waited for (started now if the session did not): ``TimeoutError`` past ``timeout_s``
    from its start."""
    build = start()
    if build is None:
        raise RuntimeError(f"the image cannot be built here: root and {', '.join(TOOLS)} are needed")
    left = timeout_s - (time.monotonic() - build.started)
    try:
        build.process.wait(timeout=max(left, 1.0))
    except subprocess.TimeoutExpired:
        stop()
        raise TimeoutError(f"build-local.sh ran past {timeout_s:.0f} s") from None
    return build


def stop() -> None:
    """End a build still running (an interrupted session leaves no podman build behind)."""
    if _running is not None and _running.process.poll() is None:
        _running.process.terminate()
        try:
            _running.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            _running.process.kill()
