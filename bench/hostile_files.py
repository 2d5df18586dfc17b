"""Time and peak memory of reading the hostile files of issue 14 (items 1, 2, 7), each in a fresh process.

    python bench/hostile_files.py [--level reader|service] [--cap-gb 6] [--timeout 120] [--write]

``reader``: ``read_signal(data, filename=...)`` as the upload routes call it (with the reader's default
budget); ``service``: ``POST /v1/diagnose/file`` and ``/v1/envelope/file`` on the in-process app with a small
untrained model. Each case runs in its own process; its peak RSS is the process's ``ru_maxrss`` (the baseline
of an idle process of the same kind is printed too). A watchdog kills a case above ``--cap-gb`` of RSS or past
``--timeout`` seconds, so that a run on an unfixed checkout cannot take the machine down. ``--write`` records
the table in ``results/hostile_files.json``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.hostile_files import HOSTILE  # noqa: E402

READER = """
import json, resource, sys, time
from pathlib import Path
from faultdx.data.readers import read_signal
path, name = Path(sys.argv[1]), sys.argv[2]
data = path.read_bytes()
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t = time.perf_counter()
try:
    read_signal(data, filename=name, sampling_rate=12000)
    outcome = "read"
except Exception as exc:
    outcome = f"{type(exc).__name__}: {str(exc)[:90]}"
seconds = time.perf_counter() - t
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"seconds": seconds, "base_mb": base / 1024, "peak_mb": peak / 1024, "outcome": outcome}))
"""

SERVICE = """
import json, resource, sys, time, tempfile
from pathlib import Path
from fastapi.testclient import TestClient
from faultdx_service.main import create_app
from faultdx_service.settings import Settings
from tests.service_support import make_model_dir
path, name, route = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
data = path.read_bytes()
model = make_model_dir(Path(tempfile.mkdtemp()) / "tiny-aprelu")
app = create_app(Settings(model=[str(model)], api_key=None, log_json=False))
with TestClient(app, raise_server_exceptions=False) as client:  # a server error is a 500, as over HTTP
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t = time.perf_counter()
    r = client.post(route, files={"file": (name, data)}, data={"sampling_rate": "12000"})
    seconds = time.perf_counter() - t
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    outcome = f"{r.status_code} {r.text[:90]}"
print(json.dumps({"seconds": seconds, "base_mb": base / 1024, "peak_mb": peak / 1024, "outcome": outcome}))
"""


def _rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def run_case(code: str, args: list[str], cap_mb: float, timeout: float) -> dict:
    """One case in a child process, watched: its JSON line, or why it was stopped."""
    root = Path(__file__).resolve().parent.parent
    proc = subprocess.Popen([sys.executable, "-c", code, *args], cwd=root, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    start, watched = time.monotonic(), 0.0
    while proc.poll() is None:
        watched = max(watched, _rss_mb(proc.pid))
        elapsed = time.monotonic() - start
        if watched > cap_mb or elapsed > timeout:
            proc.kill()
            proc.wait()
            why = f"killed by the watchdog: RSS {watched:.0f} MB" if watched > cap_mb else "killed: timeout"
            return {"seconds": elapsed, "base_mb": None, "peak_mb": watched, "outcome": why}
        time.sleep(0.02)
    out, err = proc.communicate()
    if proc.returncode != 0:
        return {"seconds": time.monotonic() - start, "base_mb": None, "peak_mb": watched,
                "outcome": f"exit {proc.returncode}: {err.strip().splitlines()[-1][:90] if err else ''}"}
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--level", choices=["reader", "service"], default="reader")
    parser.add_argument("--cases", nargs="*", default=list(HOSTILE))
    parser.add_argument("--cap-gb", type=float, default=6.0)
    parser.add_argument("--timeout", type=float, default=120.0)
    parser.add_argument("--write", action="store_true", help="record the table in results/hostile_files.json")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for case in args.cases:
            name, build = HOSTILE[case]
            path = Path(tmp) / case
            path.write_bytes(build())
            routes = ["/v1/diagnose/file", "/v1/envelope/file"] if args.level == "service" else [None]
            for route in routes:
                code, extra = (READER, []) if route is None else (SERVICE, [route])
                r = run_case(code, [str(path), name, *extra], args.cap_gb * 1024, args.timeout)
                row = {"case": case, "bytes": path.stat().st_size, "route": route, **r}
                rows.append(row)
                base = "-" if r["base_mb"] is None else f"{r['base_mb']:.0f}"
                print(f"{case:<28} {route or 'read_signal':<18} {row['bytes']:>9} B  {r['seconds']:7.2f} s  "
                      f"peak {r['peak_mb']:7.0f} MB (base {base})  {r['outcome']}", flush=True)
    if args.write:
        from faultdx.results import write_result

        print(write_result(f"hostile_files_{args.level}", {"level": args.level, "rows": rows}))


if __name__ == "__main__":
    main()
