"""The monitoring store: assets, their stored diagnoses, alarms and healthy baselines in one database, each
method one short transaction (reads in read transactions, writes in write transactions).

The pieces, as in FastAPI's full-stack template: :mod:`~faultdx.monitor.db` (engine, sessions, URL,
migrations, the database file's identity), :mod:`~faultdx.monitor.tables` (ORM), :mod:`~faultdx.monitor.crud`
(data access), :mod:`~faultdx.monitor.schemas` (what comes back). On PostgreSQL a diagnosis locks its asset's
row, so the alarm rules of one asset see every measurement in order; on SQLite the write lock does.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from faultdx.monitor import crud
from faultdx.monitor.assets import AssetFields, AssetSpec
from faultdx.monitor.crud import (  # noqa: F401  (the store's public names, importable from here)
    MAX_PAGE,
    MAX_TREND_POINTS,
    Conflict,
    NewBaselineRecording,
    NewDiagnosis,
)
from faultdx.monitor.db import (  # noqa: F401
    WRITE,
    DatabaseGone,
    FileIdentity,
    default_url,
    make_engine,
    normalise_url,
    redact,
    sqlite_file,
    upgrade,
)
from faultdx.monitor.export import flat, frame_of
from faultdx.monitor.schemas import (
    AlarmOut,
    AlarmPage,
    AssetOut,
    AssetPage,
    BaselineOut,
    DiagnosisPage,
    Recorded,
    Trend,
)
from faultdx.monitor.tables import AlarmRow, Base, DiagnosisRow, now  # noqa: F401


class Store:
    """Assets, diagnoses, alarms and baselines in one database; every method is one transaction."""

    def __init__(self, url: str | None = None, *, migrate: bool = True) -> None:
        self.url = normalise_url(url or default_url())
        self.engine = make_engine(self.url)
        self._read = sessionmaker(self.engine, expire_on_commit=False)
        self._write = sessionmaker(self.engine.execution_options(**{WRITE: True}), expire_on_commit=False)
        if migrate:
            upgrade(self.engine)
        else:
            with self.engine.connect():  # creates the file if needed, so that its identity can be taken
                pass
        self.identity = FileIdentity(sqlite_file(self.url))

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def _tx(self, *, write: bool = False) -> Iterator[Session]:
        """A transaction: deferred ``BEGIN`` to read, ``BEGIN IMMEDIATE`` to write (SQLite); the database file
        must still be the one opened (checked again once a writer holds the lock)."""
        self.identity.check()
        try:
            with (self._write if write else self._read).begin() as session:
                if write:
                    session.connection()  # BEGIN IMMEDIATE now: the check below sees the file we lock
                    self.identity.check()
                yield session
        except IntegrityError as err:  # a race another writer won (same name, same idempotency key)
            reason = str(err.orig).strip().splitlines()[0][:200]
            raise Conflict(f"conflicts with what another request stored just now ({reason})") from None

    # ---------------------------------------------------------------------------------------------- assets
    def create_asset(self, spec: AssetSpec) -> AssetOut:
        """Store a new asset; a taken name is a :class:`Conflict`."""
        with self._tx(write=True) as s:
            return crud.create_asset(s, spec)

    def get_asset(self, ref: str | int) -> AssetOut:
        """The asset with id or name ``ref`` (:class:`~faultdx.errors.NotFound` otherwise), with its status
        and a summary of its baseline."""
        with self._tx() as s:
            asset = crud.find_asset(s, ref)
            out = crud.asset_out(asset, crud.status(s, asset.id))
            out.baseline = crud.baseline_out(s, asset).summary
            return out

    def asset(self, ref: str | int) -> AssetOut:
        """The asset with id or name ``ref`` as stored (rate, rpm, bearing, limits), without its status or
        baseline: what a measurement of it needs, in one query (:meth:`get_asset` adds both)."""
        with self._tx() as s:
            return crud.asset_out(crud.find_asset(s, ref))

    def list_assets(self, *, limit: int = 100, cursor: str | None = None) -> AssetPage:
        """A page of assets by name after ``cursor``, each with its status (one query)."""
        with self._tx() as s:
            return crud.list_assets(s, limit=limit, cursor=cursor)

    def update_asset(self, ref: str | int, patch: AssetFields) -> AssetOut:
        """Change the fields ``patch`` sets (an explicit null clears a field)."""
        with self._tx(write=True) as s:
            return crud.update_asset(s, ref, patch)

    def delete_asset(self, ref: str | int) -> None:
        """Delete an asset with its diagnoses, alarms and baseline."""
        with self._tx(write=True) as s:
            crud.delete_asset(s, ref)

    # ------------------------------------------------------------------------------------------- diagnoses
    def record(
        self, ref: str | int, items: Sequence[NewDiagnosis], *, measured_at: datetime | None = None,
        idempotency_key: str | None = None, request_hash: str | None = None,
    ) -> Recorded:
        """Store one request's diagnoses for an asset, judge their zones and update its alarms, in one
        transaction. ``measured_at`` (default: now) lies in 1970 .. now + 1 day (else a 422 naming it). An
        ``idempotency_key`` already stored for this asset and this ``request_hash`` replays the stored ids
        (``replayed``); the key with another body or another asset is a :class:`Conflict` (409)."""
        received = now()
        when = received if measured_at is None else crud.check_measured_at(measured_at, received)
        with self._tx(write=True) as s:
            # one writer per asset: its alarm rules see its measurements in order
            asset = crud.find_asset(s, ref, lock=True)
            return crud.record(s, asset, items, received=received, measured_at=when,
                               idempotency_key=idempotency_key, request_hash=request_hash)

    def diagnoses(
        self, ref: str | int, *, start: datetime | None = None, end: datetime | None = None,
        limit: int = 100, offset: int = 0,
    ) -> DiagnosisPage:
        """An asset's diagnoses measured in [start, end), newest first: ``total, limit, offset, items``."""
        with self._tx() as s:
            return crud.diagnoses(s, ref, start=start, end=end, limit=limit, offset=offset)

    def frame(self, ref: str | int, *, start: datetime | None = None, end: datetime | None = None) -> Any:
        """An asset's diagnoses in [start, end), oldest first, as a flat pandas DataFrame (one row each:
        verdict, a ``p_<type>`` column per fault type, indicators, zone, ``f_<line>`` defect frequencies)."""
        with self._tx() as s:
            asset = crud.find_asset(s, ref)
            rows = s.scalars(select(DiagnosisRow).where(*crud.in_range(asset.id, start, end))
                             .order_by(DiagnosisRow.measured_at, DiagnosisRow.id)).all()
            records = [flat(r, asset.name) for r in rows]
        return frame_of(records)

    def trend(self, ref: str | int, *, start: datetime | None = None, end: datetime | None = None,
              max_points: int = MAX_TREND_POINTS) -> Trend:
        """Series of the latest ``max_points`` diagnoses, daily aggregates (computed by the database), the
        zone limits and the alarms in the range."""
        with self._tx() as s:
            return crud.trend(s, ref, start=start, end=end, max_points=max_points)

    def count_diagnoses(self, ref: str | int | None = None) -> int:
        """How many diagnoses are stored (for one asset, or in all)."""
        with self._tx() as s:
            query = select(func.count()).select_from(DiagnosisRow)
            if ref is not None:
                query = query.where(DiagnosisRow.asset_id == crud.find_asset(s, ref).id)
            return s.scalar(query)

    # ---------------------------------------------------------------------------------------------- alarms
    def alarms(self, state: str = "open", asset: str | int | None = None) -> list[AlarmOut]:
        """Alarms (``open``, ``closed`` or ``all``), newest first, of one asset or all."""
        with self._tx() as s:
            return crud.alarms(s, state, None if asset is None else crud.find_asset(s, asset).id)

    def alarm_page(self, state: str = "open", asset: str | int | None = None, *, limit: int = 100,
                   cursor: str | None = None) -> AlarmPage:
        """A page of alarms, newest first, after ``cursor`` (the previous page's ``next_cursor``)."""
        with self._tx() as s:
            asset_id = None if asset is None else crud.find_asset(s, asset).id
            return crud.alarm_page(s, state, asset_id, limit=limit, cursor=cursor)

    def acknowledge(self, alarm_id: int, note: str | None = None) -> AlarmOut:
        """Mark an alarm seen, with a note (acknowledging again replaces the note)."""
        with self._tx(write=True) as s:
            return crud.acknowledge(s, alarm_id, note)

    def open_alarm_count(self) -> int:
        with self._tx() as s:
            return s.scalar(select(func.count()).select_from(AlarmRow).where(AlarmRow.closed_at.is_(None)))

    # -------------------------------------------------------------------------------------------- baseline
    def add_baseline(self, ref: str | int, items: Sequence[NewBaselineRecording]) -> BaselineOut:
        """Add healthy reference recordings to an asset's baseline (all or none); what it holds now."""
        with self._tx(write=True) as s:
            return crud.add_baseline(s, crud.find_asset(s, ref, lock=True), items)

    def baseline(self, ref: str | int) -> BaselineOut:
        """An asset's baseline: its recordings and a summary (recordings, windows, speeds)."""
        with self._tx() as s:
            return crud.baseline_out(s, crud.find_asset(s, ref))

    def baseline_features(self, ref: str | int) -> list[tuple[str, float | None, dict[str, Any]]]:
        """The stored ``(model name, rpm, features)`` of every recording of an asset's baseline."""
        with self._tx() as s:
            return [(r.model_name, r.rpm, r.features)
                    for r in crud.baseline_rows(s, crud.find_asset(s, ref).id)]

    def clear_baseline(self, ref: str | int) -> int:
        """Remove an asset's baseline; how many recordings it held."""
        with self._tx(write=True) as s:
            return crud.clear_baseline(s, crud.find_asset(s, ref, lock=True))
