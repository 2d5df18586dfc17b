"""The listener's message handling without a broker: the same refusals (status and field) as
``POST /v1/diagnose`` with an asset, the raw float32 form, and what is stored (once per key)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from fastapi.testclient import TestClient
from faultdx_service.main import create_app
from faultdx_service.settings import Settings

from faultdx.diagnose import Diagnoser
from faultdx.errors import InputError
from faultdx.ingest.handle import MessageHandler, StoreOpener, message_key
from faultdx.ingest.mqtt import asset_level, parse_url
from faultdx.ingest.payload import parse
from faultdx.monitor.assets import AssetSpec
from faultdx.monitor.store import Store
from tests.service_support import RATE, make_model_dir, tone

MAX_SAMPLES = 20_000
GOOD = tone(0.4).tolist()
# bodies both interfaces refuse; the asset pump-7 gives rpm, bearing and rate where the body has none
REFUSED = [
    {"signals": GOOD, "sampling_rate": 10},
    {"signals": GOOD, "sampling_rate": "12000"},
    {"signals": GOOD, "sampling_rate": True},
    {"signals": [[1.0, 2.0], [3.0]]},
    {"signals": ["a", "b"]},
    {"signals": [True, False]},
    {"signals": []},
    {"signals": [[[[1.0]]]]},
    {"signals": GOOD, "rpm": 5},
    {"signals": GOOD, "rpm": "fast"},
    {"signals": GOOD, "bearing": {"balls": 2}},
    {"signals": GOOD, "bearing": "no such bearing"},
    {"signals": GOOD, "model": "nope"},
    {"signals": GOOD, "window": 0},
    {"signals": GOOD, "hop": 1.5},
    {"signals": GOOD, "measured_at": "yesterday"},
    {"signals": GOOD, "unknown_field": 1},
    {"sampling_rate": RATE},
    {"signals": tone(2.0).tolist()},  # 24,000 samples: over the budget
    {"signals": [1.0, 2.0, 3.0]},  # shorter than a window
    {"signals": [1e39] * 4096},  # not finite as float32
]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return make_model_dir(tmp_path_factory.mktemp("models") / "tiny-aprelu")


@pytest.fixture
def handler_and_http(model_dir, tmp_path):
    url = f"sqlite:///{tmp_path / 'monitor.sqlite'}"
    store = Store(url)
    store.create_asset(AssetSpec(name="pump-7", rpm=1797, sampling_rate=RATE, bearing="SKF 6205"))
    diagnoser = Diagnoser.from_dir(model_dir, trace=False)
    handler = MessageHandler({diagnoser.name: diagnoser}, diagnoser.name, StoreOpener(url),
                             max_samples=MAX_SAMPLES, max_windows=4096, max_bytes=1 << 20)
    settings = Settings(model=[str(model_dir)], database_url=url, log_json=False, trace=False,
                        max_samples=MAX_SAMPLES)
    with TestClient(create_app(settings)) as http:
        yield handler, http, store
    handler.store.close()
    store.close()


@pytest.mark.parametrize("body", REFUSED, ids=lambda b: json.dumps(b)[:60])
def test_refusals_match_the_http_route(handler_and_http, body) -> None:
    handler, http, store = handler_and_http
    answer = http.post("/v1/diagnose", json={**body, "asset": "pump-7"})
    outcome = handler.handle("pump-7", json.dumps(body).encode())
    assert 400 <= answer.status_code < 500, answer.text
    assert outcome.error is not None, outcome.answer
    assert (outcome.error["status"], outcome.error["field"]) == (answer.status_code, answer.json()["field"])
    assert store.count_diagnoses() == 0


def test_stored_once_per_key_and_answered_like_http(handler_and_http) -> None:
    handler, http, store = handler_and_http
    payload = json.dumps({"signals": GOOD}).encode()
    key = message_key("faultdx/pump-7/signal", payload)
    first = handler.handle("pump-7", payload, key=key)
    again = handler.handle("pump-7", payload, key=key)
    assert first.error is None and first.answer["stored"]["replayed"] is False
    assert again.answer["stored"]["replayed"] is True
    assert again.answer["stored"]["diagnosis_ids"] == first.answer["stored"]["diagnosis_ids"]
    assert store.count_diagnoses("pump-7") == 1
    over_http = http.post("/v1/diagnose", json={"signals": GOOD, "asset": "pump-7"}).json()
    assert set(first.answer["stored"]) == set(over_http["stored"])
    over_http = over_http["results"][0]
    result = first.answer["results"][0]
    assert set(result) == set(over_http)  # baseline judgement included (none stored: used false)
    assert result["baseline"]["used"] is False and result["baseline"] == over_http["baseline"]
    assert result["fault_type"] == over_http["fault_type"]
    assert result["confidence"] == pytest.approx(over_http["confidence"], abs=1e-6)


def test_raw_float32_with_user_properties() -> None:
    samples = np.arange(4096, dtype="<f4")
    properties = {"sampling_rate": "25600", "rpm": "1500", "id": "s-1"}
    message = parse(samples.tobytes(), properties, max_bytes=1 << 20)
    assert message.sampling_rate == 25600 and message.rpm == 1500 and message.id == "s-1"
    np.testing.assert_array_equal(message.signals[0], samples)
    with pytest.raises(InputError) as bad:
        parse(b"\x00" * 7, None, "application/octet-stream", max_bytes=1 << 20)
    assert bad.value.field == "body"
    with pytest.raises(InputError) as bad:
        parse(samples.tobytes(), {"sampling_rate": "fast"}, max_bytes=1 << 20)
    assert bad.value.field == "sampling_rate"
    with pytest.raises(InputError) as big:
        parse(samples.tobytes(), {"sampling_rate": "25600"}, max_bytes=1000)
    assert big.value.status == 413 and big.value.field == "body"


def test_broker_url_and_topic_filter() -> None:
    assert parse_url("mqtt://broker")["port"] == 1883
    secure = parse_url("mqtts://user:p%40ss@broker:8884")
    assert (secure["tls"], secure["port"]) == (True, 8884)
    assert (secure["username"], secure["password"]) == ("user", "p@ss")
    for bad in ("http://broker", "mqtt://", "mqtt://broker:99999"):
        with pytest.raises(InputError):
            parse_url(bad)
    assert asset_level("faultdx/+/signal") == 1
    assert asset_level("plant/hall-b/+/vibration") == 2
    for bad in ("faultdx/#", "faultdx/+/+/signal", "faultdx/signal"):
        with pytest.raises(InputError):
            asset_level(bad)


def test_judged_against_the_assets_baseline_like_http(handler_and_http) -> None:
    handler, http, store = handler_and_http
    healthy = {"signals": [tone(0.8, seed=s).tolist() for s in (1, 2)], "sampling_rate": RATE}
    made = http.post("/v1/assets/pump-7/baseline", json=healthy)
    assert made.status_code == 201, made.text
    body = {"signals": tone(0.4, seed=7).tolist()}
    outcome = handler.handle("pump-7", json.dumps(body).encode(), key="judged-1")
    over_http = http.post("/v1/diagnose", json={**body, "asset": "pump-7"}).json()["results"][0]
    verdict = outcome.answer["results"][0]["baseline"]
    assert verdict["used"] is True and verdict["recordings"] == over_http["baseline"]["recordings"]
    assert verdict["distance"] == pytest.approx(over_http["baseline"]["distance"], rel=1e-6)
    assert outcome.answer["results"][0]["fault_type"] == over_http["fault_type"]
