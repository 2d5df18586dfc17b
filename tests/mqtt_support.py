"""A real Mosquitto broker for the tests, started and stopped by them (no service of the machine's).

Debian's ``/usr/sbin/mosquitto`` (or ``$FAULTDX_MOSQUITTO``, or ``mosquitto`` on ``PATH``) runs with a
temporary config: one listener on 127.0.0.1 and a free port, anonymous clients, persistence in a temporary
folder (so a restart keeps sessions and queued messages), and no cap on queued messages. A missing broker
fails the tests when ``CI`` is set and skips them with the reason otherwise.
"""

from __future__ import annotations

import getpass
import json
import os
import queue
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from tests.service_support import free_port

CANDIDATES = ("/usr/sbin/mosquitto", "/usr/bin/mosquitto")


def mosquitto_bin() -> str | None:
    given = os.environ.get("FAULTDX_MOSQUITTO")
    found = [given, shutil.which("mosquitto"), *CANDIDATES]
    return next((p for p in found if p and Path(p).is_file() and os.access(p, os.X_OK)), None)


def require_mosquitto() -> str:
    path = mosquitto_bin()
    if path is None:
        message = ("mosquitto not found (apt-get install mosquitto, or set FAULTDX_MOSQUITTO): the MQTT "
                   "listener tests need a real broker")
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path


class Broker:
    """One throwaway Mosquitto: :meth:`start`, :meth:`stop` (SIGTERM, persistence saved), :meth:`url`."""

    def __init__(self, binary: str, extra: str = "", anonymous: bool = True) -> None:
        self.binary = binary
        self.root = Path(tempfile.mkdtemp(prefix="faultdx-mqtt-"))
        self.port = free_port()
        self.config = self.root / "mosquitto.conf"
        self.config.write_text(
            f"listener {self.port} 127.0.0.1\n"
            f"allow_anonymous {'true' if anonymous else 'false'}\n"
            f"user {getpass.getuser()}\n"
            "persistence true\n"
            f"persistence_location {self.root}/\n"
            "autosave_interval 1\n"
            "max_queued_messages 100000\n"
            "max_inflight_messages 20\n"
            "message_size_limit 0\n"
            f"log_dest file {self.root}/mosquitto.log\n"
            + extra
        )
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self, timeout: float = 10.0) -> None:
        self.process = subprocess.Popen([self.binary, "-c", str(self.config)], stdout=subprocess.DEVNULL,
                                        stderr=subprocess.PIPE)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"mosquitto exited: {self.process.stderr.read().decode()[-2000:]}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"mosquitto did not listen on port {self.port} within {timeout} s")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self.process = None

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


class Subscriber:
    """A test client: subscribes to ``faultdx/#`` and collects (topic, JSON body, retained) in order."""

    def __init__(self, broker: Broker, topics: str = "faultdx/#") -> None:
        self.messages: queue.Queue[tuple[str, Any, bool]] = queue.Queue()
        self.client = paho.Client(CallbackAPIVersion.VERSION2, protocol=paho.MQTTv5)
        self._subscribed = threading.Event()
        self.client.on_message = self._on_message
        self.client.on_subscribe = lambda *a: self._subscribed.set()
        self.client.connect("127.0.0.1", broker.port)
        self.client.subscribe(topics, qos=1)
        self.client.loop_start()
        assert self._subscribed.wait(10), "the test subscriber was not subscribed"

    def _on_message(self, client: Any, userdata: Any, message: paho.MQTTMessage) -> None:
        try:
            body = json.loads(message.payload)
        except ValueError:
            body = message.payload
        self.messages.put((message.topic, body, bool(message.retain)))

    def publish(self, topic: str, payload: bytes | str | dict, properties: Any = None) -> None:
        data = json.dumps(payload) if isinstance(payload, dict) else payload
        self.client.publish(topic, data, qos=1, properties=properties).wait_for_publish(10)

    def next(self, topic_suffix: str | None = None, timeout: float = 60.0) -> tuple[str, Any, bool]:
        """The next message (whose topic ends with ``topic_suffix``, others skipped)."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no message on *{topic_suffix or ''} within {timeout} s")
            try:
                topic, body, retained = self.messages.get(timeout=left)
            except queue.Empty:
                continue
            if topic_suffix is None or topic.endswith(topic_suffix):
                return topic, body, retained

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()
