"""Measured figures as JSON in ``results/``; every table in README, docs and model cards comes from them.

Each file records what was measured and how to measure it again: the git commit, the exact command, the
machine (CPU, cores, torch build) and the date. ``write_result`` is the only writer, ``read_result`` the only
reader.
"""

from __future__ import annotations

import json
import os
import platform
import shlex
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from faultdx.paths import PROJECT_ROOT, results_dir


def provenance(command: str | None = None) -> dict[str, Any]:
    """Commit, command, machine and date of a measurement made by this process."""
    try:
        done = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=PROJECT_ROOT,
                              capture_output=True, text=True, timeout=10)
        commit = done.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        commit = None
    import torch

    return {
        "commit": commit,
        "command": command or shlex.join([Path(sys.argv[0]).name, *sys.argv[1:]]),
        "machine": {
            "cpu": platform.processor() or platform.machine(),
            "cores": os.cpu_count(),
            "threads": torch.get_num_threads(),
            "torch": torch.__version__,
            "python": platform.python_version(),
            "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
            # other processes' load moves every timing on a shared machine: recorded beside the figures
            "load_average_1min": round(os.getloadavg()[0], 2),
        },
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def write_result(name: str, data: dict[str, Any], *, command: str | None = None) -> Path:
    """Write ``results/<name>.json`` = provenance + ``data`` (atomically); return its path."""
    from faultdx.atomic import write_text_atomic

    path = results_dir() / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"name": name, **provenance(command), "data": data}
    write_text_atomic(path, json.dumps(payload, indent=1, sort_keys=False, allow_nan=False) + "\n")
    return path


def read_result(name: str) -> dict[str, Any] | None:
    """The payload of ``results/<name>.json`` (None when it has not been measured)."""
    path = results_dir() / f"{name}.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None
