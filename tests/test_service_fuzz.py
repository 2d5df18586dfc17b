"""Schemathesis fuzzing of the OpenAPI schema against a real server: valid and invalid requests, never a 5xx.

Bounded: a fixed number of generated requests per mode, and a wall-clock budget after which the remaining
examples are not sent.
"""

from __future__ import annotations

import json
import time

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode

from tests.service_support import running_server, served_model_dir

EXAMPLES = 150  # per generation mode
BUDGET_S = 25.0  # per generation mode


def _no_constants(name: str) -> None:
    raise AssertionError(f"bare {name} in a JSON answer")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with running_server(served_model_dir(tmp_path_factory.mktemp("models"))) as url:
        yield url


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=lambda m: m.value)
def test_fuzzed_requests_never_get_a_server_error(server, mode) -> None:
    schema = schemathesis.openapi.from_url(server + "/openapi.json")
    operations = [op for op in schema.get_all_operations() if op.ok().path != "/metrics"]
    assert len(operations) >= 10
    session = requests.Session()
    deadline = time.monotonic() + BUDGET_S
    seen: dict[int, int] = {}

    @given(case=schema.as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def fuzz(case) -> None:
        if time.monotonic() > deadline:
            return
        response = case.call(base_url=server, session=session, timeout=30)
        seen[response.status_code] = seen.get(response.status_code, 0) + 1
        assert response.status_code < 500, (case.method, case.path, case.body, response.text[:500])
        if "application/json" in str(response.headers.get("content-type", "")):  # a str or a list of them
            json.loads(response.text, parse_constant=_no_constants)  # RFC 8259: never a bare NaN
        if response.status_code >= 400:
            assert "Traceback" not in response.text and response.json()["error"]

    fuzz()
    print(mode.value, seen)
    assert sum(seen.values()) >= 30, seen  # the budget let a fair number through
    if mode is GenerationMode.NEGATIVE:
        assert any(400 <= code < 500 for code in seen), seen
