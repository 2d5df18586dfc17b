"""The monitoring database's tables (SQLAlchemy 2 ORM): assets, their stored diagnoses, alarms and healthy
baseline recordings. The schema itself is created and upgraded by the Alembic migrations in
``faultdx/monitor/migrations``, never by ``create_all``; these classes must match them."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import (
    JSON,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


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
    request_hash: Mapped[str | None] = mapped_column(String(64))  # revision 0003: what the key was used for
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


class BaselineRow(Base):
    """One healthy reference recording of an asset (revision 0003): what :mod:`faultdx.diagnose.baseline`
    keeps of it (its windows' features) and the context it was measured in."""

    __tablename__ = "baseline_recordings"
    __table_args__ = (Index("ix_baseline_asset", "asset_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    asset_id: Mapped[int] = mapped_column(ForeignKey("assets.id", ondelete="CASCADE"))
    added_at: Mapped[datetime] = mapped_column(UtcDateTime)
    rpm: Mapped[float | None] = mapped_column(Float)
    sampling_rate: Mapped[float] = mapped_column(Float)
    windows: Mapped[int] = mapped_column(Integer)
    model_name: Mapped[str] = mapped_column(String(200))
    model_version: Mapped[str] = mapped_column(String(50))
    features: Mapped[Any] = mapped_column(JSON)
