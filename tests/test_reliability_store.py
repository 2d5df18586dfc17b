"""The storage cases of issue 24, replayed on SQLite and on a real PostgreSQL server through the API:
reads that never wait for a writer and one-query asset pages (1), an Idempotency-Key reused with another
body (2), CSV cells a spreadsheet would run (4), a database deleted or replaced while serving (6),
measurement times out of bounds (7), names with ``/`` and nested JSON (10). Every case: no 5xx but the
named 503, nothing lost."""

from __future__ import annotations

import io
import shutil
import threading
import time
from datetime import datetime, timedelta, timezone

import pandas as pd
import pytest
from sqlalchemy import event, text
from typer.testing import CliRunner

from faultdx.cli import app
from faultdx.monitor.assets import AssetSpec
from faultdx.monitor.db import WRITE, make_engine
from faultdx.monitor.export import to_csv
from faultdx.monitor.store import Store
from tests.service_support import RATE, app_client, make_model_dir, tone
from tests.test_monitor_store import measurement

NOW = datetime.now(timezone.utc)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return make_model_dir(tmp_path_factory.mktemp("models") / "tiny-aprelu")


@pytest.fixture
def client(model_dir, database_url):
    with app_client(model_dir, database_url=database_url) as c:
        yield c


def signal(seed: int = 0) -> list[float]:
    return (0.1 * tone(0.3, seed=seed)).tolist()


def stored(database_url: str, asset: str) -> int:
    store = Store(database_url, migrate=False)
    try:
        return store.count_diagnoses(asset)
    finally:
        store.close()


# ------------------------------------------------------------------------------------ 1: reads and pages
def test_reads_do_not_wait_for_a_writer_and_a_page_is_one_query(database_url) -> None:
    store = Store(database_url)
    try:
        for i in range(30):
            store.create_asset(AssetSpec(name=f"a{i:02d}", iso_group=2, support="rigid"))
            store.record(f"a{i:02d}", [measurement("normal", 1.0 + i / 10)] * 2)
        statements: list[str] = []
        event.listen(store.engine, "before_cursor_execute",
                     lambda _c, _cur, sql, *_a: statements.append(sql.split()[0].upper()))
        page = store.list_assets(limit=25)
        assert statements.count("SELECT") == 1, statements
        assert len(page.assets) == 25 and page.next_cursor == "a24"
        assert all(a.status.diagnoses == 2 and a.status.latest is not None for a in page.assets)
        assert [page.assets[i].status.zone for i in (0, 10, 20)] == ["A", "B", "C"]  # 1, 2, 3 mm/s

        writer = make_engine(database_url).execution_options(**{WRITE: True})
        with writer.begin() as c:  # a writer holds the lock (SQLite) / the row (PostgreSQL) ...
            c.execute(text("UPDATE assets SET machine = 'held' WHERE name = 'a00'"))
            times, seen = [], []

            def read() -> None:
                start = time.monotonic()
                seen.append(store.get_asset("a00").machine)
                seen.append(len(store.list_assets(limit=1000).assets))
                times.append(time.monotonic() - start)

            reader = threading.Thread(target=read)
            reader.start()
            reader.join(10)
            assert times and times[0] < 2.0, f"a read waited for the writer ({times})"  # ... readers go on
            assert seen == [None, 30]  # and see what was committed
        writer.dispose()
        assert store.get_asset("a00").machine == "held"
    finally:
        store.close()


def test_the_asset_list_pages_through_every_asset(client, database_url) -> None:
    names = [f"pump {i:02d}" for i in range(23)]
    for name in reversed(names):
        assert client.post("/v1/assets", json={"name": name}).status_code == 201
    seen, cursor = [], None
    while True:
        page = client.get("/v1/assets", params={"limit": 10, **({"cursor": cursor} if cursor else {})})
        assert page.status_code == 200, page.text
        body = page.json()
        assert len(body["assets"]) <= 10
        seen += [a["name"] for a in body["assets"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == names
    assert client.get("/v1/assets", params={"limit": 0}).status_code == 422
    assert client.get("/v1/assets", params={"limit": 1001}).status_code == 422


# ----------------------------------------------------------------------------------- 2: idempotency
def test_an_idempotency_key_reused_with_another_body_is_a_409_and_stores_nothing(client,
                                                                                 database_url) -> None:
    client.post("/v1/assets", json={"name": "m", "sampling_rate": RATE, "rpm": 1797})
    key = {"Idempotency-Key": "meas-0001"}
    first = client.post("/v1/diagnose", json={"signals": [signal(0)], "asset": "m"}, headers=key)
    assert first.status_code == 200, first.text
    other = client.post("/v1/diagnose", json={"signals": [signal(1)], "asset": "m"}, headers=key)
    assert other.status_code == 409, other.text
    assert other.json()["field"] == "Idempotency-Key" and "meas-0001" in other.json()["error"]
    other_time = client.post("/v1/diagnose", headers=key, json={
        "signals": [signal(0)], "asset": "m", "measured_at": (NOW - timedelta(hours=1)).isoformat()})
    assert other_time.status_code == 409
    again = client.post("/v1/diagnose", json={"signals": [signal(0)], "asset": "m"}, headers=key)
    assert again.status_code == 200 and again.json()["stored"]["replayed"]
    assert again.json()["stored"]["diagnosis_ids"] == first.json()["stored"]["diagnosis_ids"]
    assert stored(database_url, "m") == 1


# ------------------------------------------------------------------------------------- 4: CSV injection
FORMULAS = ["=HYPERLINK(\"x\")", "+cmd|' calc'!A0", "-2+3+cmd|' calc'!A0", "@SUM(1+1)*cmd|' calc'!A0"]


def test_csv_cells_a_spreadsheet_would_run_are_escaped_in_the_api_and_the_cli(client, database_url,
                                                                              tmp_path) -> None:
    for name in FORMULAS:
        assert client.post("/v1/assets", json={"name": name, "sampling_rate": RATE}).status_code == 201
        assert client.post("/v1/diagnose", json={"signals": [signal()], "asset": name}).status_code == 200
        csv = client.get(f"/v1/assets/{name}/export", params={"format": "csv"})
        assert csv.status_code == 200
        cells = pd.read_csv(io.StringIO(csv.text), dtype=str)
        assert list(cells["asset"]) == ["'" + name]
        assert float(cells["velocity_rms"][0]) > 0  # numbers stay numbers
        out = tmp_path / "export.csv"
        command = ["history", "export", "--out", str(out), "--database-url", database_url, "--", name]
        result = CliRunner().invoke(app, command)
        assert result.exit_code == 0, result.output
        assert list(pd.read_csv(out, dtype=str)["asset"]) == ["'" + name]
    frame = pd.DataFrame({"a": ["\tx", "\rx", "ok", "-", None], "n": [-1.5, 2.0, 3.0, 4.0, 5.0]})
    raw = to_csv(frame).decode()
    assert raw.splitlines()[:2] == ['"a","n"', '"\'\tx",-1.5'] and '"\'\rx",2.0' in raw
    back = pd.read_csv(io.StringIO(raw), dtype=str, keep_default_na=False)
    assert list(back["a"]) == ["'\tx", "'\rx", "ok", "'-", ""] and back["n"][0] == "-1.5"


# ----------------------------------------------------------------------------- 6: the database vanished
def test_a_database_deleted_or_replaced_while_serving_answers_503_and_writes_nowhere(
        client, database_url, request, tmp_path) -> None:
    assert client.post("/v1/assets", json={"name": "m", "sampling_rate": RATE}).status_code == 201
    body = {"signals": [signal()], "asset": "m"}
    assert client.post("/v1/diagnose", json=body).status_code == 200
    if database_url.startswith("sqlite"):
        path = tmp_path / "monitor.sqlite"
        copy = tmp_path / "copy"
        copy.mkdir()
        for suffix in ("", "-wal", "-shm"):  # a backup of all three, then the database is deleted
            part = path.with_name(path.name + suffix)
            if part.exists():
                shutil.copy(part, copy / part.name)
                part.unlink()
        answers = [client.post("/v1/diagnose", json=body), client.post("/v1/assets", json={"name": "n"}),
                   client.get("/v1/assets")]
        assert [a.status_code for a in answers] == [503] * 3, [a.text for a in answers]
        assert all(a.json()["field"] == "database" for a in answers)
        assert "deleted" in answers[0].json()["error"]
        assert not path.exists()  # no new, empty database where the old one was
        for part in copy.iterdir():  # restored from the backup: another file, still not the one opened
            shutil.copy(part, path.with_name(part.name))
        replaced = client.post("/v1/diagnose", json=body)
        assert replaced.status_code == 503 and "replaced" in replaced.json()["error"]
        assert stored(f"sqlite:///{path}", "m") == 1
    else:
        name, postgres = database_url.rsplit("/", 1)[1], request.getfixturevalue("postgres")
        with make_engine(postgres.url()).execution_options(isolation_level="AUTOCOMMIT").connect() as c:
            c.execute(text(f"DROP DATABASE {name} WITH (FORCE)"))
        answers = [client.post("/v1/diagnose", json=body), client.get("/v1/assets")]
        assert [a.status_code for a in answers] == [503] * 2, [a.text for a in answers]
        assert answers[0].json()["field"] == "database"


# --------------------------------------------------------------------------------- 7: measurement times
@pytest.mark.parametrize("when", ["9999-12-31T23:59:59Z", "9999-12-31T23:59:59-05:00",
                                  "0001-01-01T00:00:00+05:00", "1969-12-31T23:59:59Z",
                                  (NOW + timedelta(days=2)).isoformat()])
def test_a_measurement_time_out_of_bounds_is_a_422_naming_it(client, database_url, when) -> None:
    client.post("/v1/assets", json={"name": "m", "sampling_rate": RATE})
    answer = client.post("/v1/diagnose", json={"signals": [signal()], "asset": "m", "measured_at": when})
    assert answer.status_code == 422, answer.text
    assert answer.json()["field"] == "measured_at"
    soon = client.post("/v1/diagnose", json={"signals": [signal()], "asset": "m",
                                             "measured_at": (NOW + timedelta(hours=1)).isoformat()})
    assert soon.status_code == 200  # within the allowed clock skew
    assert stored(database_url, "m") == 1
    for bound in ("start", "end"):
        trend = client.get("/v1/assets/m/trend", params={bound: when})
        assert trend.status_code in (200, 422), trend.text
        if trend.status_code == 422:
            assert trend.json()["field"] == bound


# ------------------------------------------------------------------------------- 10: names and nesting
def test_a_name_with_a_slash_is_refused_and_nested_json_names_its_field(client, database_url) -> None:
    slash = client.post("/v1/assets", json={"name": "hall A/pump 1"})
    assert slash.status_code == 422 and slash.json()["field"] == "name"
    legacy = client.post("/v1/assets", json={"name": "legacy"}).json()["id"]
    engine = make_engine(database_url)
    with engine.begin() as c:  # stored before the rule: still read, by id
        c.execute(text("UPDATE assets SET name = 'hall A/legacy' WHERE name = 'legacy'"))
    engine.dispose()
    assert client.get(f"/v1/assets/{legacy}").json()["name"] == "hall A/legacy"
    assert [a["name"] for a in client.get("/v1/assets").json()["assets"]] == ["hall A/legacy"]
    client.delete(f"/v1/assets/{legacy}")
    nested = client.post("/v1/assets", json={"name": {"first": "pump"}})
    assert nested.status_code == 422 and nested.json()["field"] == "name"
    tags = client.post("/v1/assets", json={"name": "p", "tags": [["a"]]})
    assert tags.status_code == 422 and tags.json()["field"].startswith("tags")
    deep = "[" * 100_000 + "]" * 100_000
    for content in (deep, '{"name": "p", "machine": ' + deep + "}"):
        answer = client.post("/v1/assets", content=content, headers={"content-type": "application/json"})
        assert answer.status_code == 422 and answer.json()["field"] == "body"
    assert client.get("/v1/assets").json()["assets"] == []  # nothing stored
