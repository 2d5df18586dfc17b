"""The listener inside the service (FAULTDX_MQTT_URL): /readyz and /metrics report it, HTTP keeps answering;
and a database outage (real PostgreSQL stopped) leaves the message unacknowledged until it is stored once."""

from __future__ import annotations

import time
import uuid

import httpx
import pytest
from fastapi.testclient import TestClient
from faultdx_service.main import create_app
from faultdx_service.settings import Settings

from faultdx.data.readers import read_signal
from faultdx.monitor.assets import AssetSpec
from faultdx.monitor.store import Store
from faultdx.paths import PROJECT_ROOT, data_dir
from tests.mqtt_support import Broker, Subscriber, require_mosquitto
from tests.service_support import RATE, make_model_dir, running_server, tone
from tests.test_mqtt import settings_for, start_listener, wait_for

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


def test_readyz_and_metrics_report_the_listener(broker, model_dir, tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'monitor.sqlite'}"
    Store(url).create_asset(AssetSpec(name="pump-7", rpm=1797, sampling_rate=RATE, bearing="SKF 6205"))
    settings = Settings(model=[str(model_dir)], database_url=url, log_json=False, trace=False,
                        mqtt_url=broker.url, mqtt_client_id=f"t-{uuid.uuid4().hex[:10]}")
    subscriber = Subscriber(broker)
    with TestClient(create_app(settings)) as http:
        wait_for(lambda: http.get("/readyz").json().get("mqtt", {}).get("state") == "connected",
                 "/readyz to say the listener is connected")
        subscriber.publish("faultdx/pump-7/signal", {"signals": tone(0.4).tolist(), "id": "svc-1"})
        _, answer, _ = subscriber.next("/diagnosis")
        assert answer["id"] == "svc-1" and answer["stored"]["replayed"] is False
        ready = http.get("/readyz")
        assert ready.status_code == 200 and ready.json()["mqtt"]["messages"]["stored"] == 1
        over_http = http.post("/v1/diagnose", json={"signals": tone(0.4).tolist(), "sampling_rate": RATE})
        assert over_http.status_code == 200
        metrics = http.get("/metrics").text
        assert "faultdx_mqtt_connected 1.0" in metrics
        assert 'faultdx_mqtt_messages_total{outcome="stored"}' in metrics
    subscriber.close()
    assert Store(url).count_diagnoses("pump-7") == 1


def test_database_down_leaves_the_message_unacknowledged(broker, model_dir, postgres) -> None:
    url = postgres.create_database()
    store = Store(url)
    store.create_asset(AssetSpec(name="pump-7", rpm=1797, sampling_rate=RATE, bearing="SKF 6205"))
    listener = start_listener(settings_for(broker, url, model_dir))
    subscriber = Subscriber(broker)
    try:
        subscriber.publish("faultdx/pump-7/signal", {"signals": tone(0.4).tolist(), "id": "before"})
        assert subscriber.next("/diagnosis")[1]["id"] == "before"
        postgres.stop()
        try:
            during = {"signals": tone(0.4, seed=1).tolist(), "id": "during"}
            subscriber.publish("faultdx/pump-7/signal", during)
            _, error, _ = subscriber.next("/error")
            assert (error["status"], error["field"]) == (503, "database")
            wait_for(lambda: listener.state.counts["unavailable"] >= 2, "a redelivery while it is down")
        finally:
            postgres.start()
        _, answer, _ = subscriber.next("/diagnosis", timeout=60)
        assert answer["id"] == "during" and answer["stored"]["replayed"] is False
        time.sleep(1.0)  # nothing more arrives: stored once
        assert store.count_diagnoses("pump-7") == 2
    finally:
        listener.stop()
        subscriber.close()
        store.close()


@pytest.mark.slow
def test_a_recording_on_pump_7_comes_back_and_is_stored_once(broker, tmp_path) -> None:
    """The issue's "done when": `faultdx serve` (shipped model, two workers: one listens) with
    FAULTDX_MQTT_URL; a CWRU recording published on faultdx/pump-7/signal is answered on
    faultdx/pump-7/diagnosis and stored once; a broken payload is answered on faultdx/pump-7/error."""
    recording = read_signal(data_dir() / "cwru" / "12k_drive_end" / "105.mat", channel="DE")
    samples = recording.signal[0, :RATE].tolist()  # 1 s at 12 kHz
    env = {"FAULTDX_MQTT_URL": broker.url, "FAULTDX_MQTT_CLIENT_ID": f"t-{uuid.uuid4().hex[:10]}",
           "FAULTDX_DATABASE_URL": f"sqlite:///{tmp_path / 'monitor.sqlite'}", "OMP_NUM_THREADS": "1"}
    subscriber = Subscriber(broker)
    try:
        shipped = PROJECT_ROOT / "models" / "hybrid-aprelu"
        with running_server(shipped, env=env, workers=2, timeout=240) as url:
            made = httpx.post(url + "/v1/assets", json={"name": "pump-7", "rpm": 1797, "sampling_rate": RATE,
                                                         "bearing": "SKF 6205"})
            assert made.status_code == 201, made.text
            wait_for(lambda: httpx.get(url + "/readyz").json().get("mqtt", {}).get("state") == "connected",
                     "the listener to connect", timeout=60)
            subscriber.publish("faultdx/pump-7/signal", {"signals": samples, "id": "105-first-second"})
            topic, answer, _ = subscriber.next("/diagnosis", timeout=120)
            assert topic == "faultdx/pump-7/diagnosis" and answer["id"] == "105-first-second"
            assert answer["model"]["name"] == "hybrid-aprelu"
            assert answer["results"][0]["machine"]["rpm"] == 1797
            subscriber.publish("faultdx/pump-7/signal", b'{"signals": [0.1, 0.2')
            topic, error, _ = subscriber.next("/error")
            assert topic == "faultdx/pump-7/error" and (error["status"], error["field"]) == (422, "body")
            history = httpx.get(url + "/v1/assets/pump-7/diagnoses").json()
            assert history["total"] == 1
            assert history["items"][0]["id"] == answer["stored"]["diagnosis_ids"][0]
    finally:
        subscriber.close()
