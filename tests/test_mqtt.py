"""The plant listener against a real Mosquitto (tests/mqtt_support.py): round trip, bad payloads, a burst,
a broker restart, messages sent while the listener was away, and a kill -9 between storing and acknowledging.

The listener runs in-process (threads) where that is enough, and as a ``faultdx listen`` subprocess for the
crash test (its test hook SIGKILLs it after storing, before the PUBACK)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import numpy as np
import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from faultdx.ingest.mqtt import KILL_AFTER_STORE_ENV
from faultdx.ingest.runner import load_diagnosers, make_listener
from faultdx.ingest.state import read_status, status_path
from faultdx.monitor.assets import AssetSpec
from faultdx.monitor.store import Store
from faultdx.settings import Settings
from tests.mqtt_support import Broker, Subscriber, require_mosquitto
from tests.service_support import RATE, make_model_dir, tone

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def broker():
    server = Broker(require_mosquitto())
    server.start()
    try:
        yield server
    finally:
        server.remove()


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return make_model_dir(tmp_path_factory.mktemp("models") / "tiny-aprelu")


@pytest.fixture
def database(tmp_path):
    """A fresh SQLite store with the asset pump-7 (rpm, rate and bearing given)."""
    url = f"sqlite:///{tmp_path / 'monitor.sqlite'}"
    store = Store(url)
    store.create_asset(AssetSpec(name="pump-7", rpm=1797, sampling_rate=RATE, bearing="SKF 6205"))
    yield url, store
    store.close()


def settings_for(broker: Broker, url: str, model_dir: Path, **extra) -> Settings:
    values = dict(mqtt_url=broker.url, mqtt_client_id=f"t-{uuid.uuid4().hex[:10]}", database_url=url,
                  model=[str(model_dir)], trace=False, mqtt_reconnect_max_s=2, mqtt_alarm_poll_s=0.5)
    return Settings(**{**values, **extra})


def start_listener(settings: Settings):
    listener = make_listener(settings, load_diagnosers(settings))
    listener.start()
    wait_for(lambda: listener.state.connected, "the listener to connect")
    return listener


def wait_for(condition, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


@pytest.fixture
def subscriber(broker):
    client = Subscriber(broker)
    yield client
    client.close()


def signal(seconds: float = 0.4, seed: int = 0) -> list[float]:
    return tone(seconds, seed=seed).tolist()


def test_round_trip_json_raw_and_redelivered_id(broker, database, model_dir, subscriber) -> None:
    url, store = database
    listener = start_listener(settings_for(broker, url, model_dir))
    try:
        first = {"signals": signal(), "id": "m-1", "measured_at": "2026-01-01T00:00:00Z"}
        subscriber.publish("faultdx/pump-7/signal", first)
        topic, answer, _ = subscriber.next("/diagnosis")
        assert topic == "faultdx/pump-7/diagnosis"
        assert answer["id"] == "m-1" and answer["asset"] == "pump-7"
        assert answer["results"][0]["fault_type"] and answer["results"][0]["machine"]["rpm"] == 1797
        assert answer["stored"]["replayed"] is False and len(answer["stored"]["diagnosis_ids"]) == 1
        # the same id again (a gateway's retry): answered, not stored twice
        subscriber.publish("faultdx/pump-7/signal", first)
        _, again, _ = subscriber.next("/diagnosis")
        assert again["stored"]["replayed"] is True
        assert again["stored"]["diagnosis_ids"] == answer["stored"]["diagnosis_ids"]
        # the same id with another measurement is refused, as HTTP refuses a reused Idempotency-Key
        subscriber.publish("faultdx/pump-7/signal", {**first, "signals": signal(seed=9)})
        _, conflict, _ = subscriber.next("/error")
        assert (conflict["status"], conflict["field"], conflict["id"]) == (409, "id", "m-1")
        # raw float32 with MQTT 5 user properties (the asset gives the rest)
        props = Properties(PacketTypes.PUBLISH)
        props.UserProperty = [("sampling_rate", str(RATE)), ("id", "raw-1")]
        subscriber.publish("faultdx/pump-7/signal", np.asarray(signal(seed=3), "<f4").tobytes(), props)
        _, raw, _ = subscriber.next("/diagnosis")
        assert raw["id"] == "raw-1" and raw["stored"]["replayed"] is False
        assert store.count_diagnoses("pump-7") == 2
        history = store.diagnoses("pump-7").items
        assert 2026 in {h.measured_at.year for h in history}
        assert listener.state.counts["stored"] == 2 and listener.state.counts["replayed"] == 1
    finally:
        listener.stop()


BAD = [
    (b"{not json", 422, "body"),
    (b'{"signals": [1, 2, 3], "sampling_rate": 10}', 422, "sampling_rate"),
    (b'{"signals": [[1, 2], [3]], "sampling_rate": 12000}', 422, "signals[0]"),  # too short
    (b'{"signals": ["a", "b"], "sampling_rate": 12000}', 422, "signals"),
    (b'{"signals": [1.0, 2.0], "sampling_rate": 12000, "asset": "other"}', 422, "asset"),
    (b'{"signals": [1.0, 2.0], "rpm": 5}', 422, "rpm"),
    (b'{"signals": [1.0, 2.0], "bearing": {"balls": 2}}', 422, "bearing"),
    (b'{"signals": [1.0, 2.0], "model": "nope"}', 422, "model"),
    (b'{"signals": [1.0, 2.0], "measured_at": "yesterday"}', 422, "measured_at"),
]


def test_bad_payloads_answer_on_error_and_store_nothing(broker, database, model_dir, subscriber) -> None:
    url, store = database
    settings = settings_for(broker, url, model_dir, max_samples=20_000)
    listener = start_listener(settings)
    try:
        for payload, status, field in BAD:
            subscriber.publish("faultdx/pump-7/signal", payload)
            topic, error, _ = subscriber.next("/error")
            assert topic == "faultdx/pump-7/error"
            assert (error["status"], error["field"]) == (status, field), (payload, error)
        too_many = {"signals": signal(seconds=2.0)}  # 24,000 samples over the 20,000 budget
        subscriber.publish("faultdx/pump-7/signal", too_many)
        _, error, _ = subscriber.next("/error")
        assert error["status"] == 413 and error["field"] == "body"
        subscriber.publish("faultdx/pump-7/signal", b"\x00\x00\x80", _raw_properties())
        _, error, _ = subscriber.next("/error")
        assert (error["status"], error["field"]) == (422, "body")
        subscriber.publish("faultdx/pump-8/signal", {"signals": signal()})
        topic, error, _ = subscriber.next("/error")
        assert topic == "faultdx/pump-8/error" and (error["status"], error["field"]) == (404, "asset")
        assert store.count_diagnoses() == 0
        # the listener keeps running: a good message after the bad ones is stored
        subscriber.publish("faultdx/pump-7/signal", {"signals": signal()})
        _, answer, _ = subscriber.next("/diagnosis")
        assert answer["stored"]["replayed"] is False and store.count_diagnoses() == 1
    finally:
        listener.stop()


def _raw_properties() -> Properties:
    props = Properties(PacketTypes.PUBLISH)
    props.UserProperty = [("sampling_rate", str(RATE))]
    return props


def test_burst_of_1000_stored_once_in_order_per_asset(broker, database, model_dir, subscriber) -> None:
    url, store = database
    store.create_asset(AssetSpec(name="fan-2", rpm=1500, sampling_rate=RATE, bearing="SKF 6205"))
    listener = start_listener(settings_for(broker, url, model_dir))
    try:
        base = np.asarray(signal(seconds=0.18))  # one window a message: it tests the order, not the model
        for i in range(1000):
            asset = "pump-7" if i % 2 == 0 else "fan-2"
            stamp = f"2026-02-01T00:{i // 60:02d}:{i % 60:02d}Z"
            body = {"signals": (base * (1 + i / 1000)).tolist(), "measured_at": stamp}
            subscriber.client.publish(f"faultdx/{asset}/signal", _json(body), qos=1)
        wait_for(lambda: listener.state.counts["stored"] >= 1000, "1,000 messages stored", timeout=240)
        assert store.count_diagnoses("pump-7") == 500 and store.count_diagnoses("fan-2") == 500
        for asset in ("pump-7", "fan-2"):
            items = store.diagnoses(asset, limit=1000).items  # newest measurement first
            by_id = sorted(items, key=lambda d: d.id)
            times = [d.measured_at for d in by_id]
            assert times == sorted(times), f"{asset}: stored out of the order published"
        assert listener.state.counts["refused"] == 0
    finally:
        listener.stop()


def _json(body: dict) -> str:
    import json

    return json.dumps(body)


def test_broker_restart_and_messages_sent_while_away(broker, database, model_dir, subscriber) -> None:
    url, store = database
    settings = settings_for(broker, url, model_dir)
    listener = start_listener(settings)
    try:
        subscriber.close()
        broker.stop()
        wait_for(lambda: not listener.state.connected, "the listener to notice the broker is gone")
        broker.start()
        wait_for(lambda: listener.state.connected, "the listener to reconnect", timeout=30)
        assert listener.state.connections >= 2
        again = Subscriber(broker)
        again.publish("faultdx/pump-7/signal", {"signals": signal(), "id": "after-restart"})
        _, answer, _ = again.next("/diagnosis")
        assert answer["id"] == "after-restart"
    finally:
        listener.stop()
    # published while no listener is connected: kept in the persistent session, handled on return
    for i in range(3):
        again.publish("faultdx/pump-7/signal", {"signals": signal(seed=i), "id": f"away-{i}"})
    back = start_listener(settings)
    try:
        ids = [again.next("/diagnosis")[1]["id"] for _ in range(3)]
        assert ids == ["away-0", "away-1", "away-2"]
        assert store.count_diagnoses("pump-7") == 4
    finally:
        back.stop()
        again.close()


def test_kill_9_between_store_and_ack_stores_once(broker, database, model_dir, subscriber, tmp_path) -> None:
    url, store = database
    client_id = f"t-{uuid.uuid4().hex[:10]}"
    env = {**os.environ, "FAULTDX_MQTT_URL": broker.url, "FAULTDX_MQTT_CLIENT_ID": client_id,
           "FAULTDX_DATABASE_URL": url, "FAULTDX_MODEL": str(model_dir), "FAULTDX_TRACE": "false",
           "OMP_NUM_THREADS": "1", KILL_AFTER_STORE_ENV: "1"}
    cli = [sys.executable, "-c", "from faultdx.cli import main; main()", "listen"]
    first = subprocess.Popen([*cli], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    status = status_path(broker.url, client_id)
    try:
        wait_for(lambda: (read_status(status) or {}).get("state") == "connected", "faultdx listen to connect",
                 timeout=120)
        subscriber.publish("faultdx/pump-7/signal", {"signals": signal()})  # no id: the message's hash is key
        assert first.wait(60) == -9, first.stderr.read().decode()[-2000:]
    finally:
        if first.poll() is None:
            first.kill()
    assert store.count_diagnoses("pump-7") == 1  # stored, never acknowledged
    env.pop(KILL_AFTER_STORE_ENV)
    second = subprocess.Popen([*cli], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _, answer, _ = subscriber.next("/diagnosis", timeout=120)  # the broker delivered it again
        assert answer["stored"]["replayed"] is True
        assert store.count_diagnoses("pump-7") == 1
    finally:
        second.terminate()
        assert second.wait(30) == 0


def test_alarm_changes_published_and_retained(broker, database, model_dir, subscriber) -> None:
    url, store = database
    limits = {"ab": 0.001, "bc": 0.002, "cd": 0.003}  # every measurement lands in zone D: a zone alarm opens
    store.create_asset(AssetSpec(name="hot-1", zone_limits=limits, alarm_repeat_n=1, alarm_repeat_m=1))
    listener = start_listener(settings_for(broker, url, model_dir))
    try:
        subscriber.publish("faultdx/hot-1/signal", {"signals": signal(), "sampling_rate": RATE})
        topic, opened, _ = subscriber.next("/hot-1/alarm")
        assert topic == "faultdx/hot-1/alarm" and opened["event"] == "opened"
        zone = next(a for a in opened["open_alarms"] if a["kind"] == "zone")
        assert zone["level"] == "D" and zone["acknowledged_at"] is None
        store.acknowledge(zone["id"], "seen by the test")  # acknowledged elsewhere (HTTP, CLI)
        _, acknowledged, _ = subscriber.next("/hot-1/alarm", timeout=30)
        assert acknowledged["event"] == "acknowledged"
        assert any(a["id"] == zone["id"] and a["acknowledged_at"] for a in acknowledged["open_alarms"])
        late = Subscriber(broker, "faultdx/hot-1/alarm")  # a dashboard that connects later
        try:
            _, state, retained = late.next("/hot-1/alarm", timeout=10)
            assert retained and state["event"] == "acknowledged"
        finally:
            late.close()
    finally:
        listener.stop()


def test_mqtt_3_1_1_persistent_session(broker, database, model_dir, subscriber) -> None:
    url, store = database
    settings = settings_for(broker, url, model_dir, mqtt_protocol="3.1.1")
    listener = start_listener(settings)
    try:
        subscriber.publish("faultdx/pump-7/signal", {"signals": signal(), "id": "v311-live"})
        assert subscriber.next("/diagnosis")[1]["id"] == "v311-live"
    finally:
        listener.stop()
    subscriber.publish("faultdx/pump-7/signal", {"signals": signal(seed=5), "id": "v311-away"})
    back = start_listener(settings)
    try:
        assert subscriber.next("/diagnosis")[1]["id"] == "v311-away"
        assert store.count_diagnoses("pump-7") == 2
    finally:
        back.stop()
