"""Small-request latency and server memory with one hostile client beside eight well-behaved ones.

Starts ``faultdx serve`` (the shipped model, default settings: one worker per core) on 127.0.0.1 and drives
it from this process: 8 clients send small requests (``/v1/diagnose``, one 2048-sample window at 12 kHz as
JSON, rpm and bearing given) back to back on keep-alive connections, while one hostile client repeats one kind
of request, each on a fresh connection:

- ``bomb``: a 2^26-sample compressed ``.mat`` (a quarter of a megabyte on the wire) to ``/v1/envelope/file``;
- ``lying_mat``: a ``.mat`` whose header says 4,096 samples but whose data inflates to 268 MB (260 KB on the
  wire) to ``/v1/diagnose/file`` (issue 24 item 8);
- ``columns``: a one-row CSV with 100,000 columns to ``/v1/diagnose/file``;
- ``amplification``: 20,479 samples with ``window=2048, hop=10`` to ``/v1/diagnose`` (1,844 windows, the
  most framed samples the default budget allows from so few);
- ``v2_big``: the biggest ``/v2`` job the budget allows (2,048 binary FP32 windows);
- ``idle_flood``: ``--idle-connections`` connections (default 19,000, what one client process may open here)
  opened as fast as they are accepted and left idle, half of them with half a request line sent, from a
  process of its own (issue 24 item 5: 20,000 idle connections had used every file descriptor and stopped
  ``/healthz``). A ``/healthz``
  probe runs beside it every 50 ms; its answers and p99 are recorded.

Phase ``none`` runs the 8 clients alone. Every phase runs ``--seconds`` per round, the phases interleaved
round by round (``--rounds``), so the load of other processes hits all alike. Printed side by side: small-
request p50 / p99, their ratio to the ``none`` phase, the hostile client's answers, and the server's peak RSS
(sampled every 20 ms from /proc); written to ``results/hostile.json`` (:func:`faultdx.results.write_result`).
Targets (issue 14): small p99 at most 3x its value without the hostile client, server RSS under 1.5 GB.

    python bench/bench_hostile.py [--seconds 6] [--rounds 3] [--model hybrid-aprelu]
        [--idle-connections 19000]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from bench_service import BEARING, RATE, RPM, WINDOW, Server, http_post, send_loop, served_workers, signals

from faultdx.paths import DEFAULT_MODEL
from faultdx.results import write_result

CLIENTS = 8
TARGETS = {"p99_ratio": 3.0, "rss_mb": 1536.0}
LABELS = {
    "none": "none (8 small-request clients alone)",
    "bomb": "decompression bomb: 2^26-sample compressed .mat to /v1/envelope/file",
    "lying_mat": "lying .mat header: 4,096 samples declared, 268 MB inflated, to /v1/diagnose/file",
    "columns": "column blow-up: one-row CSV, 100,000 columns, to /v1/diagnose/file",
    "amplification": "window/hop amplification: 20,479 samples, window 2048, hop 10, /v1/diagnose",
    "v2_big": "big /v2 job: 2,048 binary FP32 windows",
    "idle_flood": "idle connections: up to {n:,} opened as fast as accepted, kept idle (half: half a line)",
}
IDLE = "idle_flood"


@dataclass
class Phase:
    """What one kind of hostile client did to the small requests, over all rounds."""

    latencies: list[float] = field(default_factory=list)
    small_errors: int = 0
    seconds: float = 0.0
    hostile: dict[str, int] = field(default_factory=dict)  # status (or "closed") → count
    hostile_latencies: list[float] = field(default_factory=list)
    healthz: dict[str, int] = field(default_factory=dict)  # /healthz probe: status (or "failed") → count
    healthz_latencies: list[float] = field(default_factory=list)
    idle_opened: int = 0  # idle_flood: connections opened (the server closes the oldest past its cap)
    rss_peak: int = 0  # bytes

    def pct(self, q: float, values: list[float] | None = None) -> float | None:
        values = self.latencies if values is None else values
        return float(np.percentile(values, q) * 1e3) if values else None


def multipart(fields: dict[str, str], filename: str, content: bytes) -> tuple[bytes, str]:
    """A ``multipart/form-data`` body with the form ``fields`` and one file."""
    boundary = uuid.uuid4().hex
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
             for k, v in fields.items()]
    parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
                 "Content-Type: application/octet-stream\r\n\r\n".encode() + content + b"\r\n")
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def _json_request(path: str, body: dict) -> bytes:
    return http_post(path, json.dumps(body).encode(), {"Content-Type": "application/json"})


def _closing(path: str, body: bytes, content_type: str, extra: dict[str, str] | None = None) -> bytes:
    return http_post(path, body, {"Content-Type": content_type, "Connection": "close", **(extra or {})})


def hostile_requests(model: str) -> dict[str, bytes]:
    """Each hostile kind's request as bytes on the wire."""
    import scipy.io

    zeros = np.zeros(1 << 26, np.float32)
    buf = io.BytesIO()
    scipy.io.savemat(buf, {"x": zeros}, do_compression=True)
    del zeros
    bomb, bomb_type = multipart({"sampling_rate": str(RATE), "rpm": str(RPM)}, "bomb.mat", buf.getvalue())
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests/ holds the hostile-file makers
    from tests.hostile_files import lying_mat

    lie, lie_type = multipart({"sampling_rate": str(RATE), "rpm": str(RPM)}, "lie.mat", lying_mat())
    columns = 100_000
    csv = (",".join(f"c{i}" for i in range(columns)) + "\n" + ",".join(["0"] * columns) + "\n").encode()
    wide, wide_type = multipart({"sampling_rate": str(RATE), "rpm": str(RPM)}, "wide.csv", csv)
    signal = np.resize(signals(10).reshape(-1), 20479)
    amplification = {"signals": [float(f"{v:.7g}") for v in signal], "sampling_rate": RATE, "window": WINDOW,
                     "hop": 10, "rpm": RPM, "bearing": BEARING}
    n = 2048
    data = np.resize(signals(10), (n, WINDOW)).astype("<f4").tobytes()
    head = json.dumps({"inputs": [{"name": "signal", "shape": [n, WINDOW], "datatype": "FP32",
                                   "parameters": {"binary_data_size": len(data)}}],
                       "parameters": {"rpm": RPM, "bearing": BEARING}}).encode()
    return {
        "bomb": _closing("/v1/envelope/file", bomb, bomb_type),
        "lying_mat": _closing("/v1/diagnose/file", lie, lie_type),
        "columns": _closing("/v1/diagnose/file", wide, wide_type),
        "amplification": _closing("/v1/diagnose", json.dumps(amplification).encode(), "application/json"),
        "v2_big": _closing(f"/v2/models/{model}/infer", head + data, "application/octet-stream",
                           {"Inference-Header-Content-Length": str(len(head))}),
    }


def small_requests() -> list[bytes]:
    """One-window /v1/diagnose requests (rpm and bearing given: no speed estimation)."""
    return [_json_request("/v1/diagnose", {"signals": [float(f"{v:.7g}") for v in w], "sampling_rate": RATE,
                                           "rpm": RPM, "bearing": BEARING}) for w in signals(10)]


async def _small(port: int, payloads: list[bytes], deadline: float, phase: Phase, offset: int) -> None:
    def answered(status: int, seconds: float) -> None:
        phase.latencies.append(seconds)
        phase.small_errors += status != 200

    def broken() -> None:
        phase.small_errors += 1

    await send_loop(port, payloads, deadline, offset, answered, broken)


async def _hostile(port: int, payload: bytes, deadline: float, phase: Phase) -> None:
    while time.perf_counter() < deadline:
        start = time.perf_counter()
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            writer.write(payload)
            head = await reader.readuntil(b"\r\n\r\n")
            await reader.read()  # Connection: close: the body runs to the end of the stream
            key = head[9:12].decode()
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            key = "closed"
        finally:
            writer.close()
        phase.hostile[key] = phase.hostile.get(key, 0) + 1
        phase.hostile_latencies.append(time.perf_counter() - start)


def rss(pid: int) -> int:
    """Resident bytes of the server and its child processes (Linux /proc)."""
    total = 0
    children = Path(f"/proc/{pid}/task/{pid}/children")
    for process in (pid, *(int(c) for c in (children.read_text().split() if children.exists() else []))):
        try:
            status = Path(f"/proc/{process}/status").read_text()
        except OSError:
            continue
        kib = next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS:"))
        total += int(kib) * 1024
    return total


async def _sample_rss(pid: int, deadline: float, phase: Phase) -> None:
    while time.perf_counter() < deadline:
        phase.rss_peak = max(phase.rss_peak, rss(pid))
        await asyncio.sleep(0.02)


async def _connect(port: int) -> asyncio.StreamWriter | None:
    try:
        return (await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 2.0))[1]
    except (OSError, TimeoutError):
        return None


async def _idle_flood(port: int, count: int, deadline: float, phase: Phase) -> None:
    """Open ``count`` connections, 500 at a time, as fast as they are accepted; leave them idle until
    ``deadline``."""
    held: list[asyncio.StreamWriter] = []
    try:
        while len(held) < count and time.perf_counter() < deadline:
            opened = await asyncio.gather(*(_connect(port) for _ in range(min(500, count - len(held)))))
            for writer in filter(None, opened):
                if len(held) % 2:
                    writer.write(b"GET /healthz HT")
                held.append(writer)
            phase.idle_opened += sum(w is not None for w in opened)
        await asyncio.sleep(max(0.0, deadline - time.perf_counter()))
    finally:
        for writer in held:
            writer.transport.abort()


def _flood_process(port: int, count: int, seconds: float, opened: Any) -> None:
    """The idle flood in a process of its own (its connects must not slow the small clients' event loop)."""
    _raise_open_file_limit()
    phase = Phase()
    asyncio.run(_idle_flood(port, count, time.perf_counter() + seconds, phase))
    opened.value = phase.idle_opened


async def _idle_flood_elsewhere(port: int, count: int, seconds: float, phase: Phase) -> None:
    """Run :func:`_flood_process` for ``seconds`` and add the connections it opened to ``phase``."""
    import multiprocessing

    context = multiprocessing.get_context("fork")
    opened = context.Value("q", 0)
    process = context.Process(target=_flood_process, args=(port, count, seconds, opened))
    process.start()
    await asyncio.to_thread(process.join, seconds + 30)
    phase.idle_opened += opened.value


async def _healthz(port: int, deadline: float, phase: Phase) -> None:
    """A ``/healthz`` probe every 50 ms, each on a new connection, as a load balancer's would be."""
    while time.perf_counter() < deadline:
        start = time.perf_counter()
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 2.0)
            writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            head = await asyncio.wait_for(reader.read(), 2.0)
            writer.close()
            key = head[9:12].decode() or "closed"
        except (OSError, TimeoutError, asyncio.IncompleteReadError):
            key = "failed"
        phase.healthz[key] = phase.healthz.get(key, 0) + 1
        phase.healthz_latencies.append(time.perf_counter() - start)
        await asyncio.sleep(0.05)


async def run_phase(server: Server, small: list[bytes], hostile: bytes | int | None, seconds: float,
                    phase: Phase):
    """One round of one phase: 8 small clients and a /healthz probe (+ the hostile client) for ``seconds``;
    ``hostile`` is a request to repeat, or for the idle flood the number of connections."""
    warm = time.perf_counter() + 0.2
    await asyncio.gather(*(_small(server.port, small, warm, Phase(), i) for i in range(CLIENTS)))
    start = time.perf_counter()
    deadline = start + seconds
    tasks = [_small(server.port, small, deadline, phase, i) for i in range(CLIENTS)]
    tasks += [_sample_rss(server.proc.pid, deadline, phase), _healthz(server.port, deadline, phase)]
    if isinstance(hostile, int):
        tasks.append(_idle_flood_elsewhere(server.port, hostile, seconds, phase))
    elif hostile is not None:
        tasks.append(_hostile(server.port, hostile, deadline, phase))
    await asyncio.gather(*tasks)
    phase.seconds += time.perf_counter() - start
    await asyncio.sleep(0.5)  # let a hostile request still running finish before the next phase


def summary(phases: dict[str, Phase], idle_connections: int) -> dict[str, dict]:
    base = phases["none"].pct(99)
    out = {}
    for name, p in phases.items():
        p99 = p.pct(99)
        out[name] = {
            "label": LABELS[name].format(n=idle_connections),
            "small_p50_ms": p.pct(50),
            "small_p99_ms": p99,
            "p99_ratio": p99 / base if p99 and base else None,
            "small_requests_per_s": len(p.latencies) / p.seconds if p.seconds else None,
            "small_errors": p.small_errors,
            "hostile_answers": ({"connections opened": p.idle_opened} if name == IDLE
                                else dict(sorted(p.hostile.items()))),
            "hostile_p50_ms": p.pct(50, p.hostile_latencies),
            "rss_peak_mb": p.rss_peak / 2**20,
            "healthz_answers": dict(sorted(p.healthz.items())),
            "healthz_p99_ms": p.pct(99, p.healthz_latencies),
            **({"idle_connections_opened": p.idle_opened} if name == IDLE else {}),
        }
    return out


def _raise_open_file_limit() -> None:
    """This process may hold as many sockets as its hard limit allows (the idle flood needs thousands)."""
    import resource

    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--seconds", type=float, default=6.0, help="per phase and round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--idle-connections", type=int, default=19_000,
                        help="connections the idle flood opens (one process may hold about 20,000 here)")
    parser.add_argument("--results-name", default="hostile")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    small = small_requests()
    server = Server(args.model, {})
    try:
        hostile: dict[str, bytes | int] = {**hostile_requests(args.model), IDLE: args.idle_connections}
        _raise_open_file_limit()
        phases = {name: Phase() for name in LABELS}
        for _ in range(args.rounds):
            for name, phase in phases.items():
                asyncio.run(run_phase(server, small, hostile.get(name), args.seconds, phase))
    finally:
        server.close()
    rows = summary(phases, args.idle_connections)
    print(f"{'hostile client':<16} {'p50 ms':>8} {'p99 ms':>8} {'p99/none':>9} {'small/s':>8} {'errors':>6} "
          f"{'RSS MB':>7} {'healthz p99':>11}  hostile answers")
    for name, r in rows.items():
        ratio = f"{r['p99_ratio']:.2f}" if r["p99_ratio"] else "-"
        print(f"{name:<16} {r['small_p50_ms']:>8.1f} {r['small_p99_ms']:>8.1f} {ratio:>9} "
              f"{r['small_requests_per_s']:>8.1f} {r['small_errors']:>6} {r['rss_peak_mb']:>7.0f} "
              f"{r['healthz_p99_ms'] or 0:>11.1f}  {r['hostile_answers']} healthz {r['healthz_answers']}")
    data = {"model": args.model, "clients": CLIENTS, "cores": len(os.sched_getaffinity(0)),
            "workers": served_workers(None), "load_average": round(os.getloadavg()[0], 2),
            "seconds_per_phase": args.seconds, "rounds": args.rounds, "targets": TARGETS, "phases": rows}
    command = "python bench/bench_hostile.py " + " ".join(sys.argv[1:] if argv is None else argv)
    print("wrote", write_result(args.results_name, data, command=command.strip()))


if __name__ == "__main__":
    main()
