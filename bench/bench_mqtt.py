"""The plant listener end to end: MQTT publish → diagnosis stored → answer received, over a real Mosquitto.

Starts Debian's ``mosquitto`` on a loopback port (tests/mqtt_support.py) and ``faultdx listen`` with the
shipped model in a subprocess (SQLite history in a temporary folder, 8 assets), and drives it from this
process with paho:

* **throughput** — ``--messages`` messages published at once (QoS 1) to 1 asset, and to 8 assets in turn;
  messages per second from the first publish to the last answer, every one diagnosed, stored and answered;
* **latency** — one message at a time (publish, wait for its answer on ``faultdx/<asset>/diagnosis``):
  p50 / p99 of publish → answer;
* **backlog** — the listener stopped, ``--backlog`` messages published (queued by the broker for its
  persistent session), the listener started again: its resident memory (VmRSS sampled every 0.2 s, and the
  kernel's high-water mark VmHWM) idle vs. while it drains the backlog, and how fast it drains (messages
  stored and acknowledged, from the listener's status; this client's own subscription falls behind the
  answers of a backlog, so answers received are not the measure there).

Phases with 1 and 8 assets alternate round by round (``--rounds``). Each message is one signal of
``--seconds`` of a recording-like test tone at 12 kHz with rpm and bearing given (the estimator is not
measured). Writes ``results/mqtt.json`` (:func:`faultdx.results.write_result`).

    python bench/bench_mqtt.py [--messages 200] [--latency 50] [--rounds 2] [--backlog 10000] [--seconds 1]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import numpy as np
import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from faultdx.ingest.state import read_status, status_path  # noqa: E402
from faultdx.monitor.assets import AssetSpec  # noqa: E402
from faultdx.monitor.store import Store  # noqa: E402
from faultdx.paths import DEFAULT_MODEL  # noqa: E402
from faultdx.results import write_result  # noqa: E402
from tests.mqtt_support import Broker, require_mosquitto  # noqa: E402

RATE = 12000
ASSETS = [f"pump-{i}" for i in range(1, 9)]


class Client:
    """Publishes signals and times each answer (by the message id) on ``faultdx/+/diagnosis``."""

    def __init__(self, broker: Broker) -> None:
        self.sent: dict[str, float] = {}
        self.answered: dict[str, float] = {}
        self.errors = 0
        self._cond = threading.Condition()
        self.client = paho.Client(CallbackAPIVersion.VERSION2, protocol=paho.MQTTv5)
        self.client.max_inflight_messages_set(1000)
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", broker.port)
        self.client.subscribe([("faultdx/+/diagnosis", 1), ("faultdx/+/error", 1)])
        self.client.loop_start()

    def _on_message(self, client, userdata, message) -> None:
        now = time.perf_counter()
        body = json.loads(message.payload)
        with self._cond:
            if message.topic.endswith("/error"):
                self.errors += 1
            self.answered.setdefault(str(body.get("id")), now)
            self._cond.notify_all()

    def publish(self, asset: str, payload: dict, message_id: str) -> paho.MQTTMessageInfo:
        body = json.dumps({**payload, "id": message_id})
        self.sent[message_id] = time.perf_counter()
        return self.client.publish(f"faultdx/{asset}/signal", body, qos=1)

    def wait(self, ids: list[str], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        with self._cond:
            while not all(i in self.answered for i in ids):
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(min(left, 1.0))
        return True


def start_listener(env: dict[str, str], status: Path, timeout: float = 300.0) -> subprocess.Popen:
    process = subprocess.Popen([sys.executable, "-c", "from faultdx.cli import main; main()", "listen"],
                               env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + timeout
    while (read_status(status) or {}).get("state") != "connected" or not _fresh(status, process):
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("faultdx listen did not connect")
        time.sleep(0.2)
    return process


def _fresh(status: Path, process: subprocess.Popen) -> bool:
    return status.stat().st_mtime > process_start(process)


def process_start(process: subprocess.Popen) -> float:
    return Path(f"/proc/{process.pid}").stat().st_mtime


def memory_kib(pid: int) -> dict[str, int]:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = int(value.split()[0])
    return fields


def throughput(client: Client, payload: dict, assets: list[str], count: int) -> dict:
    ids = [uuid.uuid4().hex for _ in range(count)]
    start = time.perf_counter()
    for i, message_id in enumerate(ids):
        client.publish(assets[i % len(assets)], payload, message_id)
    ok = client.wait(ids, timeout=600)
    end = max(client.answered.get(i, time.perf_counter()) for i in ids)
    done = sum(i in client.answered for i in ids)
    return {"assets": len(assets), "messages": count, "answered": done, "complete": ok,
            "seconds": round(end - start, 3), "messages_per_s": round(done / (end - start), 2)}


def latency(client: Client, payload: dict, assets: list[str], count: int) -> dict:
    times = []
    for i in range(count):
        message_id = uuid.uuid4().hex
        client.publish(assets[i % len(assets)], payload, message_id)
        if client.wait([message_id], timeout=60):
            times.append(client.answered[message_id] - client.sent[message_id])
    ms = sorted(1000 * t for t in times)
    return {"assets": len(assets), "messages": count, "answered": len(ms),
            "p50_ms": round(statistics.median(ms), 2) if ms else None,
            "p99_ms": round(ms[min(len(ms) - 1, int(0.99 * len(ms)))], 2) if ms else None}


def backlog(client: Client, payload: dict, env: dict[str, str], status: Path, count: int,
            drain_s: float) -> dict:
    """Stop the listener, queue ``count`` messages at the broker, start it and watch it drain them."""
    listener = start_listener(env, status)
    time.sleep(2.0)
    idle = memory_kib(listener.pid)
    listener.terminate()
    listener.wait(60)
    ids = [uuid.uuid4().hex for _ in range(count)]
    chunk = []
    for i, message_id in enumerate(ids):
        chunk.append(client.publish(ASSETS[i % len(ASSETS)], payload, message_id))
        if len(chunk) == 500 or i == count - 1:  # every message at the broker before the listener returns
            for info in chunk:  # (and paho's own queue kept short: it scans it on every acknowledgement)
                info.wait_for_publish(60)
            chunk = []
    listener = start_listener(env, status)
    started = time.perf_counter()
    rss, queued, drained = [], [], 0
    while time.perf_counter() - started < drain_s and drained < count:
        rss.append(memory_kib(listener.pid)["VmRSS"])
        now = read_status(status) or {}
        queued.append(now.get("queued", 0))
        drained = (now.get("messages") or {}).get("stored", 0)  # stored and acknowledged
        time.sleep(0.2)
    seconds = time.perf_counter() - started
    peak = memory_kib(listener.pid)
    final = read_status(status) or {}
    listener.terminate()
    listener.wait(60)
    return {"messages": count, "drained": drained, "seconds": round(seconds, 1),
            "messages_per_s": round(drained / seconds, 2),
            "idle_rss_mib": round(idle["VmRSS"] / 1024, 1), "draining_rss_max_mib": round(max(rss) / 1024, 1),
            "draining_rss_median_mib": round(statistics.median(rss) / 1024, 1),
            "peak_hwm_mib": round(peak["VmHWM"] / 1024, 1), "queued_max": max(queued),
            "listener_messages": final.get("messages"), "listener_connections": final.get("connections"),
            "listener_last_error": final.get("last_error")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--messages", type=int, default=200, help="messages per throughput phase")
    parser.add_argument("--latency", type=int, default=50, help="messages per latency phase")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--backlog", type=int, default=10000)
    parser.add_argument("--drain-s", type=float, default=900.0, help="longest wait for the backlog")
    parser.add_argument("--seconds", type=float, default=1.0, help="length of each message's signal")
    args = parser.parse_args()

    broker = Broker(require_mosquitto())
    broker.start()
    folder = Path(tempfile.mkdtemp(prefix="faultdx-bench-mqtt-"))
    url = f"sqlite:///{folder / 'monitor.sqlite'}"
    store = Store(url)
    for name in ASSETS:
        store.create_asset(AssetSpec(name=name, rpm=1797, sampling_rate=RATE, bearing="SKF 6205"))
    client_id = f"bench-{uuid.uuid4().hex[:8]}"
    env = {**os.environ, "FAULTDX_MQTT_URL": broker.url, "FAULTDX_MQTT_CLIENT_ID": client_id,
           "FAULTDX_DATABASE_URL": url, "FAULTDX_MODEL": args.model, "FAULTDX_LOG_LEVEL": "warning"}
    status = status_path(broker.url, client_id)
    rng = np.random.default_rng(0)
    t = np.arange(int(args.seconds * RATE)) / RATE
    signal = np.sin(2 * np.pi * 157 * t) + 0.3 * rng.standard_normal(t.size)
    payload = {"signals": [float(f"{v:.7g}") for v in signal], "rpm": 1797, "bearing": "SKF 6205"}
    client = Client(broker)
    rows: dict[str, list] = {"throughput": [], "latency": []}
    try:
        listener = start_listener(env, status)
        latency(client, payload, ASSETS[:1], 5)  # warm-up
        for _ in range(args.rounds):
            for assets in (ASSETS[:1], ASSETS):
                rows["throughput"].append(throughput(client, payload, assets, args.messages))
                rows["latency"].append(latency(client, payload, assets, args.latency))
                print(rows["throughput"][-1], rows["latency"][-1], flush=True)
        listener.terminate()
        listener.wait(60)
        small = {**payload, "signals": payload["signals"][:2048]}
        rows["backlog"] = backlog(client, small, env, status, args.backlog, args.drain_s)
        print(rows["backlog"], flush=True)
        stored = store.count_diagnoses()
    finally:
        client.client.loop_stop()
        broker.remove()
    data = {**rows, "signal_seconds": args.seconds, "backlog_signal_samples": 2048, "model": args.model,
            "stored": stored, "answered": len(client.answered), "errors": client.errors,
            "summary": summary(rows)}
    print(json.dumps(data["summary"], indent=1))
    write_result("mqtt", data)


def summary(rows: dict) -> dict:
    out = {}
    for n in (1, 8):
        rates = [r["messages_per_s"] for r in rows["throughput"] if r["assets"] == n]
        lat = [r for r in rows["latency"] if r["assets"] == n]
        out[f"assets_{n}"] = {"messages_per_s": max(rates), "messages_per_s_rounds": rates,
                              "p50_ms": statistics.median(r["p50_ms"] for r in lat),
                              "p99_ms": max(r["p99_ms"] for r in lat)}
    return out


if __name__ == "__main__":
    main()
