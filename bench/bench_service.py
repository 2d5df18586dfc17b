"""Diagnosis service over loopback: latency, throughput with and without micro-batching, cost of slopes.

Starts ``faultdx serve`` with the shipped model in a subprocess (once with the default micro-batching, once
with ``FAULTDX_MAX_BATCH=1``: one window per forward pass) and drives it from this process over 127.0.0.1 with
a lean asyncio HTTP/1.1 keep-alive client (pre-encoded requests: the client spends little of the shared CPU).
Every phase is bounded in time; every non-200 answer or broken connection counts as an error.

Requests: ``/v1/diagnose`` JSON (one signal of exactly one 2048-sample window at 12 kHz, numbers written with
float32's 7 significant digits), and the Open
Inference Protocol ``/v2/models/<name>/infer`` with binary FP32 tensors ``[k, 2048]`` (k windows per request).

    python bench/bench_service.py [--model cwru12k-aprelu] [--seconds 4] [--windows-per-request 8]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
WINDOW = 2048
RATE = 12000
TARGETS = {"p50_ms": 5.0, "p99_ms": 20.0, "windows_per_s": 3000.0, "slopes_ratio": 1.3}


@dataclass
class Phase:
    """What one load phase measured."""

    requests: int = 0
    windows: int = 0
    errors: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    loop_cpu: float = 0.0  # server CPU seconds: event-loop thread | every other thread (forward pass)
    other_cpu: float = 0.0

    @property
    def windows_per_s(self) -> float:
        return self.windows / self.seconds if self.seconds else 0.0

    def cpu_ms_per_window(self) -> tuple[float, float]:
        n = max(self.windows, 1)
        return self.loop_cpu / n * 1e3, self.other_cpu / n * 1e3

    def pct(self, q: float) -> float:
        return float(np.percentile(self.latencies, q) * 1e3) if self.latencies else float("nan")


def http_post(path: str, body: bytes, headers: dict[str, str] | None = None) -> bytes:
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", f"Content-Length: {len(body)}"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


_LENGTH = re.compile(rb"(?i)\r\ncontent-length: *(\d+)")


async def _exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, payload: bytes) -> int:
    writer.write(payload)
    head = await reader.readuntil(b"\r\n\r\n")
    await reader.readexactly(int(_LENGTH.search(head).group(1)))
    return int(head[9:12])


async def _client(port: int, payloads: list[bytes], windows: int, deadline: float, phase: Phase, offset: int):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    i = offset
    try:
        while time.perf_counter() < deadline:
            start = time.perf_counter()
            try:
                status = await _exchange(reader, writer, payloads[i % len(payloads)])
            except (OSError, asyncio.IncompleteReadError, AttributeError):
                phase.errors += 1
                writer.close()
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                continue
            phase.latencies.append(time.perf_counter() - start)
            phase.requests += 1
            if status == 200:
                phase.windows += windows
            else:
                phase.errors += 1
            i += 1
    finally:
        writer.close()


async def _load(port: int, payloads: list[bytes], windows: int, concurrency: int, seconds: float) -> Phase:
    phase = Phase()
    warm = time.perf_counter() + min(1.0, seconds / 4)  # warm-up, not counted
    await asyncio.gather(*(_client(port, payloads, windows, warm, Phase(), i) for i in range(concurrency)))
    start = time.perf_counter()
    deadline = start + seconds
    await asyncio.gather(*(_client(port, payloads, windows, deadline, phase, i) for i in range(concurrency)))
    phase.seconds = time.perf_counter() - start
    return phase


def thread_cpu(pid: int) -> tuple[float, float]:
    """CPU seconds of a process's main thread (uvicorn's event loop) and of all its other threads (Linux)."""
    tick = os.sysconf("SC_CLK_TCK")
    main = other = 0.0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # the thread ended
            continue
        cpu = (int(fields[11]) + int(fields[12])) / tick  # utime + stime
        if int(task.name) == pid:
            main += cpu
        else:
            other += cpu
    return main, other


def load(server: Server, payloads: list[bytes], windows: int, concurrency: int, seconds: float) -> Phase:
    before = thread_cpu(server.proc.pid)
    phase = asyncio.run(_load(server.port, payloads, windows, concurrency, seconds))
    after = thread_cpu(server.proc.pid)
    phase.loop_cpu, phase.other_cpu = after[0] - before[0], after[1] - before[1]
    return phase


def signals(count: int) -> np.ndarray:
    """``[count, 2048]`` windows of simulated 12 kHz vibration, every class in turn."""
    from faultdx.data.base import CWRU_10_CLASSES
    from faultdx.data.synthetic import simulate

    return np.stack(
        [
            simulate(CWRU_10_CLASSES[i % 10], duration_s=WINDOW / RATE + 0.01, seed=i)[:WINDOW]
            for i in range(count)
        ]
    )


def v1_payloads(x: np.ndarray, slopes: bool) -> list[bytes]:
    out = []
    for w in x:
        numbers = ",".join(f"{v:.7g}" for v in w.tolist())  # float32 precision, as a sensor client would send
        body = f'{{"signals": [{numbers}], "sampling_rate": {RATE}, "include_slopes": {json.dumps(slopes)}}}'
        out.append(http_post("/v1/diagnose", body.encode(), {"Content-Type": "application/json"}))
    return out


def v2_payloads(model: str, x: np.ndarray, k: int, slope_layers: list[str]) -> list[bytes]:
    out = []
    for i in range(0, len(x) - k + 1, k):
        raw = np.ascontiguousarray(x[i : i + k], "<f4").tobytes()
        outputs = [
            {"name": n, "parameters": {"binary_data": True}}
            for n in ["probabilities", "label", *(f"slopes.{s}" for s in slope_layers)]
        ]
        head = json.dumps(
            {
                "inputs": [
                    {
                        "name": "signal",
                        "shape": [k, WINDOW],
                        "datatype": "FP32",
                        "parameters": {"binary_data_size": len(raw)},
                    }
                ],
                "outputs": outputs,
            }
        ).encode()
        out.append(
            http_post(
                f"/v2/models/{model}/infer", head + raw, {"Inference-Header-Content-Length": str(len(head))}
            )
        )
    return out


class Server:
    """``faultdx serve`` in a subprocess on a free port."""

    def __init__(self, model: str, env: dict[str, str]) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        cmd = [
            sys.executable,
            "-c",
            "from faultdx.cli import main; main()",
            "serve",
            "--model",
            model,
            "--port",
            str(self.port),
        ]
        full_env = {**os.environ, "FAULTDX_LOG_LEVEL": "warning", **env}
        full_env.pop("PROMETHEUS_MULTIPROC_DIR", None)
        self.proc = subprocess.Popen(cmd, env=full_env, cwd=ROOT)
        self.url = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(self.url + "/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.close()
                raise SystemExit("the server did not start")
            time.sleep(0.2)

    def batch_mean(self) -> float:
        """Mean windows per forward pass so far (from /metrics)."""
        text = httpx.get(self.url + "/metrics").text
        total = sum(float(m) for m in re.findall(r"^faultdx_batch_windows_sum\{.*\} (\S+)$", text, re.M))
        count = sum(float(m) for m in re.findall(r"^faultdx_batch_windows_count\{.*\} (\S+)$", text, re.M))
        return total / count if count else float("nan")

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def _cpu(phase: Phase) -> str:
    loop, forward = phase.cpu_ms_per_window()
    return f"{loop:.2f} + {forward:.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="cwru12k-aprelu")
    parser.add_argument("--seconds", type=float, default=4.0, help="measured time per phase")
    parser.add_argument("--windows-per-request", type=int, default=8, help="k of the /v2 binary requests")
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    k, c, sec = args.windows_per_request, args.concurrency, args.seconds
    x = signals(64)
    rows: list[tuple[str, str, str, str]] = []
    errors = 0

    server = Server(args.model, {})
    try:
        models = httpx.get(server.url + "/v1/models").json()
        name = models["default"]
        layers = list(httpx.get(f"{server.url}/v1/models/{name}").json()["slope_layers"])
        v1, v1s = v1_payloads(x, False), v1_payloads(x, True)
        v2, v2s = v2_payloads(name, x, k, []), v2_payloads(name, x, k, layers)
        lat = load(server, v1, 1, 1, sec)
        lat_s = load(server, v1s, 1, 1, sec)
        thr_v1 = load(server, v1, 1, c, sec)
        thr_v1s = load(server, v1s, 1, c, sec)
        mean_v1 = server.batch_mean()
        thr_v2 = load(server, v2, k, c, sec)
        thr_v2s = load(server, v2s, k, c, sec)
        mean_all = server.batch_mean()
    finally:
        server.close()
    nobatch = Server(args.model, {"FAULTDX_MAX_BATCH": "1"})
    try:
        nb_v1 = load(nobatch, v1, 1, c, sec)
        nb_v2 = load(nobatch, v2, k, c, sec)
    finally:
        nobatch.close()
    errors = sum(p.errors for p in (lat, lat_s, thr_v1, thr_v1s, thr_v2, thr_v2s, nb_v1, nb_v2))

    def ok(value: float, target: float, higher: bool = False) -> str:
        return "yes" if (value >= target if higher else value <= target) else "NO"

    ratio_lat = lat_s.pct(50) / lat.pct(50)
    ratio_thr = thr_v2.windows_per_s / thr_v2s.windows_per_s
    rows = [
        ("c=1, 1 window, /v1 JSON: p50 latency", f"{lat.pct(50):.2f} ms", "<= 5 ms", ok(lat.pct(50), 5)),
        ("c=1, 1 window, /v1 JSON: p99 latency", f"{lat.pct(99):.2f} ms", "<= 20 ms", ok(lat.pct(99), 20)),
        (f"c={c}, 1 window/request, /v1 JSON, batching", f"{thr_v1.windows_per_s:,.0f} windows/s", "", ""),
        (f"c={c}, 1 window/request, /v1 JSON, no batching", f"{nb_v1.windows_per_s:,.0f} windows/s", "", ""),
        (
            f"c={c}, {k} windows/request, /v2 binary, batching",
            f"{thr_v2.windows_per_s:,.0f} windows/s",
            ">= 3,000",
            ok(thr_v2.windows_per_s, 3000, higher=True),
        ),
        (
            f"c={c}, {k} windows/request, /v2 binary, no batching",
            f"{nb_v2.windows_per_s:,.0f} windows/s",
            "",
            "",
        ),
        (
            "batching gain (/v2 binary | /v1 JSON)",
            f"{thr_v2.windows_per_s / nb_v2.windows_per_s:.1f}x | "
            f"{thr_v1.windows_per_s / nb_v1.windows_per_s:.1f}x",
            "",
            "",
        ),
        (
            "slopes on/off: c=1 p50 latency, /v1 JSON",
            f"{ratio_lat:.2f}x ({lat_s.pct(50):.2f} ms)",
            "<= 1.3x",
            ok(ratio_lat, 1.3),
        ),
        (
            f"slopes on/off: c={c} time per window, /v2 binary",
            f"{ratio_thr:.2f}x ({thr_v2s.windows_per_s:,.0f} windows/s)",
            "<= 1.3x",
            ok(ratio_thr, 1.3),
        ),
        (
            f"slopes on/off: c={c} time per window, /v1 JSON",
            f"{thr_v1.windows_per_s / thr_v1s.windows_per_s:.2f}x ({thr_v1s.windows_per_s:,.0f} windows/s)",
            "",
            "",
        ),
        (
            "mean windows per forward pass (batching: /v1 phases | all)",
            f"{mean_v1:.1f} | {mean_all:.1f}",
            "",
            "",
        ),
        ("server CPU ms/window, loop + forward: c=1 /v1 JSON", _cpu(lat), "", ""),
        (f"server CPU ms/window, loop + forward: c={c} /v1 JSON", _cpu(thr_v1), "", ""),
        (f"server CPU ms/window, loop + forward: c={c} /v2 binary", _cpu(thr_v2), "", ""),
        (f"server CPU ms/window, loop + forward: c={c} /v2 binary, slopes", _cpu(thr_v2s), "", ""),
        ("errors (non-200 or broken connection), all phases", str(errors), "0", ok(errors, 0)),
    ]
    cores = len(os.sched_getaffinity(0))
    print(
        f"\nfaultdx service bench: model {name}, {cores} CPU cores, {sec:g} s per phase, "
        f"{statistics.mean([len(p) for p in v1]) / 1024:.0f} KiB per /v1 request, load avg "
        f"{os.getloadavg()[0]:.1f}"
    )
    width = max(len(r[0]) for r in rows)
    print(f"{'measurement':<{width}}  {'value':>28}  {'target':>9}  ok")
    for label, value, target, good in rows:
        print(f"{label:<{width}}  {value:>28}  {target:>9}  {good}")


if __name__ == "__main__":
    main()
