"""API key, CORS and metrics across several workers, on a real ``faultdx serve --workers 2`` process."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor

import httpx
import numpy as np
import pytest

from tests.service_support import RATE, WINDOW, make_model_dir, running_server, served_model_dir, tone

KEY = "s3cret-key"
ORIGIN = "http://page.example"


@pytest.fixture(scope="module")
def metrics_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("prometheus")


@pytest.fixture(scope="module")
def server(tmp_path_factory, metrics_dir):
    model = served_model_dir(tmp_path_factory.mktemp("models"))
    (metrics_dir / "counter_999999.db").write_bytes(b"stale")  # a previous run's file: must be wiped
    env = {
        "FAULTDX_API_KEY": KEY,
        "FAULTDX_CORS_ORIGINS": ORIGIN,
        "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
    }
    with running_server(model, env=env, workers=2) as url:
        yield url


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/v2/health/live", "/v2/health/ready"])
def test_health_endpoints_are_open(server, path) -> None:
    assert httpx.get(server + path).status_code == 200


@pytest.mark.parametrize("path", ["/v1/models", "/v2", "/metrics"])
def test_other_endpoints_need_the_key(server, path) -> None:
    for headers in ({}, {"X-API-Key": "wrong"}, {"X-API-Key": ""}):
        r = httpx.get(server + path, headers=headers)
        assert r.status_code == 401 and r.json()["field"] == "X-API-Key", r.text
    assert httpx.get(server + path, headers={"X-API-Key": KEY}).status_code == 200


def test_diagnose_and_v2_infer_with_the_key(server) -> None:
    import tritonclient.http as th
    from tritonclient.utils import InferenceServerException

    body = {"signals": tone(0.5).tolist(), "sampling_rate": RATE}
    assert httpx.post(server + "/v1/diagnose", json=body).status_code == 401
    assert httpx.post(server + "/v1/diagnose", json=body, headers={"X-API-Key": KEY}).status_code == 200

    client = th.InferenceServerClient(server.removeprefix("http://"))
    name = httpx.get(server + "/readyz").json()["default"]
    inp = th.InferInput("signal", [1, WINDOW], "FP32")
    inp.set_data_from_numpy(np.zeros((1, WINDOW), np.float32) + tone(WINDOW / RATE)[None])
    with pytest.raises(InferenceServerException) as err:
        client.infer(name, [inp])
    assert err.value.status() == "401"
    result = client.infer(name, [inp], headers={"X-API-Key": KEY})
    assert result.as_numpy("probabilities").shape[0] == 1
    client.close()


def test_cors_only_for_the_configured_origin(server) -> None:
    preflight = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "x-api-key"}
    ok = httpx.options(server + "/v1/diagnose", headers={"Origin": ORIGIN, **preflight})
    assert ok.status_code == 200 and ok.headers["access-control-allow-origin"] == ORIGIN
    other = httpx.options(server + "/v1/diagnose", headers={"Origin": "http://evil.example", **preflight})
    assert "access-control-allow-origin" not in other.headers


def test_metrics_add_up_over_both_workers(server, metrics_dir) -> None:
    pattern = re.compile(
        r'^faultdx_http_requests_total\{method="POST",route="/v1/diagnose",status="200"\} (\S+)$', re.M
    )

    def served() -> float:
        text = httpx.get(server + "/metrics", headers={"X-API-Key": KEY}).text
        match = pattern.search(text)
        return float(match.group(1)) if match else 0.0

    before = served()
    body = {"signals": tone(0.5).tolist(), "sampling_rate": RATE}
    n = 30

    def call(_: int) -> int:  # a new connection each, several at once: both workers get some
        return httpx.post(server + "/v1/diagnose", json=body, headers={"X-API-Key": KEY}).status_code

    with ThreadPoolExecutor(8) as pool:
        assert set(pool.map(call, range(n))) == {200}
    for _ in range(6):  # whichever worker answers, it reports the total of both
        assert served() == before + n
    pids = {m.group(1) for p in metrics_dir.iterdir() if (m := re.match(r"\w+?_(\d+)\.db$", p.name))}
    assert len(pids) >= 2, pids  # both workers wrote samples
    assert "999999" not in pids  # the stale file was removed at start



def test_the_key_is_checked_in_one_place_and_documented_from_the_same_list(tmp_path) -> None:
    from fastapi.testclient import TestClient
    from faultdx_service.auth import ApiKeyMiddleware, is_public
    from faultdx_service.main import create_app
    from faultdx_service.settings import Settings

    model = make_model_dir(tmp_path / "tiny-aprelu")
    app = create_app(Settings(model=[str(model)], api_key=KEY, trace=False))
    schema = app.openapi()
    assert schema["components"]["securitySchemes"]["APIKeyHeader"]["name"] == "X-API-Key"
    operations = [(m, p, op) for p, ops in schema["paths"].items() for m, op in ops.items()]
    assert len(operations) > 20
    for method, path, operation in operations:
        documented = operation.get("security") == [{"APIKeyHeader": []}]
        assert documented != is_public(path), (method, path)
    # Take the middleware out: if no route checks the key a second time, nothing answers 401 any more.
    app.user_middleware = [m for m in app.user_middleware if m.cls is not ApiKeyMiddleware]
    client = TestClient(app, raise_server_exceptions=False)  # no lifespan: nothing loads, answers stay cheap
    for method, path, _ in operations:
        r = client.request(method.upper(), re.sub(r"\{[^}]+\}", "x", path))
        assert r.status_code != 401, (method, path, r.text)
