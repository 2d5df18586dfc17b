"""In-process pieces of the service: settings, catch-all errors, the OIP tensor codec, `faultdx serve`."""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest
from fastapi.testclient import TestClient
from faultdx_service.errors import ApiError
from faultdx_service.main import create_app, torch_threads
from faultdx_service.oip import HEADER, RequestedOutput, encode_response, parse_request
from faultdx_service.settings import Settings
from pydantic import ValidationError
from typer.testing import CliRunner


def test_settings_from_the_environment(monkeypatch) -> None:
    monkeypatch.setenv("FAULTDX_MODEL", "cwru12k-aprelu, other-model")
    monkeypatch.setenv("FAULTDX_CORS_ORIGINS", "http://a.example,http://b.example")
    monkeypatch.setenv("FAULTDX_API_KEY", "")
    monkeypatch.setenv("FAULTDX_LOG_LEVEL", "WARNING")
    monkeypatch.setenv("FAULTDX_MAX_BATCH", "64")
    s = Settings()
    assert s.model == ["cwru12k-aprelu", "other-model"]
    assert s.cors_origins == ["http://a.example", "http://b.example"]
    assert s.api_key is None and s.log_level == "warning" and s.max_batch == 64
    assert s.port == 8000 and s.host == "127.0.0.1" and s.max_body_bytes == 32 * 1024 * 1024


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("FAULTDX_PORT", "70000"),
        ("FAULTDX_MAX_BATCH", "0"),
        ("FAULTDX_MAX_WAIT_MS", "-1"),
        ("FAULTDX_LOG_LEVEL", "loud"),
        ("FAULTDX_WORKERS", "many"),
        ("FAULTDX_MODEL", ","),
    ],
)
def test_bad_settings_name_the_variable(monkeypatch, name, value) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError) as err:
        Settings()
    field = name.removeprefix("FAULTDX_").lower()
    assert any(e["loc"][0] == field for e in err.value.errors())


def test_torch_threads_leave_a_core_for_the_event_loop(monkeypatch) -> None:
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: {0, 1})
    assert torch_threads(Settings(workers=1)) == 1
    assert torch_threads(Settings(workers=2)) == 1
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: set(range(8)))
    assert torch_threads(Settings(workers=2)) == 3
    assert torch_threads(Settings(torch_threads=5)) == 5


def test_unexpected_errors_are_json_without_a_trace() -> None:
    app = create_app(Settings())

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("secret internals")

    @app.get("/bug")
    def bug() -> None:
        raise ValueError("an internal ValueError is a bug, not bad input")

    client = TestClient(app, raise_server_exceptions=False)  # no lifespan: models are not loaded
    r = client.get("/boom", headers={"X-Request-ID": "req-42"})
    assert r.status_code == 500 and r.headers["X-Request-ID"] == "req-42"
    assert r.json() == {"error": "internal error (RuntimeError); request id req-42", "field": None,
                        "request_id": "req-42"}
    assert "secret" not in r.text and "Traceback" not in r.text
    r = client.get("/bug", headers={"X-Request-ID": "<script>"})  # a wild id is replaced, not echoed
    assert r.status_code == 500 and "ValueError" in r.json()["error"]
    assert r.json()["request_id"] == r.headers["X-Request-ID"] != "<script>"
    assert client.get("/readyz").status_code == 503
    assert client.get("/v2/health/ready").status_code == 503
    assert client.get("/healthz").status_code == 200
    r = client.get("/v1/models")
    assert r.status_code == 503 and "loading" in r.json()["error"]


def test_oip_binary_round_trip_with_tritonclient_decoder() -> None:
    from tritonclient.http import InferResult

    probs = np.array([[0.25, 0.75], [0.5, 0.5]], np.float32)
    labels = np.array(["ball_007", "normal"], dtype=object)
    body, headers = encode_response(
        [(RequestedOutput("probabilities", True), probs), (RequestedOutput("label", True), labels)],
        model_name="m",
        model_version="1",
        request_id=None,
    )
    n = int(headers[HEADER])
    head = json.loads(body[:n])
    assert head["outputs"][0]["parameters"]["binary_data_size"] == probs.nbytes
    assert body[n + probs.nbytes :][:4] == struct.pack("<I", len("ball_007"))
    result = InferResult.from_response_body(body, header_length=n)
    np.testing.assert_array_equal(result.as_numpy("probabilities"), probs)
    assert result.as_numpy("label").tolist() == [b"ball_007", b"normal"]


def test_oip_request_parsing() -> None:
    x = np.arange(6, dtype="<f4")
    head = json.dumps(
        {
            "inputs": [
                {
                    "name": "signal",
                    "shape": [2, 3],
                    "datatype": "FP32",
                    "parameters": {"binary_data_size": x.nbytes},
                }
            ],
            "parameters": {"binary_data_output": True},
            "outputs": [{"name": "label", "parameters": {"binary_data": False}}],
        }
    ).encode()
    parsed = parse_request(head + x.tobytes(), str(len(head)), max_elements=100)
    np.testing.assert_array_equal(parsed.inputs[0].data, x)
    assert parsed.binary_output and parsed.outputs[0].name == "label" and not parsed.outputs[0].binary
    fp64 = json.dumps({"inputs": [{"name": "signal", "shape": [1, 2], "datatype": "FP64", "data": [[1, 2]]}]})
    assert parse_request(fp64.encode(), None, max_elements=100).inputs[0].data.dtype == np.float32
    for bad, match in [
        (b'{"inputs": [{"name": "s", "shape": [2, 3], "datatype": "FP32", "data": [1, 2]}]}', "2 elements"),
        (b'{"inputs": [{"name": "s", "shape": [-1, 3], "datatype": "FP32", "data": []}]}', "non-negative"),
        (b'{"inputs": [{"name": "s", "shape": [1000, 1000], "datatype": "FP32"}]}', "at most 100"),
        (b'{"inputs": [{"name": "s", "shape": [1], "datatype": "BF16", "data": [1]}]}', "datatype"),
        (b'{"inputs": [{"name": "s", "shape": [1], "datatype": "FP32", "data": [true]}]}', "numbers"),
        (b'{"inputs": [{"name": "s", "shape": [1], "datatype": "FP32", "data": [1]}], "id": 5}', "id"),
        (
            b'{"inputs": [{"name": "s", "shape": [1], "datatype": "FP32", "data": [1]}], "outputs": {}}',
            "list",
        ),
        (
            b'{"inputs": [{"name": "s", "shape": [1], "datatype": "FP32", "data": [1]}],'
            b' "outputs": [{"name": "label", "parameters": {"classification": 3}}]}',
            "classification",
        ),
        (b"[]", "object"),
    ]:
        with pytest.raises(ApiError, match=match) as err:
            parse_request(bad, None, max_elements=100)
        assert err.value.status_code == 400


@pytest.mark.usefixtures("serve_exports_undone")
def test_serve_refuses_a_missing_model_before_starting(tmp_path) -> None:
    from faultdx.cli import app

    result = CliRunner().invoke(app, ["serve", "--model", str(tmp_path / "nowhere"), "--port", "0"])
    assert result.exit_code != 0
    assert "nowhere" in result.output and "FAULTDX_MODEL" in result.output


def test_api_docs_are_served_without_a_cdn(tmp_path) -> None:
    """/docs names only this server's own assets, and they are there."""
    import re

    from fastapi.testclient import TestClient

    from tests.service_support import make_model_dir

    app = create_app(Settings(model=[str(make_model_dir(tmp_path / "m"))], log_json=False, trace=False))
    with TestClient(app) as client:
        page = client.get("/docs")
        assert page.status_code == 200
        urls = re.findall(r"""(?:src|href)=["']([^"']+)["']""", page.text)
        assert urls and all(u.startswith("/static/swagger/") for u in urls), urls
        for url in urls:
            assert client.get(url).status_code == 200
        assert "openapi.json" in page.text and client.get("/openapi.json").status_code == 200
        assert client.get("/redoc").status_code == 404


@pytest.mark.usefixtures("serve_exports_undone")
def test_two_models_under_one_name_are_refused(tmp_path) -> None:
    """`--model a --model b` both named alike would serve one and hide the other: refused, naming both."""
    import typer
    from faultdx_service.main import load_models
    from typer.testing import CliRunner

    from faultdx.cli import app as cli
    from faultdx.cli.serve import _check_models
    from faultdx.modeldir import CheckpointError
    from tests.service_support import make_model_dir

    first, second = make_model_dir(tmp_path / "a", name="twin"), make_model_dir(tmp_path / "b", name="twin")
    settings = Settings(model=[str(first), str(second)], log_json=False, trace=False)
    with pytest.raises(CheckpointError, match=r"two models are named 'twin'.*\ba\b.*\bb\b"):
        load_models(settings)
    with pytest.raises(typer.BadParameter, match="both named 'twin'"):
        _check_models(settings)
    result = CliRunner().invoke(cli, ["serve", "--model", str(first), "--model", str(second)],
                                env={"COLUMNS": "400"})
    assert result.exit_code != 0 and "both named 'twin'" in result.output


def test_serve_removes_metrics_folders_of_dead_processes(tmp_path, monkeypatch) -> None:
    import os
    import subprocess
    import sys

    from faultdx.cli import serve

    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True)
    dead = tmp_path / f"faultdx-metrics-{int(gone.stdout)}-abc"  # as a SIGKILLed `faultdx serve` leaves it
    alive = tmp_path / f"faultdx-metrics-{os.getpid()}-def"
    legacy_old, legacy_new = tmp_path / "faultdx-metrics-q1w2e3r4", tmp_path / "faultdx-metrics-t5y6u7i8"
    for folder in (dead, alive, legacy_old, legacy_new):
        folder.mkdir()
        (folder / "counter_1.db").write_bytes(b"x")
    os.utime(legacy_old, (0, 0))
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    monkeypatch.setenv(serve.MULTIPROC_ENV, "")  # undo then removes what _metrics_dir exports
    monkeypatch.delenv(serve.MULTIPROC_ENV)
    path, owned = serve._metrics_dir()
    assert owned and path.parent == tmp_path and path.name.startswith(f"faultdx-metrics-{os.getpid()}-")
    assert not dead.exists() and not legacy_old.exists()
    assert alive.exists() and legacy_new.exists()
