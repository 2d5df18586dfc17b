"""What the listener is doing, for ``/readyz`` (a small JSON status file) and ``/metrics`` (Prometheus).

Only one process on a machine listens for a given broker and client id (see :mod:`faultdx.ingest.runner`);
with several service workers the others answer ``/readyz`` from the status file the listening one writes
(at most once a second, and at once when the connection changes). The Prometheus metrics live in the
default registry, so in multiprocess mode ``/metrics`` sums them over the workers like every other metric.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from prometheus_client import Counter, Gauge

from faultdx.atomic import write_text_atomic

STALE_S = 15.0  # a status file not refreshed for this long belongs to a listener that is gone
WRITE_EVERY_S = 1.0

CONNECTED = Gauge("faultdx_mqtt_connected", "1 while the MQTT listener is connected to its broker",
                  multiprocess_mode="livemax")
MESSAGES = Counter("faultdx_mqtt_messages_total", "MQTT messages handled, by outcome (stored, replayed, "
                   "refused, unavailable, failed)", ["outcome"])
RECONNECTS = Counter("faultdx_mqtt_reconnects_total", "Connections to the broker made after the first")
LAG = Gauge("faultdx_mqtt_lag_seconds", "Seconds from a message's arrival to its acknowledgement (latest)",
            multiprocess_mode="livemax")
QUEUED = Gauge("faultdx_mqtt_queued_messages", "Messages received and not yet handled",
               multiprocess_mode="livesum")


def status_path(url: str, client_id: str) -> Path:
    """Where the listener for this broker and client id writes its status (one per machine)."""
    tag = hashlib.sha256(f"{url}\0{client_id}".encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"faultdx-mqtt-{tag}.json"


class ListenerState:
    """Counters and connection state of one listener (thread-safe), mirrored to metrics and a status file."""

    def __init__(self, status_file: Path | None = None, broker: str = "") -> None:
        self.status_file = status_file
        self.broker = broker
        self.connected = False
        self.connections = 0
        self.counts = {k: 0 for k in ("stored", "replayed", "refused", "unavailable", "failed")}
        self.lag_s: float | None = None
        self.queued = 0
        self.last_error: str | None = None
        self._written = 0.0
        self._lock = threading.Lock()

    def set_connected(self, connected: bool, error: str | None = None) -> None:
        with self._lock:
            if connected:
                self.connections += 1
                if self.connections > 1:
                    RECONNECTS.inc()
            self.connected = connected
            self.last_error = error or self.last_error
        CONNECTED.set(int(connected))
        self.write(force=True)

    def count(self, outcome: str, lag_s: float | None = None, error: str | None = None) -> None:
        """One message handled with ``outcome``; ``lag_s`` from its arrival to its acknowledgement."""
        with self._lock:
            self.counts[outcome] += 1
            if lag_s is not None:
                self.lag_s = lag_s
            if error:
                self.last_error = error
        MESSAGES.labels(outcome).inc()
        if lag_s is not None:
            LAG.set(lag_s)
        self.write()

    def set_queued(self, queued: int) -> None:
        self.queued = queued
        QUEUED.set(queued)

    def as_dict(self) -> dict[str, Any]:
        with self._lock:
            return {
                "state": "connected" if self.connected else "disconnected",
                "broker": self.broker,
                "connections": self.connections,
                "messages": dict(self.counts),
                "queued": self.queued,
                "lag_s": None if self.lag_s is None else round(self.lag_s, 4),
                "last_error": self.last_error,
                "updated": time.time(),
            }

    def write(self, force: bool = False) -> None:
        """Refresh the status file (at most once a second unless ``force``)."""
        if self.status_file is None or (not force and time.monotonic() - self._written < WRITE_EVERY_S):
            return
        self._written = time.monotonic()
        with contextlib.suppress(OSError):  # a status file we cannot write must not stop the listener
            write_text_atomic(self.status_file, json.dumps(self.as_dict()))


def read_status(path: Path) -> dict[str, Any] | None:
    """The status a listener wrote at ``path`` (``state: stale`` when it stopped refreshing it), or None."""
    try:
        status = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(status, dict):
        return None
    if time.time() - float(status.get("updated", 0)) > STALE_S:
        status["state"] = "stale"
    return status
