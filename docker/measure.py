"""Measure the CPU image built here with podman: build time cold and warm, image size, time to ready.

    .venv/bin/python docker/measure.py          # as root; about 10 minutes on 2 cores

1. cold: ``docker/build-local.sh --fresh-base --no-cache`` (Debian base from debootstrap, every layer
   rebuilt, every package downloaded: what a fresh CI machine pays);
2. warm: ``docker/build-local.sh`` again (base reused, layers cached: a rerun with unchanged sources);
3. ``podman run`` of the image until ``/readyz`` answers 200 (model loaded and warmed up).

Writes ``results/container.json`` (:func:`faultdx.results.write_result`), rendered into docs/deploy.md by
``faultdx results render``.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from faultdx.results import write_result

DOCKER_DIR = Path(__file__).resolve().parent
ENV = os.environ | {"CONTAINERS_CONF": str(DOCKER_DIR / "podman" / "containers.conf")}


def build(*flags: str) -> dict:
    """Run build-local.sh with ``flags``; its JSON report (what it did, seconds, bytes)."""
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.json"
        subprocess.run(["bash", str(DOCKER_DIR / "build-local.sh"), *flags, "--report", str(report)],
                       env=ENV, check=True, timeout=3600)
        return json.loads(report.read_text())


def seconds_to_ready(image: str, timeout: float = 300) -> float:
    """From ``podman run`` to ``/readyz`` 200, on a free loopback port of the host network."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    name = f"faultdx-measure-{os.getpid()}"
    start = time.monotonic()
    subprocess.run(["podman", "run", "--detach", "--rm", "--name", name, "--network=host",
                    "--env=FAULTDX_HOST=127.0.0.1", f"--env=FAULTDX_PORT={port}", image],
                   env=ENV, check=True, capture_output=True, timeout=120)
    try:
        while time.monotonic() - start < timeout:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5) as response:
                    if response.status == 200:
                        return round(time.monotonic() - start, 1)
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.2)
        raise TimeoutError(f"{image} not ready in {timeout} s")
    finally:
        subprocess.run(["podman", "rm", "--force", "--time", "0", name], env=ENV, capture_output=True,
                       timeout=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-cold", action="store_true", help="only the warm rebuild and the start-up")
    args = parser.parse_args()
    cold = None if args.skip_cold else build("--fresh-base", "--no-cache")
    warm = build()
    data = {"image": warm["image"], "base_image": warm["base_image"], "image_bytes": warm["image_bytes"],
            "base_bytes": warm["base_bytes"], "cold": cold, "warm": warm,
            "ready_s": seconds_to_ready(warm["image"])}
    print(json.dumps(data, indent=1))
    print(write_result("container", data, command=shlex.join(["python", "docker/measure.py", *sys.argv[1:]])))


if __name__ == "__main__":
    main()
