"""Diagnosis service over loopback: latency, throughput with and without micro-batching, cost of slopes.

Starts ``faultdx serve`` with the shipped model (:data:`faultdx.paths.DEFAULT_MODEL` unless ``--model``) in
two subprocesses at the service's default settings (workers included: one per core), one with the default
micro-batching, one with ``FAULTDX_MAX_BATCH=1`` (one window per forward pass), and drives both in one run,
phases interleaved round by round, from this process over 127.0.0.1 with a lean asyncio HTTP/1.1
keep-alive client (pre-encoded requests: the client spends little of the shared CPU). Every phase is bounded
in time; every non-200 answer or broken connection counts as an error.

Every request names the machine, so the service never estimates the shaft speed from the signal (which would
measure the estimator, not the network): rpm 1797 and bearing "SKF 6205", as JSON fields of ``/v1/diagnose``
(one signal of exactly one 2048-sample window at 12 kHz, numbers written with float32's 7 significant digits)
and as request ``parameters`` of the Open Inference Protocol ``/v2/models/<name>/infer`` (binary FP32
tensors ``[k, 2048]``, k windows per request). One request of each kind is checked first to say
``rpm_source: given``.

Prints a table and writes ``results/bench_service.json`` (:func:`faultdx.results.write_result`).

    python bench/bench_service.py [--model hybrid-aprelu] [--seconds 4] [--rounds 4] [--windows-per-request 8]
        [--concurrency 32] [--workers N] [--results-name bench_service]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np

from faultdx.paths import DEFAULT_MODEL
from faultdx.results import write_result

ROOT = Path(__file__).resolve().parent.parent
WINDOW = 2048
RATE = 12000
RPM = 1797
BEARING = "SKF 6205"
TARGETS = {"p50_ms": 5.0, "p99_ms": 20.0, "windows_per_s": 3000.0, "v1_windows_per_s": 2000.0,
           "slopes_ratio": 1.3}


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


async def send_loop(port: int, payloads: list[bytes], deadline: float, offset: int,
                    answered: Callable[[int, float], None], broken: Callable[[], None]) -> None:
    """Send ``payloads`` round robin from ``offset`` over one keep-alive connection until ``deadline``; report
    each answer's status and latency, and each broken connection (then reconnect)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    i = offset
    try:
        while time.perf_counter() < deadline:
            start = time.perf_counter()
            try:
                status = await _exchange(reader, writer, payloads[i % len(payloads)])
            except (OSError, asyncio.IncompleteReadError, AttributeError):
                broken()
                writer.close()
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                continue
            answered(status, time.perf_counter() - start)
            i += 1
    finally:
        writer.close()


async def _client(port: int, payloads: list[bytes], windows: int, deadline: float, phase: Phase, offset: int):
    def answered(status: int, seconds: float) -> None:
        phase.latencies.append(seconds)
        phase.requests += 1
        if status == 200:
            phase.windows += windows
        else:
            phase.errors += 1

    def broken() -> None:
        phase.errors += 1

    await send_loop(port, payloads, deadline, offset, answered, broken)


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
    """CPU seconds of the main threads (uvicorn's event loops) and of all other threads (Linux), summed over
    the server process and its worker processes."""
    main = other = 0.0
    for process in (pid, *_children(pid)):
        loop, rest = _process_cpu(process)
        main, other = main + loop, other + rest
    return main, other


def _children(pid: int) -> list[int]:
    """Child process ids (uvicorn's workers when there are several)."""
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def _process_cpu(pid: int) -> tuple[float, float]:
    tick = os.sysconf("SC_CLK_TCK")
    main = other = 0.0
    if not Path(f"/proc/{pid}/task").is_dir():
        return main, other
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
    """``[count, 2048]`` windows of simulated 12 kHz vibration at 1797 rpm, every class in turn."""
    from faultdx.data.base import CWRU_10_CLASSES
    from faultdx.data.synthetic import simulate

    return np.stack(
        [
            simulate(CWRU_10_CLASSES[i % 10], duration_s=WINDOW / RATE + 0.01, rpm=RPM, seed=i)[:WINDOW]
            for i in range(count)
        ]
    )


@dataclass(frozen=True)
class Request:
    """One pre-built HTTP request."""

    path: str
    body: bytes
    headers: dict[str, str]

    def encoded(self) -> bytes:
        """The request as bytes on the wire (HTTP/1.1 keep-alive)."""
        return http_post(self.path, self.body, self.headers)


def v1_requests(x: np.ndarray, slopes: bool) -> list[Request]:
    """One ``/v1/diagnose`` JSON request per window, with rpm and bearing."""
    out = []
    for w in x:
        numbers = ",".join(f"{v:.7g}" for v in w.tolist())  # float32 precision, as a sensor client would send
        body = (f'{{"signals": [{numbers}], "sampling_rate": {RATE}, "rpm": {RPM}, '
                f'"bearing": {json.dumps(BEARING)}, "include_slopes": {json.dumps(slopes)}}}')
        out.append(Request("/v1/diagnose", body.encode(), {"Content-Type": "application/json"}))
    return out


def v2_requests(model: str, x: np.ndarray, k: int, slope_layers: list[str]) -> list[Request]:
    """One ``/v2`` binary request per k windows, rpm and bearing as request parameters."""
    out = []
    names = ["probabilities", "label", *(f"slopes.{s}" for s in slope_layers)]
    for i in range(0, len(x) - k + 1, k):
        raw = np.ascontiguousarray(x[i : i + k], "<f4").tobytes()
        head = json.dumps({
            "inputs": [{"name": "signal", "shape": [k, WINDOW], "datatype": "FP32",
                        "parameters": {"binary_data_size": len(raw)}}],
            "outputs": [{"name": n, "parameters": {"binary_data": True}} for n in names],
            "parameters": {"rpm": RPM, "bearing": BEARING},
        }).encode()
        headers = {"Inference-Header-Content-Length": str(len(head))}
        out.append(Request(f"/v2/models/{model}/infer", head + raw, headers))
    return out


def rpm_source(url: str, request: Request) -> str | None:
    """Send ``request`` once; the ``rpm_source`` the service reports (None when it fails)."""
    r = httpx.post(url + request.path, content=request.body, headers=request.headers, timeout=60)
    if r.status_code != 200:
        return None
    if request.path.startswith("/v1/"):
        return r.json()["results"][0]["machine"]["rpm_source"]
    size = int(r.headers.get("Inference-Header-Content-Length", len(r.content)))
    return json.loads(r.content[:size])["parameters"]["rpm_source"]


def check_context(url: str, requests: dict[str, list[Request]]) -> None:
    """Stop unless every kind of request is answered with the rpm it gave (no speed estimation)."""
    for key, reqs in requests.items():
        source = rpm_source(url, reqs[0])
        if source != "given":
            raise SystemExit(f"{key} request: rpm_source {source!r}, expected 'given'")


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
        deadline = time.monotonic() + 300  # a busy shared machine may take minutes to load the workers
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


PHASES = {  # key: (label, server, request kind, windows per request is k, concurrency is c)
    "lat": ("c=1, 1 window, /v1 JSON", "batching", "v1", False, False),
    "lat_s": ("c=1, 1 window, /v1 JSON, slopes", "batching", "v1s", False, False),
    "v1": ("c={c}, 1 window/request, /v1 JSON, batching", "batching", "v1", False, True),
    "v1s": ("c={c}, 1 window/request, /v1 JSON, batching, slopes", "batching", "v1s", False, True),
    "v2": ("c={c}, {k} windows/request, /v2 binary, batching", "batching", "v2", True, True),
    "v2s": ("c={c}, {k} windows/request, /v2 binary, batching, slopes", "batching", "v2s", True, True),
    "nb_v1": ("c={c}, 1 window/request, /v1 JSON, no batching", "nobatch", "v1", False, True),
    "nb_v2": ("c={c}, {k} windows/request, /v2 binary, no batching", "nobatch", "v2", True, True),
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--seconds", type=float, default=4.0, help="measured time per phase")
    parser.add_argument("--rounds", type=int, default=4, help="interleaved rounds each phase is spread over")
    parser.add_argument("--windows-per-request", type=int, default=8, help="k of the /v2 binary requests")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--workers", type=int, default=None,
                        help="service worker processes (default: the service's default, one per core)")
    parser.add_argument("--results-name", default="bench_service", help="writes results/<name>.json")
    return parser.parse_args(argv)


def build_requests(url: str, k: int) -> tuple[str, dict[str, list[Request]]]:
    """The served model's name and the requests of every kind (v1, v1s, v2, v2s; s = with slopes)."""
    x = signals(64)
    name = httpx.get(url + "/v1/models").json()["default"]
    layers = list(httpx.get(f"{url}/v1/models/{name}").json()["slope_layers"])
    return name, {
        "v1": v1_requests(x, False),
        "v1s": v1_requests(x, True),
        "v2": v2_requests(name, x, k, []),
        "v2s": v2_requests(name, x, k, layers),
    }


def run_phases(args: argparse.Namespace, servers: dict[str, Server],
               requests: dict[str, list[Request]]) -> dict[str, Phase]:
    """Every phase, spread over interleaved rounds: drifting load from other processes hits all alike."""
    encoded = {kind: [r.encoded() for r in reqs] for kind, reqs in requests.items()}
    phases = {key: Phase() for key in PHASES}
    for _ in range(args.rounds):
        for key, (_, server, kind, k_windows, concurrent) in PHASES.items():
            windows = args.windows_per_request if k_windows else 1
            c = args.concurrency if concurrent else 1
            load(servers[server], encoded[kind], windows, c, args.seconds / args.rounds, phases[key])
    return phases


def in_process_ceiling(model: str, seconds: float = 3.0, batch: int = 256) -> float:
    """Windows/s of the served model's own work without HTTP (the traced network's forward pass and the
    envelope analysis the policy reads, :func:`faultdx_service.main._predict`), batches of ``batch`` windows
    on every core: what no service on this machine can exceed, measured before the servers start."""
    import torch
    from faultdx_service.main import _predict

    from faultdx.diagnose import Diagnoser

    torch.set_num_threads(len(os.sched_getaffinity(0)))
    diagnoser = Diagnoser.from_dir(model, trace=True, batch_size=batch)
    prepared = diagnoser.windows(signals(batch).reshape(-1), RATE, hop=WINDOW, rpm=RPM)
    work = (prepared.x, prepared.context, False, diagnoser.gates_on_envelope)
    _predict(diagnoser, *work)  # first-call costs
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        _predict(diagnoser, *work)
        done += len(prepared.x)
    return done / (time.perf_counter() - start)


def _num(value: float, digits: int) -> float | None:
    """Rounded, or None when not finite (JSON has no NaN)."""
    return round(value, digits) if math.isfinite(value) else None


def _ratio(a: float, b: float) -> float | None:
    return _num(a / b, 3) if b and math.isfinite(a) and math.isfinite(b) else None


def phase_data(label: str, p: Phase) -> dict:
    """One phase's figures for the JSON."""
    loop, forward = p.cpu_ms_per_window()
    return {
        "label": label,
        "windows_per_s": _num(p.windows_per_s, 1),
        "p50_ms": _num(p.pct(50), 3),
        "p99_ms": _num(p.pct(99), 3),
        "requests": p.requests,
        "windows": p.windows,
        "errors": p.errors,
        "seconds": _num(p.seconds, 3),
        "windows_per_pass": _num(p.batched_windows / p.batches, 2) if p.batches else None,
        "cpu_ms_per_window": {"event_loop": _num(loop, 3), "forward": _num(forward, 3)},
    }


def summary(args: argparse.Namespace, name: str, phases: dict[str, Phase], request_kib: float,
            ceiling: float) -> dict:
    """The JSON data of ``results/bench_service.json``: every phase, then the headline figures."""
    c, k = args.concurrency, args.windows_per_request
    per = {key: phase_data(PHASES[key][0].format(c=c, k=k), p) for key, p in phases.items()}
    rate = {key: p.windows_per_s for key, p in phases.items()}
    return {
        "model": name, "rpm": RPM, "bearing": BEARING, "sampling_rate": RATE, "window": WINDOW,
        "cores": len(os.sched_getaffinity(0)), "seconds_per_phase": args.seconds, "rounds": args.rounds,
        "concurrency": c, "windows_per_request": k, "v1_request_kib": round(request_kib, 1),
        "workers": served_workers(args.workers),
        "load_average": round(os.getloadavg()[0], 2),
        "latency_ms": {"p50": per["lat"]["p50_ms"], "p99": per["lat"]["p99_ms"]},
        "windows_per_s": {
            "v2_batching": per["v2"]["windows_per_s"], "v2_no_batching": per["nb_v2"]["windows_per_s"],
            "v1_batching": per["v1"]["windows_per_s"], "v1_no_batching": per["nb_v1"]["windows_per_s"],
            "in_process_ceiling": _num(ceiling, 1),
        },
        "batching_gain": {"v2": _ratio(rate["v2"], rate["nb_v2"]), "v1": _ratio(rate["v1"], rate["nb_v1"])},
        "slopes_on_off": {"latency_p50": _ratio(phases["lat_s"].pct(50), phases["lat"].pct(50)),
                          "v2": _ratio(rate["v2"], rate["v2s"]), "v1": _ratio(rate["v1"], rate["v1s"])},
        "errors": sum(p.errors for p in phases.values()),
        "targets": TARGETS,
        "phases": per,
    }


def served_workers(given: int | None) -> int:
    """The worker processes the servers ran: ``given``, else what the service's default resolves to here."""
    from faultdx_service.runtime import worker_count

    from faultdx.settings import Settings

    return worker_count(Settings(workers=given or 0))


def _fmt(value: float | None, spec: str, unit: str = "") -> str:
    return "–" if value is None else f"{value:{spec}}{unit}"


def rows(d: dict) -> list[tuple[str, str, str, str]]:
    """(measurement, value, target, ok) lines of the printed table."""
    c, k, ph, t = d["concurrency"], d["windows_per_request"], d["phases"], d["targets"]

    def ok(value: float | None, limit: float, above: bool = False) -> str:
        return "" if value is None else ("yes" if (value >= limit if above else value <= limit) else "NO")

    def rate(key: str) -> str:
        return _fmt(ph[key]["windows_per_s"], ",.0f", " windows/s")

    def cpu(key: str) -> str:
        m = ph[key]["cpu_ms_per_window"]
        return f"{_fmt(m['event_loop'], '.2f')} + {_fmt(m['forward'], '.2f')}"

    lat, wps, gain, slopes = d["latency_ms"], d["windows_per_s"], d["batching_gain"], d["slopes_on_off"]
    return [
        ("c=1, 1 window, /v1 JSON: p50 latency", _fmt(lat["p50"], ".2f", " ms"), f"<= {t['p50_ms']:g} ms",
         ok(lat["p50"], t["p50_ms"])),
        ("c=1, 1 window, /v1 JSON: p99 latency", _fmt(lat["p99"], ".2f", " ms"), f"<= {t['p99_ms']:g} ms",
         ok(lat["p99"], t["p99_ms"])),
        (ph["v2"]["label"], rate("v2"), f">= {t['windows_per_s']:,.0f}",
         ok(wps["v2_batching"], t["windows_per_s"], above=True)),
        (ph["nb_v2"]["label"], rate("nb_v2"), "", ""),
        ("in process, no HTTP: forward + envelope, batch 256, all cores",
         _fmt(wps.get("in_process_ceiling"), ",.0f", " windows/s"), "", ""),
        (ph["v1"]["label"], rate("v1"), f">= {t['v1_windows_per_s']:,.0f}",
         ok(wps["v1_batching"], t["v1_windows_per_s"], above=True)),
        (ph["nb_v1"]["label"], rate("nb_v1"), "", ""),
        ("batching gain: /v2 binary | /v1 JSON",
         f"{_fmt(gain['v2'], '.1f', 'x')} | {_fmt(gain['v1'], '.1f', 'x')}", "", ""),
        (f"mean windows per forward pass, c={c}: /v2 | /v1",
         f"{_fmt(ph['v2']['windows_per_pass'], '.1f')} | {_fmt(ph['v1']['windows_per_pass'], '.1f')}",
         "", ""),
        ("slopes on/off: c=1 p50 latency, /v1 JSON",
         f"{_fmt(slopes['latency_p50'], '.2f', 'x')} ({_fmt(ph['lat_s']['p50_ms'], '.2f', ' ms')})",
         f"<= {t['slopes_ratio']:g}x", ok(slopes["latency_p50"], t["slopes_ratio"])),
        (f"slopes on/off: c={c} time per window, /v2 binary ({k}/request)",
         f"{_fmt(slopes['v2'], '.2f', 'x')} ({rate('v2s')})", f"<= {t['slopes_ratio']:g}x",
         ok(slopes["v2"], t["slopes_ratio"])),
        (f"slopes on/off: c={c} time per window, /v1 JSON",
         f"{_fmt(slopes['v1'], '.2f', 'x')} ({rate('v1s')})", "", ""),
        ("server CPU ms/window, event loop + forward: c=1 /v1", cpu("lat"), "", ""),
        (f"server CPU ms/window, event loop + forward: c={c} /v1", cpu("v1"), "", ""),
        (f"server CPU ms/window, event loop + forward: c={c} /v2", cpu("v2"), "", ""),
        (f"server CPU ms/window, event loop + forward: c={c} /v2 slopes", cpu("v2s"), "", ""),
        ("errors (non-200 or broken connection), all phases", str(d["errors"]), "0",
         "yes" if d["errors"] == 0 else "NO"),
    ]


def report(d: dict) -> None:
    """The table on stdout."""
    print(
        f"\nfaultdx service bench: model {d['model']}, rpm {d['rpm']} and bearing {d['bearing']} in every "
        f"request, {d['cores']} CPU cores, {d['seconds_per_phase']:g} s per phase in {d['rounds']} "
        f"interleaved rounds, {d['workers']} worker(s), {d['v1_request_kib']:.0f} KiB per /v1 request, "
        f"load average {d['load_average']:.1f}"
    )
    table = rows(d)
    width = max(len(r[0]) for r in table)
    print(f"{'measurement':<{width}}  {'value':>30}  {'target':>9}  ok")
    for label, value, target, good in table:
        print(f"{label:<{width}}  {value:>30}  {target:>9}  {good}")


def main(argv: list[str] | None = None) -> None:
    """Start both servers, check the requests, run the interleaved phases, print, write the JSON."""
    args = parse_args(argv)
    ceiling = in_process_ceiling(args.model)
    workers = {} if args.workers is None else {"FAULTDX_WORKERS": str(args.workers)}
    servers = {"batching": Server(args.model, workers),
               "nobatch": Server(args.model, {**workers, "FAULTDX_MAX_BATCH": "1"})}
    try:
        name, requests = build_requests(servers["batching"].url, args.windows_per_request)
        for server in servers.values():
            check_context(server.url, requests)
        phases = run_phases(args, servers, requests)
    finally:
        for server in servers.values():
            server.close()
    request_kib = float(np.mean([len(r.encoded()) for r in requests["v1"]])) / 1024
    data = summary(args, name, phases, request_kib, ceiling)
    report(data)
    print(f"wrote {write_result(args.results_name, data)}")


if __name__ == "__main__":
    main()
