"""Typed errors and request hygiene: strict request types, deep nesting, the API key before the body, exactly
the documented public routes, and a request id on every unexpected error (body, header and log line)."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from faultdx_service.auth import PUBLIC_PATHS, PUBLIC_PREFIXES
from faultdx_service.main import create_app
from faultdx_service.settings import Settings

from faultdx.paths import PROJECT_ROOT
from tests.service_support import RATE, make_model_dir, tone

KEY = "k3y"
SIGNAL = tone(0.5).tolist()


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    return make_model_dir(tmp_path_factory.mktemp("models") / "tiny-aprelu")


@pytest.fixture(scope="module")
def client(model_dir):
    with TestClient(create_app(Settings(model=[str(model_dir)], api_key=None, trace=False))) as c:
        yield c


@pytest.fixture(scope="module")
def keyed(model_dir):
    with TestClient(create_app(Settings(model=[str(model_dir)], api_key=KEY, trace=False))) as c:
        yield c


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"hop": True}, "hop"),
        ({"window": "2048"}, "window"),
        ({"include_slopes": "yes"}, "include_slopes"),
        ({"sampling_rate": "12000"}, "sampling_rate"),
        ({"rpm": "1797"}, "rpm"),
        ({"signals": [0.5, True] * 3000}, "signals"),
        ({"signals": [[0.5] * 6000, [True] + [1] * 5999]}, "signals"),
    ],
)
def test_request_types_are_strict(client, extra, field) -> None:
    r = client.post("/v1/diagnose", json={"signals": SIGNAL, "sampling_rate": RATE, **extra})
    assert r.status_code == 422 and r.json()["field"] == field, r.text


def test_envelope_request_types_are_strict(client) -> None:
    for extra, field in (({"harmonics": "5"}, "harmonics"), ({"sampling_rate": True}, "sampling_rate"),
                         ({"signal": [0.1, False] * 200}, "signal")):
        r = client.post("/v1/envelope", json={"signal": SIGNAL, "sampling_rate": RATE, **extra})
        assert r.status_code == 422 and r.json()["field"] == field, r.text


@pytest.mark.parametrize("depth", [5_000, 100_000])
def test_deeply_nested_json_is_a_client_error(client, depth) -> None:
    nested = "[" * depth + "]" * depth
    for path, body in (("/v2/models/tiny-aprelu/infer", f'{{"inputs": {nested}}}'),
                       ("/v1/diagnose", f'{{"signals": {nested}, "sampling_rate": 12000}}')):
        r = client.post(path, content=body, headers={"content-type": "application/json"})
        assert 400 <= r.status_code < 500 and "JSON" in r.json()["error"], (path, r.status_code, r.text[:300])


def test_the_api_key_is_checked_before_the_body_is_read(keyed) -> None:
    bad_json = b'{"signals": [1, 2,'  # parsing it would answer 422
    for path in ("/v1/diagnose", "/v1/envelope", "/v2/models/tiny-aprelu/infer", "/v1/no-such-route"):
        r = keyed.post(path, content=bad_json, headers={"content-type": "application/json"})
        assert r.status_code == 401 and r.json()["field"] == "X-API-Key", (path, r.text)
        assert r.headers["connection"] == "close"
    r = keyed.post("/v1/diagnose", content=bad_json, headers={"content-type": "application/json",
                                                                "X-API-Key": KEY})
    assert r.status_code == 422


def _documented_public_paths() -> set[str]:
    text = (PROJECT_ROOT / "docs" / "service.md").read_text(encoding="utf-8")
    sentence = re.search(r"Public\s+routes\s+\(no\s+API\s+key\):(.*?)\.\s", text, re.S)
    assert sentence, "docs/service.md must list the public routes"
    return set(re.findall(r"`([^`]+)`", sentence.group(1)))


def test_exactly_the_documented_routes_are_public(keyed) -> None:
    documented = _documented_public_paths()
    assert documented == set(PUBLIC_PATHS) | {p + "*" for p in PUBLIC_PREFIXES}
    routes = [(m.upper(), path) for path, ops in keyed.app.openapi()["paths"].items() for m in ops]
    extra = ("/", "/assets", "/static/style.css", "/static/app.js", "/docs", "/openapi.json",
             "/no-such-route", "/static2", "/redoc")
    routes += [("GET", p) for p in extra]
    assert len(routes) > 25
    for method, path in routes:
        concrete = re.sub(r"\{[^}]+\}", "x", path)
        r = keyed.request(method, concrete)
        public = concrete in PUBLIC_PATHS or concrete.startswith(PUBLIC_PREFIXES)
        assert (r.status_code == 401) != public, (method, concrete, r.status_code)


def test_an_unexpected_error_carries_the_request_id_into_the_log(model_dir, caplog, monkeypatch) -> None:
    app = create_app(Settings(model=[str(model_dir)], api_key=None, trace=False))

    def broken(*args, **kwargs):
        raise ZeroDivisionError("a bug")

    with TestClient(app, raise_server_exceptions=False) as c:
        monkeypatch.setattr("faultdx.diagnose.Diagnoser.windows", broken)
        with caplog.at_level(logging.ERROR):
            r = c.post("/v1/diagnose", json={"signals": SIGNAL, "sampling_rate": RATE})
    assert r.status_code == 500
    rid = r.headers["X-Request-ID"]
    assert len(rid) >= 16 and r.json()["request_id"] == rid and rid in r.json()["error"]
    assert any(getattr(rec, "request_id", None) == rid and rid in rec.getMessage() for rec in caplog.records)
