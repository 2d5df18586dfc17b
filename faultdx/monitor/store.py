"""The monitoring database: assets, their stored diagnoses and alarms (SQLAlchemy 2 ORM, Alembic migrations).

An embedded SQLite file is the default (``./data/faultdx.sqlite`` under the working directory), in WAL mode
with a busy timeout, and every transaction starts with ``BEGIN IMMEDIATE``: writers from several processes
(uvicorn workers, the CLI) queue for the write lock instead of failing on a lock upgrade. PostgreSQL is
used when ``FAULTDX_DATABASE_URL`` says so (``postgresql://...``, driven by psycopg 3); there, a diagnosis
locks its asset's row, so the alarm rules of one asset see every measurement in order.

The schema is created and upgraded by the migrations shipped in ``faultdx/monitor/migrations`` (run by
:func:`upgrade` when a :class:`Store` opens), never by ``create_all``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import (
    JSON,
    DateTime,
    Engine,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    create_engine,
    delete,
    event,
    false,
    func,
    select,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

from faultdx.errors import InputError, NotFound
from faultdx.monitor.alarms import AlarmRule, Measurement, changes, conditions
from faultdx.monitor.assets import AssetFields, AssetSpec, check_consistent, limits_of
from faultdx.monitor.indicators import Indicators

MIGRATIONS = Path(__file__).with_name("migrations")
DEFAULT_FILE = Path("data") / "faultdx.sqlite"
BUSY_TIMEOUT_S = 30.0  # how long a SQLite writer waits for the lock before giving up
CONNECT_TIMEOUT_S = 5  # PostgreSQL: an unreachable server is reported quickly, not after the OS's minutes
MIGRATION_LOCK = 20816  # PostgreSQL advisory-lock key: one process migrates, the others wait
MAX_PAGE = 1000
MAX_TREND_POINTS = 5000


class Conflict(InputError):
    """The request contradicts what is stored (a name taken, a reused idempotency key)."""

    status = 409


def default_url() -> str:
    """``$FAULTDX_DATABASE_URL``, else the SQLite file ``data/faultdx.sqlite`` under the working directory."""
    from faultdx.settings import current

    return current().database_url or f"sqlite:///{Path.cwd() / DEFAULT_FILE}"


def normalise_url(url: str) -> str:
    """``postgres://`` and ``postgresql://`` → ``postgresql+psycopg://`` (psycopg 3, not psycopg2)."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def redact(url: str) -> str:
    """The URL without its password (for logs and error messages)."""
    return make_url(normalise_url(url)).render_as_string(hide_password=True)


# --------------------------------------------------------------------------------------------------- engine
def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None  # SQLAlchemy's begin event below emits BEGIN itself
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")  # readers never block the writer, nor it them
    cursor.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_S * 1000)}")
    cursor.execute("PRAGMA synchronous=NORMAL")  # durable at every checkpoint; WAL keeps it consistent
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _sqlite_begin(connection: Any) -> None:
    # a deferred BEGIN that later writes can fail with "database is locked" at once (the busy timeout does
    # not apply to a lock upgrade); taking the write lock up front makes writers queue instead
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def make_engine(url: str | None = None) -> Engine:
    """An engine for ``url`` (default: :func:`default_url`) set up for several writing processes."""
    parsed = make_url(normalise_url(url or default_url()))
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(parsed, connect_args={"timeout": BUSY_TIMEOUT_S})
        event.listen(engine, "connect", _sqlite_connect)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    connect_args = {"connect_timeout": CONNECT_TIMEOUT_S} if parsed.get_backend_name() == "postgresql" else {}
    return create_engine(parsed, pool_pre_ping=True, connect_args=connect_args)


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Run the shipped Alembic migrations up to ``revision``, one process at a time."""
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:  # SQLite: BEGIN IMMEDIATE already serialises migrators
        if engine.dialect.name == "postgresql":
            connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK})")
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


# --------------------------------------------------------------------------------------------------- schema
class UtcDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes on every backend (SQLite keeps naive UTC; PostgreSQL ``timestamptz``)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        value = utc(value)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return None if value is None else utc(value)


def utc(value: datetime) -> datetime:
    """``value`` as an aware UTC datetime (a naive one is taken to be UTC already)."""
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def now() -> datetime:
    return datetime.now(timezone.utc)


class Base(DeclarativeBase):
    pass


class Asset(Base):
    """One measurement point on one machine, and how its measurements are judged."""

    __tablename__ = "assets"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    machine: Mapped[str | None] = mapped_column(String(200))
    location: Mapped[str | None] = mapped_column(String(200))
    sensor_position: Mapped[str | None] = mapped_column(String(200))
    bearing: Mapped[Any] = mapped_column(JSON, nullable=True)
    rpm: Mapped[float | None] = mapped_column(Float)
    sampling_rate: Mapped[float | None] = mapped_column(Float)
    iso_group: Mapped[int | None] = mapped_column(Integer)
    support: Mapped[str | None] = mapped_column(String(20))
    zone_limits: Mapped[Any] = mapped_column(JSON, nullable=True)
    tags: Mapped[Any] = mapped_column(JSON)
    alarm_repeat_n: Mapped[int] = mapped_column(Integer)
    alarm_repeat_m: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class DiagnosisRow(Base):
    """One stored diagnosis of one signal: verdict, indicators, zone and the machine context used."""

    __tablename__ = "diagnoses"
    __table_args__ = (
        UniqueConstraint("idempotency_key", "signal_index", name="uq_diagnoses_idempotency"),
        Index("ix_diagnoses_asset_time", "asset_id", "measured_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    asset_id: Mapped[int] = mapped_column(ForeignKey("assets.id", ondelete="CASCADE"))
    measured_at: Mapped[datetime] = mapped_column(UtcDateTime)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime)
    signal_index: Mapped[int] = mapped_column(Integer)
    idempotency_key: Mapped[str | None] = mapped_column(String(200))
    model_name: Mapped[str] = mapped_column(String(200))
    model_version: Mapped[str] = mapped_column(String(50))
    fault_type: Mapped[str] = mapped_column(String(50))
    label: Mapped[str] = mapped_column(String(50))
    severity: Mapped[str | None] = mapped_column(String(50))
    confidence: Mapped[float] = mapped_column(Float)
    unknown_score: Mapped[float | None] = mapped_column(Float)  # revision 0002
    type_probabilities: Mapped[Any] = mapped_column(JSON)
    rms: Mapped[float] = mapped_column(Float)
    peak: Mapped[float] = mapped_column(Float)
    crest_factor: Mapped[float] = mapped_column(Float)
    kurtosis: Mapped[float] = mapped_column(Float)
    velocity_rms: Mapped[float] = mapped_column(Float)
    zone: Mapped[str | None] = mapped_column(String(1))
    rpm: Mapped[float | None] = mapped_column(Float)
    rpm_source: Mapped[str | None] = mapped_column(String(20))
    sampling_rate: Mapped[float] = mapped_column(Float)
    defect_frequencies: Mapped[Any] = mapped_column(JSON, nullable=True)


class AlarmRow(Base):
    """An alarm: open while its condition holds (``closed_at`` null), acknowledged by someone or not."""

    __tablename__ = "alarms"
    __table_args__ = (Index("ix_alarms_asset_open", "asset_id", "closed_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    asset_id: Mapped[int] = mapped_column(ForeignKey("assets.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(10))
    key: Mapped[str] = mapped_column(String(50))
    level: Mapped[str] = mapped_column(String(50))
    message: Mapped[str] = mapped_column(String(300))
    opened_at: Mapped[datetime] = mapped_column(UtcDateTime)
    opened_by: Mapped[int | None] = mapped_column(Integer)
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    closed_by: Mapped[int | None] = mapped_column(Integer)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    note: Mapped[str | None] = mapped_column(Text)


ASSET_FIELDS = tuple(AssetFields.model_fields)
INDICATORS = ("rms", "peak", "crest_factor", "kurtosis", "velocity_rms")


# ---------------------------------------------------------------------------------------------- the store
@dataclass(frozen=True)
class NewDiagnosis:
    """A diagnosis to store: the model's verdict on one signal and the signal's indicators."""

    model_name: str
    model_version: str
    fault_type: str
    label: str
    confidence: float
    type_probabilities: dict[str, float]
    indicators: Indicators
    sampling_rate: float
    severity: str | None = None
    unknown_score: float | None = None
    rpm: float | None = None
    rpm_source: str | None = None
    defect_frequencies: dict[str, float] | None = None


@dataclass
class Recorded:
    """What storing a request's diagnoses did: their ids and zones, and the alarms opened and closed."""

    asset: dict[str, Any]
    diagnosis_ids: list[int]
    zones: list[str | None]
    replayed: bool = False
    opened: list[dict[str, Any]] = field(default_factory=list)
    closed: list[dict[str, Any]] = field(default_factory=list)
    open_alarms: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "asset": {"id": self.asset["id"], "name": self.asset["name"]},
            "diagnosis_ids": self.diagnosis_ids,
            "zones": self.zones,
            "replayed": self.replayed,
            "alarms_opened": self.opened,
            "alarms_closed": self.closed,
            "open_alarms": self.open_alarms,
        }


class Store:
    """Assets, diagnoses and alarms in one database; every method is one transaction."""

    def __init__(self, url: str | None = None, *, migrate: bool = True) -> None:
        self.url = normalise_url(url or default_url())
        self.engine = make_engine(self.url)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        if migrate:
            upgrade(self.engine)

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def _tx(self) -> Iterator[Session]:
        try:
            with self._sessions.begin() as session:
                yield session
        except IntegrityError as err:  # a race another writer won (same name, same idempotency key)
            reason = str(err.orig).strip().splitlines()[0][:200]
            raise Conflict(f"conflicts with what another request stored just now ({reason})") from None

    # ---------------------------------------------------------------------------------------------- assets
    def create_asset(self, spec: AssetSpec) -> dict[str, Any]:
        """Store a new asset; a taken name is a :class:`Conflict`."""
        values = spec.model_dump(mode="json")
        with self._tx() as s:
            if self._taken(s, spec.name):
                raise Conflict(f"name: an asset called {spec.name!r} exists already", "name")
            asset = Asset(**values, created_at=now(), updated_at=now())
            s.add(asset)
            s.flush()
            return asset_dict(asset)

    def get_asset(self, ref: str | int) -> dict[str, Any]:
        """The asset with id or name ``ref`` (:class:`NotFound` otherwise), with its status."""
        with self._tx() as s:
            asset = self._asset(s, ref)
            return {**asset_dict(asset), "status": self._status(s, asset.id)}

    def list_assets(self) -> list[dict[str, Any]]:
        """Every asset (by name) with its status: latest measurement, zone, open alarms."""
        with self._tx() as s:
            return [{**asset_dict(a), "status": self._status(s, a.id)}
                    for a in s.scalars(select(Asset).order_by(Asset.name))]

    def update_asset(self, ref: str | int, patch: AssetFields) -> dict[str, Any]:
        """Change the fields ``patch`` sets (an explicit null clears a field)."""
        changes_ = patch.model_dump(mode="json", exclude_unset=True)
        if "name" in changes_ and changes_["name"] is None:
            raise InputError("name: an asset keeps a name", "name")
        with self._tx() as s:
            asset = self._asset(s, ref, lock=True)
            merged = {**asset_dict(asset), **changes_}
            try:
                AssetSpec.model_validate({k: merged[k] for k in ASSET_FIELDS if merged[k] is not None})
                check_consistent(merged)
            except ValueError as err:
                raise InputError(str(err).replace("\n", " ")) from None
            new_name = changes_.get("name")
            if new_name and new_name != asset.name and self._taken(s, new_name):
                raise Conflict(f"name: an asset called {new_name!r} exists already", "name")
            for key, value in changes_.items():
                setattr(asset, key, [] if key == "tags" and value is None else value)
            asset.updated_at = now()
            s.flush()
            return asset_dict(asset)

    def delete_asset(self, ref: str | int) -> None:
        """Delete an asset with its diagnoses and alarms."""
        with self._tx() as s:
            asset = self._asset(s, ref, lock=True)
            s.execute(delete(AlarmRow).where(AlarmRow.asset_id == asset.id))
            s.execute(delete(DiagnosisRow).where(DiagnosisRow.asset_id == asset.id))
            s.delete(asset)

    def _taken(self, s: Session, name: str) -> bool:
        return s.scalar(select(Asset.id).where(Asset.name == name)) is not None

    def _asset(self, s: Session, ref: str | int, *, lock: bool = False) -> Asset:
        text = str(ref).strip()
        is_id = text.isascii() and text.isdigit() and len(text) <= 18  # longer fits no id: finds nothing
        query = select(Asset).where(Asset.id == int(text) if is_id else Asset.name == text)
        if "\0" in text:  # PostgreSQL refuses NUL in text; no name holds one
            query = query.where(false())
        if lock:
            query = query.with_for_update()  # PostgreSQL row lock; SQLite holds the database lock already
        asset = s.scalar(query)
        if asset is None:
            raise NotFound(f"asset: no asset with id or name {text[:100]!r}", "asset")
        return asset

    def _status(self, s: Session, asset_id: int) -> dict[str, Any]:
        latest = s.scalar(select(DiagnosisRow).where(DiagnosisRow.asset_id == asset_id)
                          .order_by(DiagnosisRow.measured_at.desc(), DiagnosisRow.id.desc()).limit(1))
        open_alarms = s.scalar(select(func.count()).select_from(AlarmRow)
                               .where(AlarmRow.asset_id == asset_id, AlarmRow.closed_at.is_(None)))
        count = s.scalar(select(func.count()).select_from(DiagnosisRow)
                         .where(DiagnosisRow.asset_id == asset_id))
        return {
            "diagnoses": count,
            "open_alarms": open_alarms,
            "latest": None if latest is None else diagnosis_dict(latest),
            "zone": None if latest is None else latest.zone,
        }

    # ------------------------------------------------------------------------------------------- diagnoses
    def record(
        self,
        ref: str | int,
        items: Sequence[NewDiagnosis],
        *,
        measured_at: datetime | None = None,
        idempotency_key: str | None = None,
    ) -> Recorded:
        """Store one request's diagnoses for an asset, judge their zones and update its alarms, in one
        transaction. With an ``idempotency_key`` already stored for this asset nothing is written again and
        the stored ids come back (``replayed``); the same key for another asset is a :class:`Conflict`."""
        received = now()
        when = utc(measured_at) if measured_at is not None else received
        with self._tx() as s:
            asset = self._asset(s, ref, lock=True)  # one writer per asset: alarms see measurements in order
            if idempotency_key is not None:
                stored = s.scalars(select(DiagnosisRow).where(DiagnosisRow.idempotency_key == idempotency_key)
                                   .order_by(DiagnosisRow.signal_index)).all()
                if stored:
                    if stored[0].asset_id != asset.id:
                        raise Conflict("Idempotency-Key: already used for another asset", "Idempotency-Key")
                    return Recorded(asset_dict(asset), [r.id for r in stored], [r.zone for r in stored],
                                    replayed=True, open_alarms=self._alarms(s, "open", asset.id))
            limits = limits_of(asset_dict(asset))
            rows = [
                DiagnosisRow(
                    asset_id=asset.id,
                    measured_at=when,
                    received_at=received,
                    signal_index=i,
                    idempotency_key=idempotency_key,
                    model_name=d.model_name,
                    model_version=d.model_version,
                    fault_type=d.fault_type,
                    label=d.label,
                    severity=d.severity,
                    confidence=d.confidence,
                    unknown_score=d.unknown_score,
                    type_probabilities=d.type_probabilities,
                    **d.indicators.as_dict(),
                    zone=None if limits is None else limits.zone(d.indicators.velocity_rms),
                    rpm=d.rpm,
                    rpm_source=d.rpm_source,
                    sampling_rate=d.sampling_rate,
                    defect_frequencies=d.defect_frequencies,
                )
                for i, d in enumerate(items)
            ]
            s.add_all(rows)
            s.flush()
            opened, closed = self._evaluate_alarms(s, asset)
            return Recorded(asset_dict(asset), [r.id for r in rows], [r.zone for r in rows],
                            opened=opened, closed=closed, open_alarms=self._alarms(s, "open", asset.id))

    def _evaluate_alarms(self, s: Session, asset: Asset) -> tuple[list[dict], list[dict]]:
        """Open, update and close the asset's alarms for its latest measurements; an alarm is stamped with
        the measurement time (and id) of the diagnosis that opened or closed it."""
        rule = AlarmRule(asset.alarm_repeat_n, asset.alarm_repeat_m)
        recent = s.execute(
            select(DiagnosisRow.id, DiagnosisRow.measured_at, DiagnosisRow.zone, DiagnosisRow.fault_type,
                   DiagnosisRow.velocity_rms)
            .where(DiagnosisRow.asset_id == asset.id)
            .order_by(DiagnosisRow.measured_at.desc(), DiagnosisRow.id.desc())
            .limit(rule.repeat_m)
        ).all()
        open_rows = {(a.kind, a.key): a for a in s.scalars(
            select(AlarmRow).where(AlarmRow.asset_id == asset.id, AlarmRow.closed_at.is_(None)))}
        holding = conditions([Measurement(*r[2:]) for r in recent], rule, open_rows.keys())
        todo = changes({k: a.level for k, a in open_rows.items()}, holding)
        by, stamp = recent[0].id, recent[0].measured_at
        opened = [AlarmRow(asset_id=asset.id, kind=c.kind, key=c.key, level=c.level, message=c.message,
                           opened_at=stamp, opened_by=by) for c in todo.open]
        s.add_all(opened)
        for c in todo.update:
            row = open_rows[(c.kind, c.key)]
            row.level, row.message = c.level, c.message
        for key in todo.close:
            open_rows[key].closed_at, open_rows[key].closed_by = max(stamp, open_rows[key].opened_at), by
        s.flush()
        closed = [alarm_dict(open_rows[k], asset.name) for k in todo.close]
        return [alarm_dict(a, asset.name) for a in opened], closed

    def diagnoses(
        self, ref: str | int, *, start: datetime | None = None, end: datetime | None = None,
        limit: int = 100, offset: int = 0,
    ) -> dict[str, Any]:
        """An asset's diagnoses measured in [start, end), newest first: ``{total, limit, offset, items}``."""
        if not 1 <= limit <= MAX_PAGE or offset < 0:
            raise InputError(f"limit: from 1 to {MAX_PAGE}, offset >= 0", "limit")
        with self._tx() as s:
            asset = self._asset(s, ref)
            where = _in_range(asset.id, start, end)
            total = s.scalar(select(func.count()).select_from(DiagnosisRow).where(*where))
            rows = s.scalars(select(DiagnosisRow).where(*where)
                             .order_by(DiagnosisRow.measured_at.desc(), DiagnosisRow.id.desc())
                             .limit(limit).offset(offset)).all()
            return {"asset": {"id": asset.id, "name": asset.name}, "total": total, "limit": limit,
                    "offset": offset, "items": [diagnosis_dict(r) for r in rows]}

    def frame(self, ref: str | int, *, start: datetime | None = None, end: datetime | None = None):
        """An asset's diagnoses in [start, end), oldest first, as a flat pandas DataFrame (one row each:
        verdict, a ``p_<type>`` column per fault type, indicators, zone, ``f_<line>`` defect frequencies)."""
        import pandas as pd

        with self._tx() as s:
            asset = self._asset(s, ref)
            rows = s.scalars(select(DiagnosisRow).where(*_in_range(asset.id, start, end))
                             .order_by(DiagnosisRow.measured_at, DiagnosisRow.id)).all()
            records = [_flat(r, asset.name) for r in rows]
        columns = ["id", "asset", "measured_at", "model_name", "model_version", "fault_type", "label",
                   "severity", "confidence", "unknown_score", *INDICATORS, "zone", "rpm", "sampling_rate"]
        frame = pd.DataFrame.from_records(records)
        if frame.empty:
            return pd.DataFrame(columns=columns)
        extra = sorted(c for c in frame.columns if c not in columns)
        frame["measured_at"] = pd.to_datetime(frame["measured_at"], utc=True)
        return frame[columns + extra]

    def trend(self, ref: str | int, *, start: datetime | None = None, end: datetime | None = None,
              max_points: int = MAX_TREND_POINTS) -> dict[str, Any]:
        """Indicator and fault-probability series of an asset (the latest ``max_points``), daily aggregates
        (UTC days: count, mean and max velocity RMS, worst zone, mean type probabilities, verdict counts), its
        zone limits and its alarms in the range."""
        frame = self.frame(ref, start=start, end=end)
        with self._tx() as s:
            asset = self._asset(s, ref)
            limits = limits_of(asset_dict(asset))
            alarms = [a for a in self._alarms(s, "all", asset.id) if _overlaps(a, start, end)]
        types = sorted(c[2:] for c in frame.columns if c.startswith("p_"))
        points = frame.tail(max_points)
        series = {
            "measured_at": [t.isoformat() for t in points["measured_at"]],
            **{k: _floats(points[k]) for k in INDICATORS},
            "zone": points["zone"].tolist(),
            "fault_type": points["fault_type"].tolist(),
            "confidence": _floats(points["confidence"]),
            "unknown_score": _floats(points["unknown_score"]),
            "probabilities": {t: _floats(points["p_" + t]) for t in types},
        }
        return {
            "asset": {"id": asset.id, "name": asset.name},
            "limits": None if limits is None else limits.as_dict(),
            "count": len(frame),
            "series": series,
            "daily": _daily(frame, types),
            "alarms": alarms,
        }

    # ---------------------------------------------------------------------------------------------- alarms
    def alarms(self, state: str = "open", asset: str | int | None = None) -> list[dict[str, Any]]:
        """Alarms (``open``, ``closed`` or ``all``), newest first, of one asset or all."""
        if state not in ("open", "closed", "all"):
            raise InputError(f"state: one of open, closed, all; got {state!r}", "state")
        with self._tx() as s:
            asset_id = None if asset is None else self._asset(s, asset).id
            return self._alarms(s, state, asset_id)

    def _alarms(self, s: Session, state: str, asset_id: int | None) -> list[dict[str, Any]]:
        query = select(AlarmRow, Asset.name).join(Asset, Asset.id == AlarmRow.asset_id)
        if asset_id is not None:
            query = query.where(AlarmRow.asset_id == asset_id)
        if state != "all":
            is_open = state == "open"
            query = query.where(AlarmRow.closed_at.is_(None) if is_open else AlarmRow.closed_at.is_not(None))
        return [alarm_dict(a, name) for a, name in s.execute(query.order_by(AlarmRow.opened_at.desc(),
                                                                             AlarmRow.id.desc()))]

    def acknowledge(self, alarm_id: int, note: str | None = None) -> dict[str, Any]:
        """Mark an alarm seen, with a note (acknowledging again replaces the note)."""
        with self._tx() as s:
            row = s.scalar(select(AlarmRow).where(AlarmRow.id == alarm_id).with_for_update())
            if row is None:
                raise NotFound(f"alarm: no alarm with id {alarm_id}", "alarm")
            row.acknowledged_at, row.note = now(), note
            s.flush()
            return alarm_dict(row, s.scalar(select(Asset.name).where(Asset.id == row.asset_id)))

    def open_alarm_count(self) -> int:
        with self._tx() as s:
            return s.scalar(select(func.count()).select_from(AlarmRow).where(AlarmRow.closed_at.is_(None)))

    def count_diagnoses(self, ref: str | int | None = None) -> int:
        """How many diagnoses are stored (for one asset, or in all)."""
        with self._tx() as s:
            query = select(func.count()).select_from(DiagnosisRow)
            if ref is not None:
                query = query.where(DiagnosisRow.asset_id == self._asset(s, ref).id)
            return s.scalar(query)


# ------------------------------------------------------------------------------------------------ as JSON
def asset_dict(a: Asset) -> dict[str, Any]:
    limits = limits_of({k: getattr(a, k) for k in ("zone_limits", "iso_group", "support")})
    return {
        "id": a.id,
        **{k: getattr(a, k) for k in ASSET_FIELDS},
        "limits": None if limits is None else limits.as_dict(),
        "created_at": a.created_at,
        "updated_at": a.updated_at,
    }


def diagnosis_dict(r: DiagnosisRow) -> dict[str, Any]:
    return {
        "id": r.id,
        "asset_id": r.asset_id,
        "measured_at": r.measured_at,
        "received_at": r.received_at,
        "signal_index": r.signal_index,
        "model": {"name": r.model_name, "version": r.model_version},
        "fault_type": r.fault_type,
        "label": r.label,
        "severity": r.severity,
        "confidence": r.confidence,
        "unknown_score": r.unknown_score,
        "type_probabilities": r.type_probabilities,
        "indicators": {k: getattr(r, k) for k in INDICATORS},
        "zone": r.zone,
        "rpm": r.rpm,
        "rpm_source": r.rpm_source,
        "sampling_rate": r.sampling_rate,
        "defect_frequencies_hz": r.defect_frequencies,
    }


def alarm_dict(a: AlarmRow, asset_name: str | None) -> dict[str, Any]:
    return {
        "id": a.id,
        "asset_id": a.asset_id,
        "asset": asset_name,
        "kind": a.kind,
        "key": a.key,
        "level": a.level,
        "message": a.message,
        "state": "open" if a.closed_at is None else "closed",
        "opened_at": a.opened_at,
        "opened_by": a.opened_by,
        "closed_at": a.closed_at,
        "closed_by": a.closed_by,
        "acknowledged_at": a.acknowledged_at,
        "note": a.note,
    }


def _in_range(asset_id: int, start: datetime | None, end: datetime | None) -> list[Any]:
    where = [DiagnosisRow.asset_id == asset_id]
    if start is not None:
        where.append(DiagnosisRow.measured_at >= utc(start))
    if end is not None:
        where.append(DiagnosisRow.measured_at < utc(end))
    return where


def _overlaps(alarm: dict[str, Any], start: datetime | None, end: datetime | None) -> bool:
    closed = alarm["closed_at"]
    return (end is None or alarm["opened_at"] < utc(end)) and (start is None or closed is None
                                                               or closed >= utc(start))


def _flat(r: DiagnosisRow, asset: str) -> dict[str, Any]:
    row = {
        "id": r.id, "asset": asset, "measured_at": r.measured_at, "model_name": r.model_name,
        "model_version": r.model_version, "fault_type": r.fault_type, "label": r.label,
        "severity": r.severity, "confidence": r.confidence, "unknown_score": r.unknown_score,
        **{k: getattr(r, k) for k in INDICATORS}, "zone": r.zone, "rpm": r.rpm,
        "sampling_rate": r.sampling_rate,
    }
    row.update({f"p_{k}": v for k, v in (r.type_probabilities or {}).items()})
    row.update({f"f_{k}": v for k, v in (r.defect_frequencies or {}).items()})
    return row


def _floats(values: Any) -> list[float | None]:
    return [None if v is None or v != v else float(v) for v in values.tolist()]


def _daily(frame: Any, types: list[str]) -> list[dict[str, Any]]:
    if frame.empty:
        return []
    days = frame["measured_at"].dt.strftime("%Y-%m-%d")
    out = []
    for day, group in frame.groupby(days, sort=True):
        zones = [z for z in group["zone"].tolist() if z is not None]
        out.append({
            "day": day,
            "count": len(group),
            "velocity_rms_mean": float(group["velocity_rms"].mean()),
            "velocity_rms_max": float(group["velocity_rms"].max()),
            "kurtosis_mean": float(group["kurtosis"].mean()),
            "zone_worst": max(zones) if zones else None,
            "probabilities_mean": {t: float(group["p_" + t].mean()) for t in types},
            "fault_types": {str(k): int(v)
                            for k, v in group["fault_type"].value_counts().sort_index().items()},
        })
    return out
