"""Ray for the tests of `faultdx score --engine ray`: a clear skip without the extra (a failure in CI), and
the TCP sockets this process and its descendants listen on (``ss -ltnpH``)."""

from __future__ import annotations

import ipaddress
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

WHY = "needs Ray Data, the `scale` extra: pip install -e '.[scale]'"


def require_ray() -> None:
    """Skip the calling test module without Ray Data (outside CI); with CI set, fail: it must be installed."""
    try:
        import ray  # noqa: F401
        import ray.data  # noqa: F401
    except ImportError as err:
        if os.environ.get("CI"):
            pytest.fail(f"{WHY} (CI installs it): {err}", pytrace=False)
        pytest.skip(WHY, allow_module_level=True)


def descendants(root: int) -> set[int]:
    """``root`` and every process below it (from /proc: parent of each)."""
    parent: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # gone meanwhile
        parent[int(stat.parent.name)] = int(fields[1])
    found, grew = {root}, True
    while grew:
        below = {pid for pid, up in parent.items() if up in found} - found
        found |= below
        grew = bool(below)
    return found


def listening(pids: set[int]) -> list[tuple[str, str, int]]:
    """(address, process name, pid) of every listening TCP socket of ``pids`` (``ss -ltnpH``)."""
    if shutil.which("ss") is None:
        if os.environ.get("CI"):
            pytest.fail("`ss` (iproute2) is needed to list listening sockets", pytrace=False)
        pytest.skip("`ss` (iproute2) is needed to list listening sockets")
    out = subprocess.run(["ss", "-ltnpH"], capture_output=True, text=True, timeout=30, check=True).stdout
    sockets = []
    for line in out.splitlines():
        local = line.split()[3]
        for name, pid in re.findall(r'\("([^"]+)",pid=(\d+)', line):
            if int(pid) in pids:
                sockets.append((local.rsplit(":", 1)[0], name, int(pid)))
    return sockets


def is_loopback(address: str) -> bool:
    """``127.0.0.1``, ``[::1]``, ``[::ffff:127.0.0.1]`` (an IPv4 loopback on a dual-stack socket) — not
    ``*``, ``0.0.0.0``, ``[::]`` or the machine's address."""
    text = address.strip("[]").split("%")[0]
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return False
    mapped = getattr(ip, "ipv4_mapped", None)
    return (mapped or ip).is_loopback
