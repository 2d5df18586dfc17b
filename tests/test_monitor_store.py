"""The monitoring store on SQLite and on a real PostgreSQL server: assets, diagnoses, alarms, idempotency,
trend and export, and migrations that keep every row."""

from __future__ import annotations

import io
from datetime import datetime, timedelta, timezone

import pandas as pd
import pytest
from sqlalchemy import inspect, text

from faultdx.errors import InputError, NotFound
from faultdx.monitor.assets import AssetFields, AssetSpec
from faultdx.monitor.indicators import Indicators
from faultdx.monitor.store import Base, Conflict, NewDiagnosis, Store, make_engine, upgrade

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=timezone.utc)
TYPES = ("normal", "inner_race", "outer_race", "ball")


@pytest.fixture
def store(database_url):
    s = Store(database_url)
    yield s
    s.close()


def measurement(fault_type: str = "normal", velocity: float = 1.0, confidence: float = 0.9) -> NewDiagnosis:
    probs = {t: (confidence if t == fault_type else (1 - confidence) / 3) for t in TYPES}
    return NewDiagnosis(
        model_name="tiny", model_version="1", fault_type=fault_type, label=fault_type, confidence=confidence,
        type_probabilities=probs, indicators=Indicators(0.5, 2.0, 4.0, 3.5, velocity), sampling_rate=12000.0,
        rpm=1797.0, rpm_source="given", defect_frequencies={"bpfo": 107.4, "bpfi": 162.2},
    )


def test_assets_are_created_read_by_id_or_name_updated_and_deleted(store) -> None:
    pump = store.create_asset(AssetSpec(name="pump 1", machine="P-101", location="hall A", bearing="SKF 6205",
                                        rpm=1797, sampling_rate=12000, iso_group=2, support="rigid",
                                        tags=["water", "critical"]))
    assert store.get_asset(pump.id).name == store.get_asset("pump 1").name == "pump 1"
    assert pump.limits.bc == 2.8 and "Table A.2" in pump.limits.source
    with pytest.raises(Conflict):
        store.create_asset(AssetSpec(name="pump 1"))
    changed = store.update_asset("pump 1", AssetFields(zone_limits={"ab": 1, "bc": 2, "cd": 3}, tags=["x"]))
    assert changed.limits.model_dump() == {"ab": 1.0, "bc": 2.0, "cd": 3.0, "source": "custom"}
    assert changed.tags == ["x"] and changed.machine == "P-101"  # untouched fields stay
    with pytest.raises(InputError, match="iso_group and support"):
        store.update_asset("pump 1", AssetFields(support=None))
    store.create_asset(AssetSpec(name="fan"))
    assert [a.name for a in store.list_assets().assets] == ["fan", "pump 1"]
    store.record("pump 1", [measurement()])
    store.delete_asset(pump.id)
    with pytest.raises(NotFound):
        store.get_asset("pump 1")
    assert store.count_diagnoses() == 0  # its history went with it


def test_diagnoses_by_time_range_and_page(store) -> None:
    store.create_asset(AssetSpec(name="m"))
    for i in range(10):
        store.record("m", [measurement()], measured_at=T0 + timedelta(hours=i))
    page = store.diagnoses("m", start=T0 + timedelta(hours=2), end=T0 + timedelta(hours=8), limit=4, offset=0)
    assert page.total == 6 and len(page.items) == 4
    times = [d.measured_at for d in page.items]
    assert times == [T0 + timedelta(hours=h) for h in (7, 6, 5, 4)]  # newest first, end exclusive
    rest = store.diagnoses("m", start=T0 + timedelta(hours=2), end=T0 + timedelta(hours=8), limit=4, offset=4)
    assert [d.measured_at for d in rest.items] == [T0 + timedelta(hours=h) for h in (3, 2)]
    item = page.items[0]
    assert item.indicators.velocity_rms == 1.0 and item.defect_frequencies_hz["bpfo"] == 107.4
    assert item.unknown_score is None and item.model.model_dump() == {"name": "tiny", "version": "1"}


def test_alarms_open_escalate_close_and_are_acknowledged(store) -> None:
    store.create_asset(AssetSpec(name="m", iso_group=2, support="rigid", alarm_repeat_n=2, alarm_repeat_m=3))
    steps = [("normal", 1.0), ("outer_race", 2.0), ("outer_race", 3.0), ("outer_race", 5.0), ("normal", 1.0),
             ("normal", 1.0), ("normal", 1.0)]
    log = []
    for i, (fault, v) in enumerate(steps):
        done = store.record("m", [measurement(fault, v)], measured_at=T0 + timedelta(days=i))
        log.append((done.zones[0], sorted((a.kind, a.level) for a in done.open_alarms)))
    assert log == [
        ("A", []),
        ("B", []),
        ("C", [("fault", "outer_race"), ("zone", "C")]),  # zone C; outer race in 2 of the last 3
        ("D", [("fault", "outer_race"), ("zone", "D")]),  # the zone alarm escalates, no second one
        ("A", [("fault", "outer_race")]),  # zone cleared; outer race still in 2 of the last 3
        ("A", [("fault", "outer_race")]),  # 1 of the last 3: below N, but an open alarm holds while any do
        ("A", []),  # none of the last 3: cleared
    ]
    alarms = store.alarms("all", "m")
    assert len(alarms) == 2 and all(a.state == "closed" for a in alarms)
    acked = store.acknowledge(alarms[0].id, "bearing replaced on day 4")
    assert acked.note == "bearing replaced on day 4" and acked.acknowledged_at is not None
    assert store.open_alarm_count() == 0
    with pytest.raises(NotFound):
        store.acknowledge(10**9)


def test_alarms_page_newest_first_with_a_cursor(store) -> None:
    """Seven zone alarms (each D measurement opens one, the next A closes it), read three at a time: the same
    alarms in the same order as the whole list; a cursor that names no alarm is refused naming ``cursor``."""
    store.create_asset(AssetSpec(name="m", iso_group=2, support="rigid"))
    for i in range(14):
        velocity = 5.0 if i % 2 == 0 else 1.0
        store.record("m", [measurement("normal", velocity)], measured_at=T0 + timedelta(days=i))
    everything = [a.id for a in store.alarms("all", "m")]
    pages, cursor = [], None
    while True:
        page = store.alarm_page("all", "m", limit=3, cursor=cursor)
        pages.append([a.id for a in page.alarms])
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert len(everything) == 7 and [len(p) for p in pages] == [3, 3, 1]
    assert [i for p in pages for i in p] == everything
    for bad in ("abc", "99999999", "1" * 30, "\u00b2", str(2**31)):
        with pytest.raises(InputError, match="cursor"):
            store.alarm_page("all", cursor=bad)


def test_an_idempotency_key_is_stored_once(store) -> None:
    store.create_asset(AssetSpec(name="m"))
    store.create_asset(AssetSpec(name="other"))
    first = store.record("m", [measurement(), measurement()], idempotency_key="req-1")
    again = store.record("m", [measurement(), measurement()], idempotency_key="req-1")
    assert again.replayed and again.diagnosis_ids == first.diagnosis_ids and len(first.diagnosis_ids) == 2
    assert store.count_diagnoses("m") == 2
    with pytest.raises(Conflict, match="another asset"):
        store.record("other", [measurement()], idempotency_key="req-1")


def test_trend_has_series_daily_aggregates_alarms_and_exports(store) -> None:
    store.create_asset(AssetSpec(name="m", iso_group=2, support="rigid"))
    for day, velocities in enumerate([(1.0, 1.2), (2.0, 3.0), (5.0,)]):
        for k, v in enumerate(velocities):
            store.record("m", [measurement("outer_race" if v > 2 else "normal", v)],
                         measured_at=T0 + timedelta(days=day, hours=k))
    trend = store.trend("m")
    assert trend.count == 5 and trend.series.velocity_rms == [1.0, 1.2, 2.0, 3.0, 5.0]
    assert trend.series.zone == ["A", "A", "B", "C", "D"]
    assert len(trend.series.probabilities["outer_race"]) == 5
    daily = trend.daily
    assert [d.day for d in daily] == ["2026-03-02", "2026-03-03", "2026-03-04"]
    assert [d.count for d in daily] == [2, 2, 1]
    assert daily[1].velocity_rms_mean == pytest.approx(2.5) and daily[1].velocity_rms_max == 3.0
    assert [d.zone_worst for d in daily] == ["A", "C", "D"]
    assert daily[1].fault_types == {"normal": 1, "outer_race": 1}
    assert [a.kind for a in trend.alarms] == ["zone"]
    later = store.trend("m", start=T0 + timedelta(days=1))
    assert later.count == 3

    frame = store.frame("m")
    csv = pd.read_csv(io.StringIO(frame.to_csv(index=False)))
    assert len(csv) == 5 and list(csv["velocity_rms"]) == [1.0, 1.2, 2.0, 3.0, 5.0]
    assert {"p_outer_race", "f_bpfo", "zone", "kurtosis"} <= set(csv.columns)
    buf = io.BytesIO()
    frame.to_parquet(buf, index=False)
    back = pd.read_parquet(io.BytesIO(buf.getvalue()))
    assert list(back["zone"]) == ["A", "A", "B", "C", "D"] and str(back["measured_at"].dt.tz) == "UTC"


def test_migration_of_a_populated_database_keeps_every_row(database_url) -> None:
    """Populate at the first revision, as a deployed database would be, then upgrade to the latest."""
    engine = make_engine(database_url)
    upgrade(engine, "0001")
    assert "unknown_score" not in {c["name"] for c in inspect(engine).get_columns("diagnoses")}
    stamp = "2026-01-01 00:00:00"
    insert_asset = text("INSERT INTO assets (id, name, tags, alarm_repeat_n, alarm_repeat_m, created_at, "
                        "updated_at) VALUES (:i, :n, '[]', 3, 5, :t, :t)")
    insert_diagnosis = text(
        "INSERT INTO diagnoses (asset_id, measured_at, received_at, signal_index, model_name, model_version, "
        "fault_type, label, confidence, type_probabilities, rms, peak, crest_factor, kurtosis, velocity_rms, "
        "zone, sampling_rate) VALUES (:a, :t, :t, :k, 'm', '1', 'normal', 'normal', 0.9, '{}', 1, 2, 2, 3, "
        ":v, 'A', 12000)")
    insert_alarm = text("INSERT INTO alarms (asset_id, kind, key, level, message, opened_at) VALUES "
                        "(:a, 'zone', 'zone', 'C', 'm', :t)")
    with engine.begin() as c:
        for i in range(1, 31):
            c.execute(insert_asset, {"i": i, "n": f"a{i}", "t": stamp})
            c.execute(insert_diagnosis, [{"a": i, "t": stamp, "k": k, "v": k} for k in range(20)])
            c.execute(insert_alarm, {"a": i, "t": stamp})
        before = {t: c.execute(text(f"SELECT count(*) FROM {t}")).scalar() for t in ("assets", "diagnoses",
                                                                                     "alarms")}
        velocities = c.execute(text("SELECT sum(velocity_rms) FROM diagnoses")).scalar()
    upgrade(engine)
    with engine.begin() as c:
        after = {t: c.execute(text(f"SELECT count(*) FROM {t}")).scalar() for t in before}
        assert c.execute(text("SELECT sum(velocity_rms) FROM diagnoses")).scalar() == velocities
        assert c.execute(text("SELECT count(*) FROM diagnoses WHERE unknown_score IS NULL")).scalar() == 600
    assert before == after == {"assets": 30, "diagnoses": 600, "alarms": 30}
    store = Store(database_url)  # opens the upgraded database through the ORM
    assert store.count_diagnoses("a7") == 20 and store.alarms("open", "a7")[0].level == "C"
    store.close()
    engine.dispose()


def test_the_migrations_build_exactly_the_models_schema(store) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    with store.engine.connect() as c:
        diff = compare_metadata(MigrationContext.configure(c), Base.metadata)
    assert diff == []
