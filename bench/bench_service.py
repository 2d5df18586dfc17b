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
    batched_windows: float = 0.0  # windows and forward passes the server counted meanwhile
    batches: float = 0.0

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


async def _load(
    port: int, payloads: list[bytes], windows: int, concurrency: int, seconds: float, phase: Phase
):
    warm = time.perf_counter() + 0.2  # connect and fill the pipeline; not counted
    await asyncio.gather(*(_client(port, payloads, windows, warm, Phase(), i) for i in range(concurrency)))
    start = time.perf_counter()
    deadline = start + seconds
    await asyncio.gather(*(_client(port, payloads, windows, deadline, phase, i) for i in range(concurrency)))
    phase.seconds += time.perf_counter() - start


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


def load(server: Server, payloads: list[bytes], windows: int, concurrency: int, seconds: float, phase: Phase):
    """Run one round of load and add what it measured to ``phase``."""
    cpu, batches = thread_cpu(server.proc.pid), server.batch_totals()
    asyncio.run(_load(server.port, payloads, windows, concurrency, seconds, phase))
    cpu_after, batches_after = thread_cpu(server.proc.pid), server.batch_totals()
    phase.loop_cpu += cpu_after[0] - cpu[0]
    phase.other_cpu += cpu_after[1] - cpu[1]
    phase.batched_windows += batches_after[0] - batches[0]
    phase.batches += batches_after[1] - batches[1]


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

    def batch_totals(self) -> tuple[float, float]:
        """Windows and forward passes so far (from /metrics)."""
        text = httpx.get(self.url + "/metrics").text
        total = sum(float(m) for m in re.findall(r"^faultdx_batch_windows_sum\{.*\} (\S+)$", text, re.M))
        count = sum(float(m) for m in re.findall(r"^faultdx_batch_windows_count\{.*\} (\S+)$", text, re.M))
        return total, count

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
    parser.add_argument("--rounds", type=int, default=4, help="interleaved rounds each phase is spread over")
    parser.add_argument("--windows-per-request", type=int, default=8, help="k of the /v2 binary requests")
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    k, c, sec = args.windows_per_request, args.concurrency, args.seconds
    x = signals(64)
    servers = [Server(args.model, {}), Server(args.model, {"FAULTDX_MAX_BATCH": "1"})]
    batching, nobatch = servers
    try:
        name = httpx.get(batching.url + "/v1/models").json()["default"]
        layers = list(httpx.get(f"{batching.url}/v1/models/{name}").json()["slope_layers"])
        v1, v1s = v1_payloads(x, False), v1_payloads(x, True)
        v2, v2s = v2_payloads(name, x, k, []), v2_payloads(name, x, k, layers)
        plan = {  # name: (server, requests, windows per request, concurrency)
            "lat": (batching, v1, 1, 1),
            "lat_s": (batching, v1s, 1, 1),
            "v1": (batching, v1, 1, c),
            "v1s": (batching, v1s, 1, c),
            "v2": (batching, v2, k, c),
            "v2s": (batching, v2s, k, c),
            "nb_v1": (nobatch, v1, 1, c),
            "nb_v2": (nobatch, v2, k, c),
        }
        phases = {key: Phase() for key in plan}
        for _ in range(args.rounds):  # interleaved: drifting load from other processes hits every phase alike
            for key, (server, payloads, windows, concurrency) in plan.items():
                load(server, payloads, windows, concurrency, sec / args.rounds, phases[key])
    finally:
        for server in servers:
            server.close()
    lat, lat_s, v1_b, v1s_b, v2_b, v2s_b, v1_nb, v2_nb = phases.values()
    errors = sum(p.errors for p in phases.values())

    def ok(good: bool) -> str:
        return "yes" if good else "NO"

    def rate(p: Phase) -> str:
        return f"{p.windows_per_s:,.0f} windows/s"

    def cpu(p: Phase) -> str:
        loop, forward = p.cpu_ms_per_window()
        return f"{loop:.2f} + {forward:.2f}"

    def gain(a: Phase, b: Phase) -> float:
        return a.windows_per_s / max(b.windows_per_s, 1e-9)

    def per_pass(p: Phase) -> float:
        return p.batched_windows / max(p.batches, 1)

    slopes_lat = lat_s.pct(50) / lat.pct(50)
    slopes_v2 = v2_b.windows_per_s / v2s_b.windows_per_s
    slopes_v1 = v1_b.windows_per_s / v1s_b.windows_per_s
    rows = [
        ("c=1, 1 window, /v1 JSON: p50 latency", f"{lat.pct(50):.2f} ms", "<= 5 ms", ok(lat.pct(50) <= 5)),
        ("c=1, 1 window, /v1 JSON: p99 latency", f"{lat.pct(99):.2f} ms", "<= 20 ms", ok(lat.pct(99) <= 20)),
        (
            f"c={c}, {k} windows/request, /v2 binary, batching",
            rate(v2_b),
            ">= 3,000",
            ok(v2_b.windows_per_s >= 3000),
        ),
        (f"c={c}, {k} windows/request, /v2 binary, no batching", rate(v2_nb), "", ""),
        (f"c={c}, 1 window/request, /v1 JSON, batching", rate(v1_b), "", ""),
        (f"c={c}, 1 window/request, /v1 JSON, no batching", rate(v1_nb), "", ""),
        (
            "batching gain: /v2 binary | /v1 JSON",
            f"{gain(v2_b, v2_nb):.1f}x | {gain(v1_b, v1_nb):.1f}x",
            "",
            "",
        ),
        (
            f"mean windows per forward pass, c={c}: /v2 | /v1",
            f"{per_pass(v2_b):.1f} | {per_pass(v1_b):.1f}",
            "",
            "",
        ),
        (
            "slopes on/off: c=1 p50 latency, /v1 JSON",
            f"{slopes_lat:.2f}x ({lat_s.pct(50):.2f} ms)",
            "<= 1.3x",
            ok(slopes_lat <= 1.3),
        ),
        (
            f"slopes on/off: c={c} time per window, /v2 binary",
            f"{slopes_v2:.2f}x ({rate(v2s_b)})",
            "<= 1.3x",
            ok(slopes_v2 <= 1.3),
        ),
        (f"slopes on/off: c={c} time per window, /v1 JSON", f"{slopes_v1:.2f}x ({rate(v1s_b)})", "", ""),
        ("server CPU ms/window, event loop + forward: c=1 /v1", cpu(lat), "", ""),
        (f"server CPU ms/window, event loop + forward: c={c} /v1", cpu(v1_b), "", ""),
        (f"server CPU ms/window, event loop + forward: c={c} /v2", cpu(v2_b), "", ""),
        (f"server CPU ms/window, event loop + forward: c={c} /v2 slopes", cpu(v2s_b), "", ""),
        ("errors (non-200 or broken connection), all phases", str(errors), "0", ok(errors == 0)),
    ]
    print(
        f"\nfaultdx service bench: model {name}, {len(os.sched_getaffinity(0))} CPU cores, {sec:g} s per "
        f"phase in {args.rounds} interleaved rounds, "
        f"{statistics.mean(len(p) for p in v1) / 1024:.0f} KiB per /v1 request, "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    width = max(len(r[0]) for r in rows)
    print(f"{'measurement':<{width}}  {'value':>30}  {'target':>9}  ok")
    for label, value, target, good in rows:
        print(f"{label:<{width}}  {value:>30}  {target:>9}  {good}")


if __name__ == "__main__":
    main()
