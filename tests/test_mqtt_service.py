"""The listener inside the service (FAULTDX_MQTT_URL): /readyz and /metrics report it, HTTP keeps answering;
and a database outage (real PostgreSQL stopped) leaves the message unacknowledged until it is stored once."""

from __future__ import annotations

import time
import uuid

import pytest
from fastapi.testclient import TestClient
from faultdx_service.main import create_app
from faultdx_service.settings import Settings

from faultdx.monitor.assets import AssetSpec
from faultdx.monitor.store import Store
from tests.mqtt_support import Broker, Subscriber, require_mosquitto
from tests.service_support import RATE, make_model_dir, tone
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
