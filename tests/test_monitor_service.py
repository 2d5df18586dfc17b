"""The monitoring API: /v1/assets, /v1/alarms and /v1/diagnose with an asset, in-process (SQLite) and against
real servers (SQLite with two workers, PostgreSQL): concurrent posts lose nothing, a retried request is stored
once, and a database outage answers 503 until it is back."""

from __future__ import annotations

import io
import threading
import time
import uuid

import httpx
import numpy as np
import pandas as pd
import pytest

from faultdx.monitor.store import Store
from tests.service_support import RATE, app_client, make_model_dir, running_server, tone

CLIENTS = 32
CONCURRENT_S = 2.0


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return make_model_dir(tmp_path_factory.mktemp("models") / "tiny-aprelu")


@pytest.fixture
def client(model_dir, tmp_path):
    with app_client(model_dir, database_url=f"sqlite:///{tmp_path / 'monitor.sqlite'}") as c:
        yield c


def signal(g: float = 1.0, seconds: float = 0.5, seed: int = 0) -> list[float]:
    """A 100 Hz tone of ``g`` amplitude plus the noisy stand-in vibration: velocity RMS rises with ``g``."""
    t = np.arange(int(seconds * RATE)) / RATE
    return (g * np.sin(2 * np.pi * 100 * t) + 0.01 * tone(seconds, seed=seed)).tolist()


def test_asset_crud_over_the_api(client) -> None:
    body = {"name": "pump 7", "machine": "P-107", "location": "hall B", "sensor_position": "DE horizontal",
            "bearing": "SKF 6205", "rpm": 1797, "sampling_rate": RATE, "iso_group": 2, "support": "rigid",
            "tags": ["water"]}
    created = client.post("/v1/assets", json=body)
    assert created.status_code == 201, created.text
    asset = created.json()
    assert asset["limits"]["cd"] == 4.5 and asset["status"] is None
    assert client.post("/v1/assets", json=body).status_code == 409
    bad = client.post("/v1/assets", json={"name": "x", "bearing": {"balls": 2}})
    assert bad.status_code == 422 and "bearing" in bad.json()["error"]
    assert client.post("/v1/assets", json={"name": "123"}).status_code == 422
    assert client.post("/v1/assets", json={"name": "x", "iso_group": 2}).status_code == 422
    assert client.get("/v1/assets/pump 7").json()["id"] == asset["id"]
    patched = client.patch(f"/v1/assets/{asset['id']}", json={"location": "hall C", "rpm": None})
    assert patched.status_code == 200
    assert patched.json()["location"] == "hall C" and patched.json()["rpm"] is None
    assert client.patch("/v1/assets/pump 7", json={"rpm": 5}).status_code == 422
    listed = client.get("/v1/assets").json()["assets"]
    assert [a["name"] for a in listed] == ["pump 7"] and listed[0]["status"]["open_alarms"] == 0
    assert client.delete("/v1/assets/pump 7").status_code == 204
    missing = client.get("/v1/assets/pump 7")
    assert missing.status_code == 404 and missing.json()["field"] == "asset"


def test_a_diagnosis_for_an_asset_is_stored_with_indicators_zone_and_alarms(client) -> None:
    client.post("/v1/assets", json={"name": "fan", "bearing": "SKF 6205", "rpm": 1797, "sampling_rate": RATE,
                                    "iso_group": 2, "support": "rigid", "alarm_repeat_n": 1,
                                    "alarm_repeat_m": 1})
    # sampling rate, rpm and bearing come from the asset; the request's rpm overrides the asset's
    done = client.post("/v1/diagnose", json={"signals": [signal(0.01)], "asset": "fan", "rpm": 1700,
                                             "measured_at": "2026-03-01T10:00:00Z"})
    assert done.status_code == 200, done.text
    stored = done.json()["stored"]
    assert stored["asset"]["name"] == "fan" and stored["zones"] == ["A"] and not stored["replayed"]
    high = client.post("/v1/diagnose", json={"signals": [signal(1.0)], "asset": "fan",
                                             "measured_at": "2026-03-02T10:00:00Z"})
    assert high.json()["stored"]["zones"] == ["D"]  # 1 g at 100 Hz is 11 mm/s
    assert "zone" in [a["kind"] for a in high.json()["stored"]["alarms_opened"]]

    items = client.get("/v1/assets/fan/diagnoses", params={"limit": 1}).json()
    assert items["total"] == 2 and len(items["items"]) == 1
    latest = items["items"][0]
    assert latest["zone"] == "D" and latest["indicators"]["velocity_rms"] == pytest.approx(11.04, rel=0.02)
    assert latest["rpm"] == 1797 and latest["defect_frequencies_hz"]["bpfo"] > 0
    first = client.get("/v1/assets/fan/diagnoses", params={"end": "2026-03-02T00:00:00Z"}).json()["items"]
    assert len(first) == 1 and first[0]["rpm"] == 1700

    alarms = client.get("/v1/alarms").json()["alarms"]
    zone = next(a for a in alarms if a["kind"] == "zone")
    acked = client.post(f"/v1/alarms/{zone['id']}/acknowledge", json={"note": "checked the foundation bolts"})
    assert acked.status_code == 200 and acked.json()["note"] == "checked the foundation bolts"
    assert client.post("/v1/alarms/999999/acknowledge", json={}).status_code == 404
    metrics = client.get("/metrics").text
    assert f"faultdx_open_alarms {float(len(alarms))}" in metrics

    trend = client.get("/v1/assets/fan/trend").json()
    assert trend["series"]["zone"] == ["A", "D"] and [d["day"] for d in trend["daily"]] == ["2026-03-01",
                                                                                           "2026-03-02"]
    csv = client.get("/v1/assets/fan/export", params={"format": "csv"})
    assert csv.headers["content-type"].startswith("text/csv") and len(pd.read_csv(io.StringIO(csv.text))) == 2
    parquet = client.get("/v1/assets/fan/export", params={"format": "parquet"})
    assert list(pd.read_parquet(io.BytesIO(parquet.content))["zone"]) == ["A", "D"]


def test_bad_monitoring_requests_are_4xx_naming_the_field(client) -> None:
    no_rate = client.post("/v1/diagnose", json={"signals": [signal()]})
    assert no_rate.status_code == 422 and no_rate.json()["field"] == "sampling_rate"
    unknown = client.post("/v1/diagnose",
                          json={"signals": [signal()], "sampling_rate": RATE, "asset": "nope"})
    assert unknown.status_code == 404 and unknown.json()["field"] == "asset"
    assert client.get("/v1/assets/nope/trend").status_code == 404
    assert client.get("/v1/assets/99999999999999999999999").status_code == 404
    assert client.get("/v1/alarms", params={"state": "maybe"}).status_code == 422
    for bad in ({"limit": 0}, {"cursor": "abc"}, {"cursor": "\u00b2"}, {"cursor": str(2**31)}):
        refused = client.get("/v1/alarms", params=bad)
        assert refused.status_code == 422 and next(iter(bad)) in refused.text
    assert client.get("/v1/assets/x/diagnoses", params={"limit": 0}).status_code == 422


def test_a_retried_request_with_the_same_idempotency_key_is_stored_once(client) -> None:
    client.post("/v1/assets", json={"name": "m", "sampling_rate": RATE, "rpm": 1797})
    headers = {"Idempotency-Key": "7d1c0a52-retry"}
    body = {"signals": [signal(), signal(seed=1)], "asset": "m"}
    first = client.post("/v1/diagnose", json=body, headers=headers).json()["stored"]
    again = client.post("/v1/diagnose", json=body, headers=headers).json()["stored"]
    assert again["replayed"] and again["diagnosis_ids"] == first["diagnosis_ids"]
    assert client.get("/v1/assets/m/diagnoses").json()["total"] == 2
    client.post("/v1/assets", json={"name": "n", "sampling_rate": RATE, "rpm": 1797})
    reused = client.post("/v1/diagnose", json={**body, "asset": "n"}, headers=headers)
    assert reused.status_code == 409 and reused.json()["field"] == "Idempotency-Key"


def _hammer(url: str, asset: str, seconds: float | None) -> tuple[int, list[str]]:
    """``CLIENTS`` threads posting diagnoses for one asset, each for ``seconds`` (None: once each), every post
    with its own Idempotency-Key; (how many were answered 200, the other answers)."""
    body = {"signals": [signal(0.2, seconds=0.2)], "asset": asset}
    ok = [0] * CLIENTS
    errors: list[str] = []
    start = threading.Barrier(CLIENTS)

    def client(i: int) -> None:
        with httpx.Client(base_url=url, timeout=60) as c:
            start.wait()
            deadline = time.monotonic() + (seconds or 0)
            while True:
                r = c.post("/v1/diagnose", json=body, headers={"Idempotency-Key": uuid.uuid4().hex})
                if r.status_code == 200:
                    ok[i] += 1
                else:
                    errors.append(f"{r.status_code} {r.text[:200]}")
                if time.monotonic() >= deadline:
                    break

    threads = [threading.Thread(target=client, args=(i,)) for i in range(CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(ok), errors


def _check_concurrent_posts(url: str, database_url: str, seconds: float | None) -> None:
    httpx.post(url + "/v1/assets", json={"name": "hammered", "sampling_rate": RATE, "rpm": 1797,
                                         "iso_group": 2, "support": "rigid"}).raise_for_status()
    answered, errors = _hammer(url, "hammered", seconds)
    assert not errors, errors[:3]
    store = Store(database_url, migrate=False)
    try:
        stored = store.count_diagnoses("hammered")
    finally:
        store.close()
    print(f"{CLIENTS} clients, {seconds or 'one post'} s: {answered} answered 200, {stored} stored")
    assert answered >= CLIENTS and stored == answered

    # the same request retried by 8 clients at once: all answered, stored once
    body = {"signals": [signal(0.2, seconds=0.2)], "asset": "hammered"}
    replies: list[httpx.Response] = []

    def retry() -> None:
        replies.append(httpx.post(url + "/v1/diagnose", json=body, headers={"Idempotency-Key": "same"},
                                  timeout=60))

    threads = [threading.Thread(target=retry) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [r.status_code for r in replies] == [200] * 8, [r.text[:200] for r in replies]
    assert len({tuple(r.json()["stored"]["diagnosis_ids"]) for r in replies}) == 1
    store = Store(database_url, migrate=False)
    try:
        assert store.count_diagnoses("hammered") == stored + 1
    finally:
        store.close()


def test_concurrent_posts_from_32_clients_to_two_sqlite_workers_are_all_stored(model_dir, tmp_path) -> None:
    database_url = f"sqlite:///{tmp_path / 'monitor.sqlite'}"
    env = {"FAULTDX_DATABASE_URL": database_url, "FAULTDX_TRACE": "false"}
    with running_server(model_dir, env=env, workers=2) as url:
        _check_concurrent_posts(url, database_url, CONCURRENT_S)


def test_postgresql_concurrency_and_an_outage_answer_503_then_recover(model_dir, postgres) -> None:
    database_url = postgres.create_database()
    env = {"FAULTDX_DATABASE_URL": database_url, "FAULTDX_TRACE": "false"}
    with running_server(model_dir, env=env) as url:
        _check_concurrent_posts(url, database_url, None)
        body = {"signals": [signal()], "asset": "hammered"}
        postgres.stop()
        try:
            down = httpx.post(url + "/v1/diagnose", json=body, timeout=60)
            assert down.status_code == 503, down.text
            assert down.json()["field"] == "database" and "database unavailable" in down.json()["error"]
            assert httpx.get(url + "/v1/assets", timeout=60).status_code == 503
            # diagnoses without an asset need no database
            plain = httpx.post(url + "/v1/diagnose", json={"signals": [signal()], "sampling_rate": RATE},
                               timeout=60)
            assert plain.status_code == 200
        finally:
            postgres.start()
        back = httpx.post(url + "/v1/diagnose", json=body, timeout=60)
        assert back.status_code == 200, back.text
        assert back.json()["stored"]["diagnosis_ids"]


def test_a_database_that_cannot_be_opened_is_a_503_naming_the_setting(model_dir, tmp_path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the database's folder should be")
    url = f"sqlite:///{blocker / 'data' / 'monitor.sqlite'}"
    with app_client(model_dir, database_url=url) as client:  # starts: the store is retried per request
        answer = client.get("/v1/assets")
        assert answer.status_code == 503 and "FAULTDX_DATABASE_URL" in answer.json()["error"]
        plain = client.post("/v1/diagnose", json={"signals": [signal()], "sampling_rate": RATE})
        assert plain.status_code == 200  # diagnoses without an asset need no database
