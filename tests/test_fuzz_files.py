"""Fuzzing the file formats: malformed MAT / NPY / WAV / CSV / Parquet files (truncated, bytes changed,
random, headers declaring huge or inconsistent sizes, odd dtypes and classes) never crash the reader (only its
typed input errors) and never get a 5xx from the upload routes — always a JSON answer.

Bounded and reproducible: a fixed number of derandomised examples, no example database.
"""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from faultdx_service.main import create_app
from faultdx_service.settings import Settings
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from faultdx.data.readers import SignalFile, read_signal
from faultdx.errors import InputError
from tests.hostile_files import mat_header, mat_variable, npy_claiming, wav_bytes
from tests.service_support import make_model_dir

FUZZ = settings(max_examples=60, deadline=None, database=None, derandomize=True,
                suppress_health_check=list(HealthCheck))
ROUTES = ("/v1/diagnose/file", "/v1/envelope/file")
DESCRS = ("<f8", ">f4", "<f2", "<i2", "|u1", "<i8", "|b1", "<c16", "|O", "<U3", "|S4", "<M8[D]", "|V8",
          "<f8x")


def _base_files() -> dict[str, bytes]:
    """One small valid file per format (rate in the file where the format carries one)."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    from scipy.io import savemat, wavfile

    x = np.sin(np.arange(2100) / 5.0)  # long enough for a 2048-sample window: fuzzing reaches the model
    out = {}
    buf = io.BytesIO()
    pd.DataFrame({"time": np.arange(x.size) / 12000, "DE": x, "FE": -x}).to_csv(buf, index=False)
    out[".csv"] = buf.getvalue()
    buf = io.BytesIO()
    np.save(buf, np.stack([x, -x], axis=1).astype(np.float32))
    out[".npy"] = buf.getvalue()
    buf = io.BytesIO()
    wavfile.write(buf, 12000, (x * 10000).astype(np.int16))
    out[".wav"] = buf.getvalue()
    buf = io.BytesIO()
    variables = {"X001_DE_time": x[:, None], "X001_FE_time": -x[:, None], "fs": 12000.0}
    savemat(buf, variables, do_compression=True)
    out[".mat"] = buf.getvalue()
    buf = io.BytesIO()
    pq.write_table(pa.table({"DE": x, "FE": -x}).replace_schema_metadata({"fs": "12000"}), buf)
    out[".parquet"] = buf.getvalue()
    return out


BASE = _base_files()


@st.composite
def malformed(draw) -> tuple[str, bytes]:
    """(file name, bytes) of a damaged or hostile file."""
    suffix = draw(st.sampled_from(sorted(BASE)))
    base = BASE[suffix]
    how = draw(st.sampled_from(["truncate", "change", "random", "header"]))
    if how == "truncate":
        data = base[: draw(st.integers(0, len(base) - 1))]
    elif how == "change":
        data = bytearray(base)
        for _ in range(draw(st.integers(1, 8))):
            data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
        data = bytes(data)
    elif how == "random":
        data = draw(st.sampled_from([b"", base[:8], base[:128]])) + draw(st.binary(max_size=1024))
    elif suffix == ".npy":
        shape = tuple(draw(st.lists(st.integers(-1, 2**62), max_size=3)))
        data = npy_claiming(shape, draw(st.sampled_from(DESCRS)), draw(st.binary(max_size=256)))
    elif suffix == ".wav":
        data = wav_bytes(
            channels=draw(st.integers(0, 40)), rate=draw(st.integers(0, 2**32 - 1)),
            bits=draw(st.sampled_from([0, 1, 8, 12, 16, 24, 32, 64, 65535])),
            fmt=draw(st.sampled_from([0, 1, 3, 0x55, 0xFFFE])), frames=draw(st.integers(0, 64)),
            data_size=draw(st.none() | st.integers(0, 2**32 - 1)),
        )
    elif suffix == ".mat":
        variables = draw(st.lists(st.tuples(
            st.sampled_from(["x", "fs", "X001_DE_time", "bearing", ""]),
            st.lists(st.integers(-1, 2**31 - 1), max_size=4),
            st.integers(0, 1 << 16) | st.just(8 << 22),  # 32 MB inflated: past a small budget
            st.integers(0, 20), st.booleans(), st.booleans(),
        ), min_size=1, max_size=3))
        data = mat_header() + b"".join(
            mat_variable(name, tuple(dims), zeros, mx_class=cls, logical=logical, compressed=packed)
            for name, dims, zeros, cls, logical, packed in variables
        )
    else:  # csv / parquet text and bytes
        alphabet = "0123456789.,-+eE\n\r naifTrue\"xyz"
        text = draw(st.text(alphabet=alphabet, max_size=400))
        data = text.encode() if suffix == ".csv" else base[:4] + text.encode() + base[-8:]
    return f"fuzz{suffix}", data


@FUZZ
@given(case=malformed(), rate=st.sampled_from([None, 12000.0]))
def test_the_reader_raises_only_its_input_errors(case, rate):
    name, data = case
    try:
        got = read_signal(data, filename=name, sampling_rate=rate, max_samples=1 << 20, max_channels=8)
    except InputError as err:
        assert 400 <= err.status < 500 and len(str(err)) <= 300
        return
    assert isinstance(got, SignalFile) and got.signal.dtype == np.float32 and np.isfinite(got.signal).all()
    assert got.signal.ndim == 2 and 1 <= got.signal.shape[0] <= 8 and got.signal.size <= 1 << 20


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    model = make_model_dir(tmp_path_factory.mktemp("models") / "tiny-aprelu")
    app = create_app(Settings(model=[str(model)], api_key=None, log_json=False, max_samples=1 << 20))
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


@FUZZ
@given(case=malformed(), route=st.sampled_from(ROUTES),
       form=st.sampled_from([{}, {"sampling_rate": "12000"}]))
def test_upload_routes_never_answer_5xx(client, case, route, form):
    name, data = case
    r = client.post(route, files={"file": (name, data)}, data=form)
    assert r.status_code < 500, (name, data[:64], r.status_code, r.text[:300])
    body = r.json()
    if r.status_code >= 400:
        assert isinstance(body["error"], str) and body["error"] and "Traceback" not in r.text
