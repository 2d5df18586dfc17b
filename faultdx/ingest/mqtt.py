"""The plant listener: subscribe to signals on an MQTT broker, diagnose, store once, publish answers, alarms.

Topics (fixed, so plant tooling can rely on them)::

    faultdx/<asset>/signal      in   (FAULTDX_MQTT_TOPIC; its ``+`` level names an existing asset)
    faultdx/<asset>/diagnosis   out  the /v1/diagnose answer for the message, with ``stored``
    faultdx/<asset>/alarm       out  alarm changes; retained, so a new subscriber sees the current state
    faultdx/<asset>/error       out  a refused message: ``status`` and ``field`` as HTTP would answer

**Exactly once in the history.** The client subscribes with QoS 1 in a persistent session (fixed client id,
MQTT 3.1.1 ``clean_session=False`` or MQTT 5 ``clean_start=False`` with a session expiry) and acknowledges
by hand (paho ``manual_ack``): a message is diagnosed and *stored* — with its ``id``, or a hash of its topic,
payload and properties, as the idempotency key — before its PUBACK is sent. A crash between storing and
acknowledging makes the broker deliver the message again; the store recognises the key and answers the
stored ids (``stored.replayed: true``) without writing again.

**Faults.** A lost broker is reconnected with exponential backoff (1 s doubling to
``FAULTDX_MQTT_RECONNECT_MAX_S``). When the database cannot be reached, the message is not acknowledged, an
error (status 503, field ``database``) is published, and the listener drops the connection and reconnects
after a backoff so that the broker delivers every unacknowledged message again, in order. At most
``FAULTDX_MQTT_MAX_INFLIGHT`` messages are held in this process (also sent as the MQTT 5 Receive Maximum;
when they are all waiting the network thread stops reading, so TCP holds the broker back), and they are
handled one at a time, in arrival order, on a thread of their own: a flood waits at the broker.

Test hook (documented in docs/plant.md): with ``FAULTDX_MQTT_TEST_KILL_AFTER_STORE=n`` in the environment
the process kills itself (SIGKILL) right after storing its ``n``-th message and before acknowledging it.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import signal
import ssl
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any
from urllib.parse import unquote, urlsplit

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from faultdx.errors import InputError
from faultdx.ingest.handle import MessageHandler, Outcome, StoreUnavailable, message_key, refused
from faultdx.ingest.state import ListenerState

log = logging.getLogger(__name__)
KILL_AFTER_STORE_ENV = "FAULTDX_MQTT_TEST_KILL_AFTER_STORE"
ANSWER_TOPICS = {"diagnosis": "faultdx/{asset}/diagnosis", "alarm": "faultdx/{asset}/alarm",
                 "error": "faultdx/{asset}/error"}
POLL_S = 0.5  # how often the worker looks up from an empty queue (stop, heartbeat, alarm watch)


@dataclass(frozen=True)
class BrokerConfig:
    """Where and how to connect; built from the ``FAULTDX_MQTT_*`` settings by :meth:`from_settings`."""

    host: str
    port: int
    tls: bool = False
    username: str | None = None
    password: str | None = None
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    client_id: str = "faultdx"
    topic: str = "faultdx/+/signal"
    protocol: str = "5"
    keepalive_s: int = 30
    max_inflight: int = 16
    session_expiry_s: int = 7 * 24 * 3600
    reconnect_max_s: int = 30
    alarm_poll_s: float = 5.0

    @classmethod
    def from_settings(cls, settings: Any) -> BrokerConfig:
        """From ``settings.mqtt_*``; a user and password in the URL count unless the settings give them."""
        url = parse_url(settings.mqtt_url)
        password = settings.mqtt_password.get_secret_value() if settings.mqtt_password else url["password"]
        return cls(
            host=url["host"], port=url["port"], tls=url["tls"],
            username=settings.mqtt_username or url["username"], password=password,
            ca_file=_text(settings.mqtt_ca_file), cert_file=_text(settings.mqtt_cert_file),
            key_file=_text(settings.mqtt_key_file), client_id=settings.mqtt_client_id,
            topic=settings.mqtt_topic, protocol=settings.mqtt_protocol, keepalive_s=settings.mqtt_keepalive_s,
            max_inflight=settings.mqtt_max_inflight, session_expiry_s=settings.mqtt_session_expiry_s,
            reconnect_max_s=settings.mqtt_reconnect_max_s, alarm_poll_s=settings.mqtt_alarm_poll_s,
        )

    @property
    def url(self) -> str:
        return f"{'mqtts' if self.tls else 'mqtt'}://{self.host}:{self.port}"


def parse_url(url: str) -> dict[str, Any]:
    """``mqtt://[user[:password]@]host[:port]`` (default port 1883) or ``mqtts://...`` (8883)."""
    parts = urlsplit(url)
    if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
        raise InputError(f"mqtt_url: mqtt://host:port or mqtts://host:port expected, got {url[:100]!r}",
                         "mqtt_url")
    tls = parts.scheme == "mqtts"
    try:
        port = parts.port or (8883 if tls else 1883)
    except ValueError:
        raise InputError("mqtt_url: the port is not a number from 1 to 65535", "mqtt_url") from None
    return {"host": parts.hostname, "port": port, "tls": tls,
            "username": unquote(parts.username) if parts.username else None,
            "password": unquote(parts.password) if parts.password else None}


def asset_level(topic_filter: str) -> int:
    """The level of the filter's ``+`` naming the asset (the filter must have exactly one, and no ``#``)."""
    levels = topic_filter.split("/")
    if levels.count("+") != 1 or "#" in topic_filter:
        raise InputError(f"mqtt_topic: one '+' level naming the asset and no '#' expected, got "
                         f"{topic_filter[:100]!r}", "mqtt_topic")
    return levels.index("+")


class Listener:
    """Connects, subscribes, hands every message to a :class:`MessageHandler` (see the module docstring)."""

    def __init__(self, config: BrokerConfig, handler: MessageHandler,
                 state: ListenerState | None = None) -> None:
        self.config = config
        self.handler = handler
        self.state = state or ListenerState(broker=config.url)
        self.level = asset_level(config.topic)
        self.client = self._client()
        # bounded: when it is full the network thread stops reading, and TCP holds the broker back (Mosquitto
        # 2.0 does not always honour the Receive Maximum, e.g. for a backlog sent at reconnect)
        self._inbox: queue.Queue[tuple[int, paho.MQTTMessage, float]] = queue.Queue(config.max_inflight)
        self._generation = 0  # connection number: a message of an earlier connection is never acknowledged
        self._stopping = threading.Event()
        self._resync = threading.Event()  # set: drop the connection so the broker redelivers
        self._threads: list[threading.Thread] = []
        self._kill_after = int(os.environ.get(KILL_AFTER_STORE_ENV) or 0)
        self._stored = 0
        self._alarm_seen: dict[str, tuple] = {}
        self._alarm_polled = 0.0

    # ------------------------------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        """Connect and handle messages on background threads until :meth:`stop`."""
        for target, name in ((self._work, "mqtt-worker"), (self._supervise, "mqtt-network")):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout: float = 10.0) -> None:
        """Finish the message in hand, disconnect (unacknowledged messages stay with the broker)."""
        self._stopping.set()
        worker, network = self._threads or (None, None)
        if worker is not None:
            worker.join(timeout)  # the message in hand is answered and acknowledged first
        self.client.disconnect()
        if network is not None:
            network.join(timeout)
        self.state.set_connected(False)

    def _client(self) -> paho.Client:
        v5 = self.config.protocol == "5"
        client = paho.Client(
            CallbackAPIVersion.VERSION2, client_id=self.config.client_id,
            clean_session=None if v5 else False, protocol=paho.MQTTv5 if v5 else paho.MQTTv311,
            manual_ack=True,
        )
        if self.config.username:
            client.username_pw_set(self.config.username, self.config.password)
        if self.config.tls:
            client.tls_set(ca_certs=self.config.ca_file, certfile=self.config.cert_file,
                           keyfile=self.config.key_file, cert_reqs=ssl.CERT_REQUIRED)
        client.reconnect_delay_set(1, self.config.reconnect_max_s)
        client.max_queued_messages_set(0)  # answers wait for a reconnect rather than being dropped
        client.on_connect, client.on_disconnect = self._on_connect, self._on_disconnect
        client.on_message, client.on_subscribe = self._on_message, self._on_subscribe
        return client

    def _connect_properties(self) -> Properties | None:
        if self.config.protocol != "5":
            return None
        properties = Properties(PacketTypes.CONNECT)
        properties.SessionExpiryInterval = self.config.session_expiry_s
        properties.ReceiveMaximum = self.config.max_inflight
        return properties

    def _supervise(self) -> None:
        """The network loop; reconnects with backoff, and after a resync (database down) on purpose."""
        backoff = 1.0
        while not self._stopping.is_set():
            clean = False if self.config.protocol == "5" else paho.MQTT_CLEAN_START_FIRST_ONLY
            self.client.connect_async(self.config.host, self.config.port, self.config.keepalive_s,
                                      clean_start=clean, properties=self._connect_properties())
            self.client.loop_forever(retry_first_connection=True)
            if self._stopping.is_set():
                break
            # loop_forever returns only after disconnect(): a resync; wait, then come back for redelivery
            self._stopping.wait(backoff)
            backoff = min(backoff * 2, self.config.reconnect_max_s)
            self._resync.clear()

    # ------------------------------------------------------------------------------------------ callbacks
    def _on_connect(self, client: paho.Client, userdata: Any, flags: Any, reason: Any,
                    properties: Any) -> None:
        if reason.is_failure:
            log.warning("MQTT broker %s refused the connection: %s", self.config.url, reason)
            self.state.set_connected(False, f"connection refused: {reason}")
            return
        self._generation += 1
        client.subscribe(self.config.topic, qos=1)
        log.info("MQTT listener connected to %s, subscribing to %s (session present: %s)", self.config.url,
                 self.config.topic, getattr(flags, "session_present", None))

    def _on_subscribe(self, client: paho.Client, userdata: Any, mid: int, reasons: Any,
                      properties: Any) -> None:
        # ready (/readyz) only once the broker granted the subscription: a message published after that
        # reaches the listener even on a fresh session
        if any(getattr(r, "is_failure", False) for r in reasons):
            self.state.set_connected(False, f"subscription refused: {reasons}")
            return
        self.state.set_connected(True)

    def _on_disconnect(self, client: paho.Client, userdata: Any, flags: Any, reason: Any,
                       properties: Any) -> None:
        self.state.set_connected(False, None if self._stopping.is_set() else f"disconnected: {reason}")

    def _on_message(self, client: paho.Client, userdata: Any, message: paho.MQTTMessage) -> None:
        item = (self._generation, message, time.monotonic())
        while not self._stopping.is_set():
            try:
                self._inbox.put(item, timeout=POLL_S)
                break
            except queue.Full:
                continue
        self.state.set_queued(self._inbox.qsize())

    # ------------------------------------------------------------------------------------------ the worker
    def _work(self) -> None:
        while not self._stopping.is_set():
            try:
                generation, message, arrived = self._inbox.get(timeout=POLL_S)
            except queue.Empty:
                self._idle()
                continue
            self.state.set_queued(self._inbox.qsize())
            if generation != self._generation or self._resync.is_set():
                continue  # its connection is gone: the broker delivers it again
            try:
                self._handle(message, arrived)
            except Exception:  # a bug must not stop the listener; the message is answered and acknowledged
                log.exception("MQTT message on %s failed", message.topic)
                err = InputError("internal error while handling the message; see the listener's log")
                err.status = 500
                self.state.count("failed", time.monotonic() - arrived, "internal error")
                self._answer(refused(self._asset(message.topic), err))
                self._ack(message, generation)

    def _handle(self, message: paho.MQTTMessage, arrived: float) -> None:
        generation = self._generation
        asset = self._asset(message.topic)
        properties, content_type = _properties(message)
        key = message_key(message.topic, message.payload, properties)
        try:
            outcome = self.handler.handle(asset, message.payload, properties, content_type, key=key)
        except StoreUnavailable as err:
            self.state.count("unavailable", error=str(err))  # counted before answering: whoever got the
            self._answer(refused(asset, _unavailable(err)))  # answer sees it in /readyz
            self._resync.set()
            self.client.disconnect()  # not acknowledged: delivered again after the reconnect
            return
        if outcome.stored:
            self._stored += 1
            if self._kill_after and self._stored >= self._kill_after:
                os.kill(os.getpid(), signal.SIGKILL)  # test hook: stored, not acknowledged
        replayed = outcome.stored and outcome.answer["stored"]["replayed"]
        kind = "refused" if not outcome.stored else "replayed" if replayed else "stored"
        # counted before the answer goes out: a client that got the answer sees it counted in /readyz
        self.state.count(kind, time.monotonic() - arrived, outcome.error and outcome.error["error"])
        self._answer(outcome)
        self._ack(message, generation)

    def _ack(self, message: paho.MQTTMessage, generation: int) -> None:
        if generation == self._generation:
            self.client.ack(message.mid, message.qos)

    def _asset(self, topic: str) -> str:
        levels = topic.split("/")
        return levels[self.level] if len(levels) > self.level else ""

    # ------------------------------------------------------------------------------------------ answers
    def _answer(self, outcome: Outcome) -> None:
        kind = "error" if outcome.error is not None else "diagnosis"
        self._publish(ANSWER_TOPICS[kind].format(asset=outcome.asset), outcome.answer)
        for event in ("opened", "closed"):
            if outcome.alarm_changes.get(event):
                self._alarm(outcome.asset, event, outcome.alarm_changes[event], outcome.open_alarms)

    def _alarm(self, asset: str, event: str, changed: list[dict], open_alarms: list[dict]) -> None:
        """Publish an alarm change with the asset's open alarms, retained (the current state)."""
        self._alarm_seen[asset] = _fingerprint(open_alarms)
        self._publish(ANSWER_TOPICS["alarm"].format(asset=asset), {
            "asset": asset, "event": event, "alarms": changed, "open_alarms": open_alarms,
            "at": datetime.now(timezone.utc),
        }, retain=True)

    def _publish(self, topic: str, body: dict[str, Any], retain: bool = False) -> None:
        self.client.publish(topic, json.dumps(body, default=_json_default), qos=1, retain=retain)

    def _idle(self) -> None:
        """Between messages: refresh the status file; now and then publish alarm changes made elsewhere
        (acknowledged or closed over HTTP, opened by the HTTP route)."""
        self.state.write()
        if not self.state.connected or time.monotonic() - self._alarm_polled < self.config.alarm_poll_s:
            return
        self._alarm_polled = time.monotonic()
        try:
            alarms = [a.model_dump(mode="json") for a in self.handler.store.get().alarms("open")]
        except Exception as err:  # the database down is reported when a message needs it
            log.debug("alarm watch skipped: %s", err)
            return
        by_asset: dict[str, list[dict]] = {}
        for alarm in alarms:
            by_asset.setdefault(alarm["asset"], []).append(alarm)
        for asset in set(by_asset) | set(self._alarm_seen):
            now_open = by_asset.get(asset, [])
            before = self._alarm_seen.get(asset, ())
            if _fingerprint(now_open) != before:
                self._alarm(asset, _event(before, now_open), now_open, now_open)


def _properties(message: paho.MQTTMessage) -> tuple[dict[str, str], str | None]:
    """MQTT 5 user properties (bounded: the first 32) and content type of a message."""
    props = getattr(message, "properties", None)
    pairs = getattr(props, "UserProperty", None) or []
    return {str(k): str(v) for k, v in pairs[:32]}, getattr(props, "ContentType", None)


def _unavailable(err: StoreUnavailable) -> InputError:
    error = InputError(str(err), "database")
    error.status = 503
    return error


def _fingerprint(alarms: list[dict]) -> tuple:
    return tuple(sorted((a["id"], a["level"], str(a.get("acknowledged_at"))) for a in alarms))


def _event(before: tuple, now_open: list[dict]) -> str:
    """What changed between two fingerprints: opened, closed, acknowledged or updated."""
    was, now = {a[0] for a in before}, {a["id"] for a in now_open}
    if now - was:
        return "opened"
    if was - now:
        return "closed"
    acknowledged = {a[0] for a in before if a[2] != "None"}
    return "acknowledged" if any(a.get("acknowledged_at") and a["id"] not in acknowledged
                                 for a in now_open) else "updated"


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def _text(value: Any) -> str | None:
    return None if value is None else str(value)
