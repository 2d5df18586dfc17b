"""Issue 24's reliability suite: every numbered case replayed with its goal — no 5xx but a named 503, nothing
lost (rows counted), the status the issue names.

==== ============================================== ========================================= ==============
case what went wrong                                 replayed through                          database
==== ============================================== ========================================= ==============
1    reads took the write lock; unpaginated list     the store, and the API under writers      SQLite, PgSQL
2    Idempotency-Key reused with another body        POST /v1/diagnose: 409 naming the key     SQLite, PgSQL
3    ``score`` hung on a FIFO, read files whole      ``faultdx score`` (the CLI)               —
4    CSV formula injection                           the export route, ``faultdx history``     SQLite, PgSQL
5    no header / idle timeout, no connection cap     uvicorn on 127.0.0.1, as ``serve`` sets it —
6    database deleted while serving                  the API: a named 503, then it recovers    SQLite, PgSQL
7    ``measured_at`` 9999 pinned alarms; 500s        the API: 422; ``score --history``: exit 2 SQLite, PgSQL
8    a .mat inflating to 268 MB starved the service  the reader; uvicorn on 127.0.0.1          —
9    ``score --engine ray`` listened on every iface  test_score_ray.py: its Ray run, ``ss``    —
10   malicious config.json; ``/`` in names, nesting  ``faultdx serve`` / ``diagnose``; the API  SQLite, PgSQL
==== ============================================== ========================================= ==============

The database cases run once on SQLite and once on a real PostgreSQL server (the ``store`` fixture); the
others once. Every answer of the in-process API is kept and checked after the case: any 5xx fails it, except
a 503 naming ``database`` in the case whose goal that is (``database_503``).
"""

from __future__ import annotations

import io
import os
import shutil
import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pyarrow.parquet as pq
import pytest
from sqlalchemy import event, text
from typer.testing import CliRunner

from faultdx.cli import app
from faultdx.monitor.assets import AssetSpec
from faultdx.monitor.db import WRITE, make_engine
from faultdx.monitor.export import to_csv
from faultdx.monitor.store import Store
from tests.service_support import (
    RATE,
    app_client,
    diagnose_body,
    half_sent_post,
    make_model_dir,
    serving,
    tone,
)
from tests.test_monitor_store import measurement

NOW = datetime.now(timezone.utc)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    return make_model_dir(tmp_path_factory.mktemp("models") / "tiny-aprelu")


@dataclass
class Database:
    """The database a case runs on: its URL, its backend, and its rows counted from outside the service."""

    url: str
    backend: str

    def rows(self, asset: str | None = None) -> int:
        """Stored diagnoses (of ``asset``, or all), read by a store of its own."""
        store = Store(self.url, migrate=False)
        try:
            return store.count_diagnoses(asset)
        finally:
            store.close()


@pytest.fixture
def store(database_url) -> Database:
    """A fresh monitoring database, once on SQLite and once on the real PostgreSQL server (conftest)."""
    return Database(database_url, "sqlite" if database_url.startswith("sqlite") else "postgresql")


@pytest.fixture
def database_503() -> None:
    """Asked for by a case whose goal is a 503 naming ``database``: the one 5xx it may answer."""


@pytest.fixture
def api(model_dir, store, request):
    """The service in process on ``store``; afterwards, no answer was a 5xx (but the named 503 if allowed)."""
    answers: list[httpx.Response] = []
    with app_client(model_dir, database_url=store.url) as client:
        client.event_hooks = {"request": [], "response": [answers.append]}
        yield client
    assert answers, "no answer was seen: the check below would pass vacuously"
    named_503 = "database_503" in request.fixturenames
    server_errors = [(a.request.method, a.request.url.path, a.status_code, a.text[:200]) for a in answers
                     if a.status_code >= 500 and not (named_503 and a.status_code == 503
                                                      and a.json().get("field") == "database")]
    assert not server_errors, server_errors


def signal(seed: int = 0) -> list[float]:
    return (0.1 * tone(0.3, seed=seed)).tolist()


def within(seconds: float, call: Callable[[], Any]) -> Any:
    """``call()`` in a daemon thread → its result, or a failure (not a hung test) after ``seconds``."""
    result: list = []
    thread = threading.Thread(target=lambda: result.append(call()), daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive() and result, f"still running after {seconds} s"
    return result[0]


# ------------------------------------------------------------------------------------ 1: reads and pages
def test_1_reads_do_not_wait_for_a_writer_and_a_page_is_one_query(store) -> None:
    db = Store(store.url)
    try:
        for i in range(30):
            db.create_asset(AssetSpec(name=f"a{i:02d}", iso_group=2, support="rigid"))
            db.record(f"a{i:02d}", [measurement("normal", 1.0 + i / 10)] * 2)
        statements: list[str] = []
        event.listen(db.engine, "before_cursor_execute",
                     lambda _c, _cur, sql, *_a: statements.append(sql.split()[0].upper()))
        page = db.list_assets(limit=25)
        assert statements.count("SELECT") == 1, statements
        assert len(page.assets) == 25 and page.next_cursor == "a24"
        assert all(a.status.diagnoses == 2 and a.status.latest is not None for a in page.assets)
        assert [page.assets[i].status.zone for i in (0, 10, 20)] == ["A", "B", "C"]  # 1, 2, 3 mm/s

        writer = make_engine(store.url).execution_options(**{WRITE: True})
        with writer.begin() as c:  # a writer holds the lock (SQLite) / the row (PostgreSQL) ...
            c.execute(text("UPDATE assets SET machine = 'held' WHERE name = 'a00'"))
            times, seen = [], []

            def read() -> None:
                start = time.monotonic()
                seen.append(db.get_asset("a00").machine)
                seen.append(len(db.list_assets(limit=1000).assets))
                times.append(time.monotonic() - start)

            reader = threading.Thread(target=read)
            reader.start()
            reader.join(10)
            assert times and times[0] < 5.0, f"a read waited for the writer ({times})"  # ... readers go on
            assert seen == [None, 30]  # and see what was committed
        writer.dispose()
        assert db.get_asset("a00").machine == "held"
        assert store.rows() == 60
    finally:
        db.close()


def test_1_the_asset_list_pages_through_every_asset(api) -> None:
    names = [f"pump {i:02d}" for i in range(23)]
    for name in reversed(names):
        assert api.post("/v1/assets", json={"name": name}).status_code == 201
    seen, cursor = [], None
    while True:
        page = api.get("/v1/assets", params={"limit": 10, **({"cursor": cursor} if cursor else {})})
        assert page.status_code == 200, page.text
        body = page.json()
        assert len(body["assets"]) <= 10
        seen += [a["name"] for a in body["assets"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == names
    for limit in (0, 1001):
        refused = api.get("/v1/assets", params={"limit": limit})
        assert refused.status_code == 422 and refused.json()["field"] == "limit", refused.text


def test_1_lists_reloading_beside_measuring_clients_all_answer_and_every_diagnosis_is_stored(api,
                                                                                             store) -> None:
    """The issue's load: clients reloading the asset list while others store diagnoses (one took 45 s;
    lists and creates got 503 "database is locked")."""
    for i in range(40):
        created = api.post("/v1/assets", json={"name": f"line {i:02d}", "sampling_rate": RATE})
        assert created.status_code == 201
    reloading = threading.Event()
    reloading.set()

    def measure(asset: str) -> list[tuple[int, float]]:
        answers = []
        for seed in range(6):
            start = time.monotonic()
            answer = api.post("/v1/diagnose", json={"signals": [signal(seed)], "asset": asset})
            answers.append((answer.status_code, time.monotonic() - start))
        return answers

    def reload_list() -> list[int]:
        statuses = []
        while reloading.is_set():
            cursor = None
            while True:  # the page, page after page
                page = api.get("/v1/assets", params={"limit": 15, **({"cursor": cursor} if cursor else {})})
                statuses.append(page.status_code)
                cursor = page.json().get("next_cursor") if page.status_code == 200 else None
                if cursor is None:
                    break
        return statuses

    with ThreadPoolExecutor(6) as pool:
        readers = [pool.submit(reload_list) for _ in range(4)]
        writers = [pool.submit(measure, name) for name in ("line 00", "line 01")]
        measured = [w.result(120) for w in writers]
        reloading.clear()
        listed = [s for r in readers for s in r.result(60)]
    assert [s for answers in measured for s, _ in answers] == [200] * 12
    assert set(listed) == {200} and len(listed) >= 12
    assert max(seconds for answers in measured for _, seconds in answers) < 10.0  # was 45 s
    assert (store.rows("line 00"), store.rows("line 01"), store.rows()) == (6, 6, 12)


# ----------------------------------------------------------------------------------- 2: idempotency
def test_2_an_idempotency_key_reused_with_another_body_is_a_409_and_stores_nothing(api, store) -> None:
    api.post("/v1/assets", json={"name": "m", "sampling_rate": RATE, "rpm": 1797})
    key = {"Idempotency-Key": "meas-0001"}
    first = api.post("/v1/diagnose", json={"signals": [signal(0)], "asset": "m"}, headers=key)
    assert first.status_code == 200, first.text
    other = api.post("/v1/diagnose", json={"signals": [signal(1)], "asset": "m"}, headers=key)
    assert other.status_code == 409, other.text
    assert other.json()["field"] == "Idempotency-Key" and "meas-0001" in other.json()["error"]
    other_time = api.post("/v1/diagnose", headers=key, json={
        "signals": [signal(0)], "asset": "m", "measured_at": (NOW - timedelta(hours=1)).isoformat()})
    assert other_time.status_code == 409
    api.post("/v1/assets", json={"name": "n", "sampling_rate": RATE, "rpm": 1797})
    other_asset = api.post("/v1/diagnose", json={"signals": [signal(0)], "asset": "n"}, headers=key)
    assert other_asset.status_code == 409 and other_asset.json()["field"] == "Idempotency-Key"
    again = api.post("/v1/diagnose", json={"signals": [signal(0)], "asset": "m"}, headers=key)
    assert again.status_code == 200 and again.json()["stored"]["replayed"]
    assert again.json()["stored"]["diagnosis_ids"] == first.json()["stored"]["diagnosis_ids"]
    assert (store.rows("m"), store.rows()) == (1, 1)
    retried = {"Idempotency-Key": "meas-0002"}  # a client retrying at once, four times side by side
    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda _: api.post("/v1/diagnose", headers=retried, json={
            "signals": [signal(2)], "asset": "m"}), range(4)))
    assert [a.status_code for a in answers] == [200] * 4, [a.text for a in answers]
    assert len({tuple(a.json()["stored"]["diagnosis_ids"]) for a in answers}) == 1
    assert sum(not a.json()["stored"]["replayed"] for a in answers) == 1
    assert store.rows("m") == 2


# ------------------------------------------------------------------------------------- 4: CSV injection
FORMULAS = ["=HYPERLINK(\"x\")", "+cmd|' calc'!A0", "-2+3+cmd|' calc'!A0", "@SUM(1+1)*cmd|' calc'!A0"]


def test_4_csv_cells_a_spreadsheet_would_run_are_escaped_in_the_api_and_the_cli(api, store, tmp_path) -> None:
    for name in FORMULAS:
        assert api.post("/v1/assets", json={"name": name, "sampling_rate": RATE}).status_code == 201
        assert api.post("/v1/diagnose", json={"signals": [signal()], "asset": name}).status_code == 200
        csv = api.get(f"/v1/assets/{name}/export", params={"format": "csv"})
        assert csv.status_code == 200
        cells = pd.read_csv(io.StringIO(csv.text), dtype=str)
        assert list(cells["asset"]) == ["'" + name]
        assert float(cells["velocity_rms"][0]) > 0  # numbers stay numbers
        out = tmp_path / "export.csv"
        command = ["history", "export", "--out", str(out), "--database-url", store.url, "--", name]
        result = CliRunner().invoke(app, command)
        assert result.exit_code == 0, result.output
        assert list(pd.read_csv(out, dtype=str)["asset"]) == ["'" + name]
    assert store.rows() == len(FORMULAS)
    frame = pd.DataFrame({"a": ["\tx", "\rx", "ok", "-", None], "n": [-1.5, 2.0, 3.0, 4.0, 5.0]})
    raw = to_csv(frame).decode()
    assert raw.splitlines()[:2] == ['"a","n"', '"\'\tx",-1.5'] and '"\'\rx",2.0' in raw
    back = pd.read_csv(io.StringIO(raw), dtype=str, keep_default_na=False)
    assert list(back["a"]) == ["'\tx", "'\rx", "ok", "'-", ""] and back["n"][0] == "-1.5"


# ----------------------------------------------------------------------------- 6: the database vanished
def test_6_a_database_gone_while_serving_answers_a_named_503_writes_nowhere_and_recovers(
        api, store, database_503, model_dir, request, tmp_path) -> None:
    assert api.post("/v1/assets", json={"name": "m", "sampling_rate": RATE}).status_code == 201
    body = {"signals": [signal()], "asset": "m"}
    assert api.post("/v1/diagnose", json=body).status_code == 200
    if store.backend == "sqlite":
        _sqlite_file_deleted_then_replaced(api, store, model_dir, body, tmp_path)
    else:
        _postgres_stopped_then_dropped(api, store, request.getfixturevalue("postgres"), body)


def _named_503(answers: list[httpx.Response], needle: str) -> None:
    assert [a.status_code for a in answers] == [503] * len(answers), [a.text for a in answers]
    assert all(a.json()["field"] == "database" and needle in a.json()["error"] for a in answers), \
        [a.text for a in answers]


def _sqlite_file_deleted_then_replaced(api, store: Database, model_dir: Path, body: dict, tmp_path) -> None:
    path = tmp_path / "monitor.sqlite"
    copy = tmp_path / "copy"
    copy.mkdir()
    for suffix in ("", "-wal", "-shm"):  # a backup of all three, then the database is deleted
        part = path.with_name(path.name + suffix)
        if part.exists():
            shutil.copy(part, copy / part.name)
            part.unlink()
    _named_503([api.post("/v1/diagnose", json=body), api.post("/v1/assets", json={"name": "n"}),
                api.get("/v1/assets")], "deleted")
    assert not path.exists()  # no new, empty database where the old one was
    for part in copy.iterdir():  # restored from the backup: another file, still not the one opened
        shutil.copy(part, path.with_name(part.name))
    _named_503([api.post("/v1/diagnose", json=body)], "replaced")
    assert store.rows("m") == 1
    with app_client(model_dir, database_url=store.url) as restarted:  # a restart opens the restored file
        assert restarted.post("/v1/diagnose", json=body).status_code == 200
    assert store.rows("m") == 2


def _postgres_stopped_then_dropped(api, store: Database, postgres, body: dict) -> None:
    postgres.stop()
    try:
        _named_503([api.post("/v1/diagnose", json=body), api.get("/v1/assets")], "database unavailable")
    finally:
        postgres.start()  # the same server again: the service reconnects, nothing to restart
    assert api.post("/v1/diagnose", json=body).status_code == 200
    assert store.rows("m") == 2
    name = store.url.rsplit("/", 1)[1]
    with make_engine(postgres.url()).execution_options(isolation_level="AUTOCOMMIT").connect() as c:
        c.execute(text(f"DROP DATABASE {name} WITH (FORCE)"))
    _named_503([api.post("/v1/diagnose", json=body), api.get("/v1/assets")], "database unavailable")


# --------------------------------------------------------------------------------- 7: measurement times
OUT_OF_BOUNDS = ["9999-12-31T23:59:59Z", "9999-12-31T23:59:59-05:00", "0001-01-01T00:00:00+05:00",
                 "1969-12-31T23:59:59Z", (NOW + timedelta(days=2)).isoformat()]


def test_7_a_measurement_time_out_of_bounds_is_a_422_naming_it_and_no_date_gives_a_500(api, store) -> None:
    api.post("/v1/assets", json={"name": "m", "sampling_rate": RATE})
    for when in OUT_OF_BOUNDS:
        answer = api.post("/v1/diagnose", json={"signals": [signal()], "asset": "m", "measured_at": when})
        assert answer.status_code == 422, (when, answer.text)
        assert answer.json()["field"] == "measured_at"
        for route in ("trend", "diagnoses", "export"):  # as bounds of a range: answered, never a 500
            for bound in ("start", "end"):
                read = api.get(f"/v1/assets/m/{route}", params={bound: when})
                assert read.status_code in (200, 422), (route, bound, when, read.text)
                if read.status_code == 422:
                    assert read.json()["field"] == bound
    soon = api.post("/v1/diagnose", json={"signals": [signal()], "asset": "m",
                                          "measured_at": (NOW + timedelta(hours=1)).isoformat()})
    assert soon.status_code == 200  # within the allowed clock skew
    assert store.rows("m") == 1


def test_7_score_history_refuses_a_sidecar_time_out_of_bounds_and_a_file_dated_ahead_gets_a_row_saying_why(
        store, model_dir, tmp_path) -> None:
    """``faultdx score --history`` stores into the same history: a sidecar's 9999 (or one no UTC time holds)
    was an uncaught error, a file modified in 2446 stopped the run with a traceback."""
    import numpy as np

    db = Store(store.url)
    db.create_asset(AssetSpec(name="m", sampling_rate=RATE))
    db.close()
    folder = tmp_path / "files"
    folder.mkdir()
    for i, name in enumerate(("a.npy", "b.npy", "ahead.npy")):
        np.save(folder / name, tone(0.3, seed=i))
    os.utime(folder / "ahead.npy", (15_000_000_000, 15_000_000_000))  # modified in 2445
    command = ["score", str(folder), "--out", str(tmp_path / "out.parquet"), "--model", str(model_dir),
               "--workers", "1", "--rate", str(RATE), "--asset", "m", "--history",
               "--database-url", store.url, "--no-progress"]
    for when in ("9999-12-31T23:59:59-05:00", "1969-12-31T23:59:59Z"):
        (tmp_path / "side.csv").write_text(f"file,measured_at\nfiles/a.npy,{when}\n")
        refused = CliRunner().invoke(app, [*command, "--sidecar", str(tmp_path / "side.csv")],
                                     env={"COLUMNS": "1000"})
        assert refused.exit_code == 2 and "side.csv row 2: measured_at" in refused.output, refused.output
    assert store.rows() == 0
    result = CliRunner().invoke(app, command, env={"COLUMNS": "1000"})
    assert result.exit_code == 0, result.output
    rows = {Path(r["file"]).name: r for r in pq.read_table(tmp_path / "out.parquet").to_pylist()}
    assert rows["ahead.npy"]["error"].startswith("not stored in the asset history: measured_at: 2445")
    assert rows["a.npy"]["error"] is None and rows["b.npy"]["error"] is None
    assert store.rows("m") == 2  # the others stored, the run went on


# ------------------------------------------------------------------------------- 10: names and nesting
def test_10_a_name_with_a_slash_is_refused_and_nested_json_names_its_field(api, store) -> None:
    slash = api.post("/v1/assets", json={"name": "hall A/pump 1"})
    assert slash.status_code == 422 and slash.json()["field"] == "name"
    legacy = api.post("/v1/assets", json={"name": "legacy"}).json()["id"]
    engine = make_engine(store.url)
    with engine.begin() as c:  # stored before the rule: still read, by id
        c.execute(text("UPDATE assets SET name = 'hall A/legacy' WHERE name = 'legacy'"))
    engine.dispose()
    assert api.get(f"/v1/assets/{legacy}").json()["name"] == "hall A/legacy"
    assert [a["name"] for a in api.get("/v1/assets").json()["assets"]] == ["hall A/legacy"]
    assert api.delete(f"/v1/assets/{legacy}").status_code == 204
    nested = api.post("/v1/assets", json={"name": {"first": "pump"}})
    assert nested.status_code == 422 and nested.json()["field"] == "name"
    tags = api.post("/v1/assets", json={"name": "p", "tags": [["a"]]})
    assert tags.status_code == 422 and tags.json()["field"].startswith("tags")
    deep = "[" * 100_000 + "]" * 100_000
    for content in (deep, '{"name": "p", "machine": ' + deep + "}"):
        answer = api.post("/v1/assets", content=content, headers={"content-type": "application/json"})
        assert answer.status_code == 422 and answer.json()["field"] == "body"
    assert api.get("/v1/assets").json()["assets"] == []  # nothing stored


# ============================================================ the cases that do not touch the database
# ----------------------------------------------------------------------------------- 3: score's inputs
def test_3_score_opens_only_regular_files_checks_their_size_first_and_gives_each_a_row(model_dir,
                                                                                       tmp_path) -> None:
    """A FIFO hung the run, a link to /dev/zero read to the memory limit, and every file was read whole before
    its size was checked."""
    import numpy as np

    folder = tmp_path / "odd"
    folder.mkdir()
    os.mkfifo(folder / "pipe.wav")  # opening it for reading would wait for a writer forever
    (folder / "zero.npy").symlink_to("/dev/zero")  # reading it never ends
    (folder / "null.csv").symlink_to("/dev/null")
    with (folder / "huge.wav").open("wb") as f:  # 3 GB on disk, no space taken: refused from its size
        f.truncate(3 * 2**30)
    np.save(folder / "good.npy", tone(0.5))
    out = tmp_path / "odd.parquet"
    command = ["score", str(folder), "--out", str(out), "--model", str(model_dir), "--workers", "1",
               "--rate", str(RATE), "--no-progress"]
    result = within(60, lambda: CliRunner().invoke(app, command))
    assert result.exit_code == 0, result.output
    assert "5 file(s) scored (4 with an error)" in result.output
    rows = {Path(r["file"]).name: r for r in pq.read_table(out).to_pylist()}
    assert sorted(rows) == ["good.npy", "huge.wav", "null.csv", "pipe.wav", "zero.npy"]  # one row each
    assert "not a regular file (a FIFO (named pipe))" in rows["pipe.wav"]["error"]
    assert "not a regular file (a device)" in rows["zero.npy"]["error"]
    assert "not a regular file (a device)" in rows["null.csv"]["error"]
    assert "3,221,225,472 bytes; a file of at most" in rows["huge.wav"]["error"]
    assert rows["good.npy"]["error"] is None and rows["good.npy"]["verdict"] is not None
    for name in ("pipe.wav", "zero.npy", "null.csv", "huge.wav"):
        assert rows[name]["sha256"] is None and rows[name]["verdict"] is None  # nothing was read


# ----------------------------------------------------------------------- 5: header and idle timeouts, cap
def _port(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


def _closed_after(sock: socket.socket, limit_s: float, start: float) -> float:
    """Seconds from ``start`` until the server closes ``sock`` (reads and drops anything it sends first);
    fails past ``limit_s``."""
    sock.settimeout(limit_s)
    try:
        while sock.recv(4096):
            pass
    except ConnectionResetError:
        pass
    except TimeoutError:
        pytest.fail(f"the connection was still open after {limit_s} s")
    return time.monotonic() - start


def _settings(model_dir: Path, **changes: Any) -> Any:
    from faultdx_service.settings import Settings

    return Settings(model=[str(model_dir)], api_key=None, trace=False, log_json=False, **changes)


def test_5_headers_that_do_not_arrive_end_the_connection_within_the_header_timeout(model_dir) -> None:
    with serving(_settings(model_dir, header_timeout_s=1.0)) as (url, _):
        silent = socket.create_connection(("127.0.0.1", _port(url)))
        silent_at = time.monotonic()
        half = socket.create_connection(("127.0.0.1", _port(url)))
        half.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # no blank line: headers never end
        half_at = time.monotonic()
        second = socket.create_connection(("127.0.0.1", _port(url)))
        second.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert second.recv(4096).startswith(b"HTTP/1.1 200")
        second.sendall(b"GET /healthz HTTP/1.1\r\nHo")  # a second request on the same connection, cut short
        second_at = time.monotonic()
        for sock, start in ((silent, silent_at), (half, half_at), (second, second_at)):
            with sock:
                assert 0.9 < _closed_after(sock, 10.0, start) < 6.0  # was open 70 s and more
        assert httpx.get(url + "/healthz").status_code == 200


def test_5_an_idle_keep_alive_connection_is_closed_after_the_keep_alive_time(model_dir) -> None:
    with serving(_settings(model_dir, keep_alive_s=1.0)) as (url, _), \
            socket.create_connection(("127.0.0.1", _port(url))) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert sock.recv(4096).startswith(b"HTTP/1.1 200")
        assert 0.7 < _closed_after(sock, 10.0, time.monotonic()) < 6.0


def test_5_idle_connections_past_the_cap_neither_stop_healthz_nor_cut_a_request(model_dir) -> None:
    cap = 40
    with serving(_settings(model_dir, max_connections=cap, header_timeout_s=60)) as (url, server):
        body = diagnose_body()
        busy = half_sent_post(_port(url), body)  # a request in progress
        time.sleep(0.3)
        flood = []
        for i in range(cap + 300):  # a few hundred past the cap; every other one half-sends its headers
            sock = socket.create_connection(("127.0.0.1", _port(url)))
            if i % 2:
                sock.sendall(b"GET /healthz HTTP/1.1\r\n")
            flood.append(sock)
        time.sleep(0.5)
        held = len(server.server_state.connections)
        start = time.monotonic()
        assert httpx.get(url + "/healthz", timeout=10).status_code == 200
        healthz_s = time.monotonic() - start
        busy.sendall(body[len(body) // 2 :])
        answer = busy.recv(65536)
        for sock in flood:
            sock.close()
        busy.close()
    assert held <= cap + 1, held  # accepted past the cap only for the moment it takes to close the oldest
    assert healthz_s < 4.0  # /healthz stopped answering under 20,000 idle connections
    assert answer.startswith(b"HTTP/1.1 200"), answer[:200]


# -------------------------------------------------------------------------- 8: a .mat that inflates far
@pytest.fixture(scope="module")
def inflating_mat() -> bytes:
    """A MAT file whose variable declares 4,096 samples and inflates to 268,435,456 bytes (built once)."""
    from tests.hostile_files import lying_mat

    return lying_mat(4096, 8 * 2**25)


def test_8_a_mat_inflating_far_past_its_header_is_refused_after_inflating_about_its_size(inflating_mat,
                                                                                         monkeypatch) -> None:
    """4,096 samples declared, 268 MB inflated (sent 49 times a second it starved the service): the inflating
    stops just past what the header declares, not at the 34.6 MB budget."""
    import zlib

    from faultdx.data.formats import mat5
    from faultdx.data.readers import read_signal
    from faultdx.errors import TooLarge

    produced, original = [], zlib.decompressobj

    class Counting:
        def __init__(self):
            self.inner = original()

        def decompress(self, data, max_length=0):
            out = self.inner.decompress(data, max_length)
            produced.append(len(out))
            return out

        def __getattr__(self, name):
            return getattr(self.inner, name)

    monkeypatch.setattr(mat5.zlib, "decompressobj", Counting)
    start = time.perf_counter()
    with pytest.raises(TooLarge) as refused:
        read_signal(inflating_mat, filename="lie.mat", sampling_rate=RATE)
    seconds = time.perf_counter() - start
    declared = 2 * 8 * 4096 + 2 * mat5.MAT_HEADER_BYTES
    assert f"decodes to more than {declared:,} bytes" in str(refused.value), refused.value
    assert "its header declares 4,096 samples" in str(refused.value)
    assert sum(produced) <= declared + 2 * mat5.MAT_HEADER_BYTES + 1, sum(produced)  # its header, then data
    assert seconds < 2.0


def test_8_the_inflating_mat_sent_over_http_is_a_413_and_small_requests_go_on(inflating_mat,
                                                                            model_dir) -> None:
    rounds = 12
    with serving(_settings(model_dir)) as (url, _), httpx.Client(base_url=url, timeout=30) as http:
        small = diagnose_body()

        def hostile() -> list[tuple[int, dict, float]]:
            answers = []
            for _ in range(rounds):
                start = time.monotonic()
                r = http.post("/v1/diagnose/file", files={"file": ("lie.mat", inflating_mat)},
                              data={"sampling_rate": str(RATE)})
                answers.append((r.status_code, r.json(), time.monotonic() - start))
            return answers

        def polite() -> list[int]:
            json_body = {"content-type": "application/json"}
            return [http.post("/v1/diagnose", content=small, headers=json_body).status_code
                    for _ in range(rounds)]

        with ThreadPoolExecutor(2) as pool:
            lies, smalls = pool.submit(hostile), pool.submit(polite)
            lies, smalls = lies.result(120), smalls.result(120)
    assert smalls == [200] * rounds
    assert [status for status, _, _ in lies] == [413] * rounds
    assert all(body["field"] == "file" and "its header declares 4,096 samples" in body["error"]
               for _, body, _ in lies), lies[0]
    assert max(seconds for _, _, seconds in lies) < 5.0


# 9 (Ray on loopback only): tests/test_score_ray.py, on the cluster its Ray run starts


# ------------------------------------------------------------------------ 10: a malicious config.json
DEEP = "[" * 100_000 + "]" * 100_000
HOSTILE_CONFIGS = {  # what config.json holds -> what the refusal names
    "json_100k_deep": ({"x": DEEP}, "config.json' is nested deeper than 32 levels"),
    "json_40_deep": ({"x": "[" * 40 + "]" * 40}, "nested deeper than 32 levels"),
    "json_2MB": (" " * (2 << 20), "2,097,154 bytes; a model's JSON takes at most 1,048,576"),
    "widths_200000": ({"widths": [200_000] * 3}, "model.widths: 200,000 channels; at most 4,096"),
    "widths_9000": ({"widths": [9_000] * 3}, "model.widths: 9,000 channels; at most 4,096"),
    "depth_100000": ({"depths": [100_000, 1, 1]}, "model.depths: 100,000 blocks; at most 64"),
    "blocks_320": ({"depths": [64] * 5, "widths": [8] * 5, "strides": [1] * 5},
                   "320 residual blocks in all; at most 256"),
    "weights": ({"widths": [4096] * 3}, "weights; faultdx builds networks of at most 50,000,000"),
    "kernel": ({"kernel_size": 1_000_001}, "model.kernel_size: 1,000,001 kernel size; at most 1,025"),
    "stem": ({"stem_channels": 100_000}, "model.stem_channels: 100,000 stem channels"),
    "stages": ({"widths": list(range(1, 100))}, "model.widths: 99 stages; at most 16"),
    "frontend": ({"frontend_options": {"length": 10**9}}, "frontend_options.length: 1,000,000,000 points"),
}


def _write_hostile_config(folder: Path, content: dict | str) -> None:
    import json

    config = folder / "config.json"
    if isinstance(content, str):
        config.write_text(content + "{}")
    elif "x" in content:  # raw JSON text: the parser must meet it
        config.write_text('{"format": "faultdx-model/1", "x": ' + content["x"] + "}")
    else:
        raw = json.loads(config.read_text())
        raw["model"].update(content)
        config.write_text(json.dumps(raw))


@pytest.mark.usefixtures("serve_exports_undone")
@pytest.mark.parametrize("case", list(HOSTILE_CONFIGS))
def test_10_a_malicious_config_json_is_refused_by_name_before_any_tensor(case, model_dir, tmp_path,
                                                                       monkeypatch) -> None:
    """``faultdx serve`` and ``faultdx diagnose`` on a models folder someone else wrote: a 100k-deep JSON was
    a RecursionError traceback, widths 200,000 a raw torch allocation error, widths 9,000 took 7.0 GB, depth
    100,000 62 s and 7.6 GB."""
    from faultdx import modeldir

    evil = tmp_path / "evil"
    shutil.copytree(model_dir, evil)
    content, message = HOSTILE_CONFIGS[case]
    _write_hostile_config(evil, content)
    built: list = []
    monkeypatch.setattr(modeldir, "_build_resnet1d", lambda meta: built.append(meta))
    monkeypatch.setattr(modeldir, "load_state", lambda path: built.append(path))
    (tmp_path / "x.npy").write_bytes(b"")
    for command in (["serve", "--model", str(evil), "--port", "1"],
                    ["diagnose", str(tmp_path / "x.npy"), "--model", str(evil), "--rate", "12000"]):
        start = time.perf_counter()
        result = CliRunner().invoke(app, command, env={"COLUMNS": "1000"})  # no wrapped messages
        seconds = time.perf_counter() - start
        assert result.exit_code == 2, (command[0], result.output)
        assert message in " ".join(result.output.replace("│", " ").split()), (command[0], result.output)
        assert "Traceback" not in result.output and seconds < 3.0, (command[0], seconds)  # was 62 s
    assert not built
