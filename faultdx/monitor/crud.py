"""Data access of the monitoring store: every function takes an open session and returns the schemas of
:mod:`faultdx.monitor.schemas` (no HTTP, no transactions of its own — :class:`faultdx.monitor.store.Store`
opens those). Asset lists are paginated and aggregated in one query; trends aggregate days in SQL."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import ColumnElement, Float, and_, cast, delete, false, func, or_, select
from sqlalchemy.orm import Session

from faultdx.errors import InputError, NotFound
from faultdx.monitor.alarms import AlarmRule, Measurement, changes, conditions
from faultdx.monitor.assets import AssetFields, AssetSpec, Limits, check_consistent, limits_of
from faultdx.monitor.indicators import Indicators
from faultdx.monitor.schemas import (
    ASSET_FIELDS,
    INDICATORS,
    AlarmOut,
    AlarmPage,
    AssetOut,
    AssetPage,
    AssetRef,
    AssetStatus,
    BaselineOut,
    BaselineRecording,
    BaselineSummary,
    DailyAggregate,
    DiagnosisOut,
    DiagnosisPage,
    LimitsOut,
    ModelRef,
    Recorded,
    Trend,
    TrendSeries,
)
from faultdx.monitor.tables import AlarmRow, Asset, BaselineRow, DiagnosisRow, now, utc

MAX_PAGE = 1000
MAX_TREND_POINTS = 5000
FUTURE_SKEW = timedelta(days=1)  # a measured_at later than now + this is a clock or typing error
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


class Conflict(InputError):
    """The request contradicts what is stored (a name taken, a reused idempotency key)."""

    status = 409


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


# ------------------------------------------------------------------------------------------------- times
def checked_utc(value: datetime | None, field: str) -> datetime | None:
    """``value`` as aware UTC; a date that cannot be moved to UTC (year 1 or 9999 with an offset) is a 422
    naming ``field``, not an ``OverflowError``."""
    if value is None:
        return None
    try:
        return utc(value)
    except (OverflowError, ValueError):
        raise InputError(f"{field}: {value.isoformat()} cannot be expressed in UTC", field) from None


def check_measured_at(value: datetime, received: datetime) -> datetime:
    """A measurement time from 1970 to ``received`` + :data:`FUTURE_SKEW` (a later one would stay the asset's
    "latest" and hold its alarms open for years)."""
    when = checked_utc(value, "measured_at")
    if when < EPOCH or when > received + FUTURE_SKEW:
        raise InputError(f"measured_at: {when.isoformat()} is not between 1970-01-01 and now + "
                         f"{FUTURE_SKEW.days} day (clock skew allowed)", "measured_at")
    return when


# ------------------------------------------------------------------------------------------------ assets
def find_asset(s: Session, ref: str | int, *, lock: bool = False) -> Asset:
    """The asset with id or name ``ref`` (:class:`NotFound` otherwise); ``lock``: a PostgreSQL row lock."""
    text = str(ref).strip()
    is_id = text.isascii() and text.isdigit() and len(text) <= 18  # longer fits no id: finds nothing
    query = select(Asset).where(Asset.id == int(text) if is_id else Asset.name == text)
    if "\0" in text:  # PostgreSQL refuses NUL in text; no name holds one
        query = query.where(false())
    if lock:
        query = query.with_for_update()  # SQLite holds the database lock already (BEGIN IMMEDIATE)
    asset = s.scalar(query)
    if asset is None:
        raise NotFound(f"asset: no asset with id or name {text[:100]!r}", "asset")
    return asset


def name_taken(s: Session, name: str) -> bool:
    return s.scalar(select(Asset.id).where(Asset.name == name)) is not None


def create_asset(s: Session, spec: AssetSpec) -> AssetOut:
    """Store a new asset; a taken name is a :class:`Conflict`."""
    if name_taken(s, spec.name):
        raise Conflict(f"name: an asset called {spec.name!r} exists already", "name")
    asset = Asset(**spec.model_dump(mode="json"), created_at=now(), updated_at=now())
    s.add(asset)
    s.flush()
    return asset_out(asset)


def update_asset(s: Session, ref: str | int, patch: AssetFields) -> AssetOut:
    """Change the fields ``patch`` sets (an explicit null clears a field)."""
    changes_ = patch.model_dump(mode="json", exclude_unset=True)
    if "name" in changes_ and changes_["name"] is None:
        raise InputError("name: an asset keeps a name", "name")
    asset = find_asset(s, ref, lock=True)
    merged = {**asset_out(asset).model_dump(mode="json"), **changes_}
    try:
        AssetSpec.model_validate({k: merged[k] for k in ASSET_FIELDS if merged[k] is not None})
        check_consistent(merged)
    except ValueError as err:
        raise InputError(str(err).replace("\n", " ")) from None
    new_name = changes_.get("name")
    if new_name and new_name != asset.name and name_taken(s, new_name):
        raise Conflict(f"name: an asset called {new_name!r} exists already", "name")
    for key, value in changes_.items():
        setattr(asset, key, [] if key == "tags" and value is None else value)
    asset.updated_at = now()
    s.flush()
    return asset_out(asset)


def delete_asset(s: Session, ref: str | int) -> None:
    """Delete an asset with its diagnoses, alarms and baseline (the foreign keys cascade)."""
    asset = find_asset(s, ref, lock=True)
    for table in (AlarmRow, DiagnosisRow, BaselineRow):
        s.execute(delete(table).where(table.asset_id == asset.id))
    s.delete(asset)


def status(s: Session, asset_id: int) -> AssetStatus:
    """Diagnoses stored, open alarms, latest diagnosis and its zone."""
    latest = s.scalar(select(DiagnosisRow).where(DiagnosisRow.asset_id == asset_id)
                      .order_by(DiagnosisRow.measured_at.desc(), DiagnosisRow.id.desc()).limit(1))
    return AssetStatus(diagnoses=s.scalar(_diagnosis_count(asset_id)),
                       open_alarms=s.scalar(_open_count(asset_id)),
                       latest=None if latest is None else diagnosis_out(latest),
                       zone=None if latest is None else latest.zone)


def _diagnosis_count(asset_id: Any) -> Any:
    return select(func.count()).select_from(DiagnosisRow).where(DiagnosisRow.asset_id == asset_id)


def _open_count(asset_id: Any) -> Any:
    return select(func.count()).select_from(AlarmRow).where(AlarmRow.asset_id == asset_id,
                                                             AlarmRow.closed_at.is_(None))


def list_assets(s: Session, *, limit: int = 100, cursor: str | None = None) -> AssetPage:
    """Assets by name after ``cursor`` (the last name of the previous page), each with its status, in one
    query: counts and the latest diagnosis come from correlated subqueries, not a query per asset."""
    if not 1 <= limit <= MAX_PAGE:
        raise InputError(f"limit: from 1 to {MAX_PAGE}", "limit")
    latest_id = (select(DiagnosisRow.id).where(DiagnosisRow.asset_id == Asset.id)
                 .order_by(DiagnosisRow.measured_at.desc(), DiagnosisRow.id.desc()).limit(1)
                 .correlate(Asset).scalar_subquery())
    query = (select(Asset, _diagnosis_count(Asset.id).correlate(Asset).scalar_subquery(),
                    _open_count(Asset.id).correlate(Asset).scalar_subquery(), DiagnosisRow)
             .outerjoin(DiagnosisRow, DiagnosisRow.id == latest_id)
             .order_by(Asset.name).limit(limit + 1))
    if cursor is not None:
        query = query.where(Asset.name > cursor)
    rows = s.execute(query).all()
    page = [asset_out(a, AssetStatus(diagnoses=n, open_alarms=k, zone=None if d is None else d.zone,
                                     latest=None if d is None else diagnosis_out(d)))
            for a, n, k, d in rows[:limit]]
    return AssetPage(assets=page, limit=limit, next_cursor=page[-1].name if len(rows) > limit else None)


# --------------------------------------------------------------------------------------------- diagnoses
def record(
    s: Session, asset: Asset, items: Sequence[NewDiagnosis], *, received: datetime, measured_at: datetime,
    idempotency_key: str | None = None, request_hash: str | None = None,
) -> Recorded:
    """Store one request's diagnoses for ``asset`` (locked by the caller), judge their zones and update its
    alarms. A stored ``idempotency_key`` replays what it stored when ``request_hash`` matches; used with
    another body or another asset it is a :class:`Conflict` naming the key."""
    if idempotency_key is not None:
        replay = _replay(s, asset, idempotency_key, request_hash)
        if replay is not None:
            return replay
    limits = limits_of(asset_out(asset).model_dump(mode="json"))
    rows = [
        DiagnosisRow(
            asset_id=asset.id, measured_at=measured_at, received_at=received, signal_index=i,
            idempotency_key=idempotency_key, request_hash=request_hash, model_name=d.model_name,
            model_version=d.model_version, fault_type=d.fault_type, label=d.label, severity=d.severity,
            confidence=d.confidence, unknown_score=d.unknown_score, type_probabilities=d.type_probabilities,
            **d.indicators.as_dict(), zone=None if limits is None else limits.zone(d.indicators.velocity_rms),
            rpm=d.rpm, rpm_source=d.rpm_source, sampling_rate=d.sampling_rate,
            defect_frequencies=d.defect_frequencies,
        )
        for i, d in enumerate(items)
    ]
    s.add_all(rows)
    s.flush()
    opened, closed = _evaluate_alarms(s, asset)
    return Recorded(asset=AssetRef(id=asset.id, name=asset.name), diagnosis_ids=[r.id for r in rows],
                    zones=[r.zone for r in rows], alarms_opened=opened, alarms_closed=closed,
                    open_alarms=alarms(s, "open", asset.id))


def _replay(s: Session, asset: Asset, key: str, request_hash: str | None) -> Recorded | None:
    stored = s.scalars(select(DiagnosisRow).where(DiagnosisRow.idempotency_key == key)
                       .order_by(DiagnosisRow.signal_index)).all()
    if not stored:
        return None
    if stored[0].asset_id != asset.id:
        raise Conflict(f"Idempotency-Key: {key[:80]!r} was already used for another asset", "Idempotency-Key")
    if stored[0].request_hash != request_hash:
        raise Conflict(f"Idempotency-Key: {key[:80]!r} was already used for a request with another body; "
                       "nothing was stored (use a new key for a new measurement)", "Idempotency-Key")
    return Recorded(asset=AssetRef(id=asset.id, name=asset.name), diagnosis_ids=[r.id for r in stored],
                    zones=[r.zone for r in stored], replayed=True, open_alarms=alarms(s, "open", asset.id))


def _evaluate_alarms(s: Session, asset: Asset) -> tuple[list[AlarmOut], list[AlarmOut]]:
    """Open, update and close the asset's alarms for its latest measurements; an alarm is stamped with the
    measurement time (and id) of the diagnosis that opened or closed it."""
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
    closed = [alarm_out(open_rows[k], asset.name) for k in todo.close]
    return [alarm_out(a, asset.name) for a in opened], closed


def in_range(asset_id: int, start: datetime | None, end: datetime | None) -> list[ColumnElement[bool]]:
    """The conditions selecting an asset's diagnoses measured in [start, end)."""
    where = [DiagnosisRow.asset_id == asset_id]
    start, end = checked_utc(start, "start"), checked_utc(end, "end")
    if start is not None:
        where.append(DiagnosisRow.measured_at >= start)
    if end is not None:
        where.append(DiagnosisRow.measured_at < end)
    return where


def newest_diagnoses(s: Session, where: list[ColumnElement[bool]], *, limit: int,
                    offset: int = 0) -> tuple[int, Sequence[DiagnosisRow]]:
    """(how many diagnoses match ``where`` (see :func:`in_range`), the ``limit`` newest of them after skipping
    ``offset``, newest first)."""
    total = s.scalar(select(func.count()).select_from(DiagnosisRow).where(*where)) or 0
    rows = s.scalars(select(DiagnosisRow).where(*where)
                     .order_by(DiagnosisRow.measured_at.desc(), DiagnosisRow.id.desc())
                     .limit(limit).offset(offset)).all()
    return total, rows


def diagnoses(s: Session, ref: str | int, *, start: datetime | None, end: datetime | None, limit: int,
              offset: int) -> DiagnosisPage:
    """An asset's diagnoses measured in [start, end), newest first."""
    if not 1 <= limit <= MAX_PAGE or offset < 0:
        raise InputError(f"limit: from 1 to {MAX_PAGE}, offset >= 0", "limit")
    asset = find_asset(s, ref)
    total, rows = newest_diagnoses(s, in_range(asset.id, start, end), limit=limit, offset=offset)
    return DiagnosisPage(asset=AssetRef(id=asset.id, name=asset.name), total=total, limit=limit,
                         offset=offset, items=[diagnosis_out(r) for r in rows])


def trend(s: Session, ref: str | int, *, start: datetime | None, end: datetime | None,
          max_points: int = MAX_TREND_POINTS) -> Trend:
    """Indicator and fault-probability series of an asset (its latest ``max_points`` in the range), daily
    aggregates, its zone limits and its alarms in the range."""
    if not 1 <= max_points <= MAX_TREND_POINTS:
        raise InputError(f"max_points: from 1 to {MAX_TREND_POINTS}", "max_points")
    asset = find_asset(s, ref)
    where = in_range(asset.id, start, end)
    count, newest = newest_diagnoses(s, where, limit=max_points)
    rows = newest[::-1]
    types = sorted({t for r in rows for t in (r.type_probabilities or {})})
    series = TrendSeries(
        measured_at=[r.measured_at for r in rows], **{k: [getattr(r, k) for r in rows] for k in INDICATORS},
        zone=[r.zone for r in rows], fault_type=[r.fault_type for r in rows],
        confidence=[r.confidence for r in rows], unknown_score=[r.unknown_score for r in rows],
        probabilities={t: [(r.type_probabilities or {}).get(t) for r in rows] for t in types},
    )
    limits = limits_of({k: getattr(asset, k) for k in ("zone_limits", "iso_group", "support")})
    start, end = checked_utc(start, "start"), checked_utc(end, "end")
    in_view = [a for a in alarms(s, "all", asset.id)
               if (end is None or a.opened_at < end) and (start is None or a.closed_at is None
                                                          or a.closed_at >= start)]
    return Trend(asset=AssetRef(id=asset.id, name=asset.name),
                 limits=None if limits is None else limits.as_dict(), count=count,
                 series=series, daily=daily(s, where, types), alarms=in_view)


def daily(s: Session, where: list[ColumnElement[bool]], types: Sequence[str]) -> list[DailyAggregate]:
    """Per UTC day: count, mean and max velocity RMS, mean kurtosis, worst zone (zones sort A < D), mean type
    probabilities and verdict counts — aggregated by the database, two grouped queries."""
    day = _day(s)
    probs = [func.avg(cast(DiagnosisRow.type_probabilities[t].as_float(), Float)) for t in types]
    rows = s.execute(select(day, func.count(), func.avg(DiagnosisRow.velocity_rms),
                            func.max(DiagnosisRow.velocity_rms), func.avg(DiagnosisRow.kurtosis),
                            func.max(DiagnosisRow.zone), *probs)
                     .where(*where).group_by(day).order_by(day)).all()
    verdicts: dict[str, dict[str, int]] = {}
    for d, fault_type, n in s.execute(select(day, DiagnosisRow.fault_type, func.count()).where(*where)
                                      .group_by(day, DiagnosisRow.fault_type)
                                      .order_by(day, DiagnosisRow.fault_type)):
        verdicts.setdefault(d, {})[fault_type] = n
    return [DailyAggregate(day=r[0], count=r[1], velocity_rms_mean=r[2], velocity_rms_max=r[3],
                           kurtosis_mean=r[4], zone_worst=r[5],
                           probabilities_mean={t: p for t, p in zip(types, r[6:], strict=True)
                                               if p is not None},
                           fault_types=verdicts.get(r[0], {}))
            for r in rows]


def _day(s: Session) -> Any:
    if s.get_bind().dialect.name == "postgresql":
        return func.to_char(func.timezone("UTC", DiagnosisRow.measured_at), "YYYY-MM-DD")
    return func.strftime("%Y-%m-%d", DiagnosisRow.measured_at)  # SQLite keeps naive UTC


# ------------------------------------------------------------------------------------------------ alarms
def alarms(s: Session, state: str, asset_id: int | None) -> list[AlarmOut]:
    """Every alarm (``open``, ``closed`` or ``all``), newest first, of one asset or all."""
    return [alarm_out(a, name) for a, name in s.execute(_alarm_query(state, asset_id))]


def alarm_page(s: Session, state: str, asset_id: int | None, *, limit: int = 100,
               cursor: str | None = None) -> AlarmPage:
    """A page of alarms, newest first (keyset: opened before the ``cursor`` alarm, or at the same time with a
    smaller id), so that a plant with years of closed alarms is not answered in one response."""
    if not 1 <= limit <= MAX_PAGE:
        raise InputError(f"limit: from 1 to {MAX_PAGE}", "limit")
    query = _alarm_query(state, asset_id)
    if cursor is not None:
        # ASCII digits within the id column's 32-bit range: int('²') raises, and PostgreSQL refuses larger ids
        valid = cursor.isascii() and cursor.isdigit() and int(cursor) < 2**31
        last = s.get(AlarmRow, int(cursor)) if valid else None
        if last is None:
            raise InputError(f"cursor: no alarm with id {cursor!r}; pass a page's next_cursor", "cursor")
        query = query.where(or_(AlarmRow.opened_at < last.opened_at,
                                and_(AlarmRow.opened_at == last.opened_at, AlarmRow.id < last.id)))
    rows = s.execute(query.limit(limit + 1)).all()
    page = [alarm_out(a, name) for a, name in rows[:limit]]
    return AlarmPage(alarms=page, limit=limit, next_cursor=str(page[-1].id) if len(rows) > limit else None)


def _alarm_query(state: str, asset_id: int | None) -> Any:
    """Alarms with their asset's name in state ``state`` (of ``asset_id`` or every asset), newest first."""
    if state not in ("open", "closed", "all"):
        raise InputError(f"state: one of open, closed, all; got {state!r}", "state")
    query = select(AlarmRow, Asset.name).join(Asset, Asset.id == AlarmRow.asset_id)
    if asset_id is not None:
        query = query.where(AlarmRow.asset_id == asset_id)
    if state != "all":
        closed = AlarmRow.closed_at
        query = query.where(closed.is_(None) if state == "open" else closed.is_not(None))
    return query.order_by(AlarmRow.opened_at.desc(), AlarmRow.id.desc())


def acknowledge(s: Session, alarm_id: int, note: str | None) -> AlarmOut:
    """Mark an alarm seen, with a note (acknowledging again replaces the note)."""
    row = s.scalar(select(AlarmRow).where(AlarmRow.id == alarm_id).with_for_update())
    if row is None:
        raise NotFound(f"alarm: no alarm with id {alarm_id}", "alarm")
    row.acknowledged_at, row.note = now(), note
    s.flush()
    return alarm_out(row, s.scalar(select(Asset.name).where(Asset.id == row.asset_id)))


# ---------------------------------------------------------------------------------------- rows → schemas
def asset_out(a: Asset, status_: AssetStatus | None = None) -> AssetOut:
    """An asset row as returned. Built without re-validating what was validated when it was stored: a row
    stored under older rules (e.g. a name with '/') still reads, and a page of assets reads fast."""
    limits = limits_of({k: getattr(a, k) for k in ("zone_limits", "iso_group", "support")})
    values = {k: getattr(a, k) for k in ASSET_FIELDS}
    if values["zone_limits"] is not None:
        values["zone_limits"] = Limits.model_construct(**values["zone_limits"])
    return AssetOut.model_construct(
        **values, id=a.id, limits=None if limits is None else LimitsOut.model_construct(**limits.as_dict()),
        created_at=a.created_at, updated_at=a.updated_at, status=status_, baseline=None,
    )


def diagnosis_out(r: DiagnosisRow) -> DiagnosisOut:
    return DiagnosisOut(
        id=r.id, asset_id=r.asset_id, measured_at=r.measured_at, received_at=r.received_at,
        signal_index=r.signal_index, model={"name": r.model_name, "version": r.model_version},
        fault_type=r.fault_type, label=r.label, severity=r.severity, confidence=r.confidence,
        unknown_score=r.unknown_score, type_probabilities=r.type_probabilities,
        indicators={k: getattr(r, k) for k in INDICATORS}, zone=r.zone, rpm=r.rpm, rpm_source=r.rpm_source,
        sampling_rate=r.sampling_rate, defect_frequencies_hz=r.defect_frequencies,
    )


def alarm_out(a: AlarmRow, asset_name: str | None) -> AlarmOut:
    return AlarmOut(
        id=a.id, asset_id=a.asset_id, asset=asset_name, kind=a.kind, key=a.key, level=a.level,
        message=a.message, state="open" if a.closed_at is None else "closed", opened_at=a.opened_at,
        opened_by=a.opened_by, closed_at=a.closed_at, closed_by=a.closed_by,
        acknowledged_at=a.acknowledged_at, note=a.note,
    )


# ----------------------------------------------------------------------------------------------- baseline
@dataclass(frozen=True)
class NewBaselineRecording:
    """A healthy reference recording to store: its context and what :mod:`faultdx.diagnose.baseline` keeps of
    it (``features``: plain JSON)."""

    sampling_rate: float
    windows: int
    model_name: str
    model_version: str
    features: dict[str, Any]
    rpm: float | None = None


def add_baseline(s: Session, asset: Asset, items: Sequence[NewBaselineRecording]) -> BaselineOut:
    """Add healthy recordings to an asset's baseline; what it holds now."""
    stamp = now()
    s.add_all([BaselineRow(asset_id=asset.id, added_at=stamp, rpm=item.rpm, sampling_rate=item.sampling_rate,
                           windows=item.windows, model_name=item.model_name, model_version=item.model_version,
                           features=item.features) for item in items])
    s.flush()
    return baseline_out(s, asset)


def baseline_rows(s: Session, asset_id: int) -> Sequence[BaselineRow]:
    query = select(BaselineRow).where(BaselineRow.asset_id == asset_id).order_by(BaselineRow.id)
    return s.scalars(query).all()


def baseline_out(s: Session, asset: Asset) -> BaselineOut:
    """An asset's baseline: its recordings (without their features) and a summary."""
    items = s.execute(select(BaselineRow.id, BaselineRow.added_at, BaselineRow.rpm, BaselineRow.sampling_rate,
                             BaselineRow.windows, BaselineRow.model_name, BaselineRow.model_version)
                      .where(BaselineRow.asset_id == asset.id).order_by(BaselineRow.id)).all()
    recordings = [BaselineRecording(id=i, added_at=t, rpm=rpm, sampling_rate=rate, windows=n,
                                    model=ModelRef(name=m, version=v))
                  for i, t, rpm, rate, n, m, v in items]
    speeds = sorted({r.rpm for r in recordings if r.rpm is not None})
    summary = BaselineSummary(recordings=len(recordings), windows=sum(r.windows for r in recordings),
                              speeds_rpm=speeds + ([None] if any(r.rpm is None for r in recordings) else []),
                              model=recordings[-1].model if recordings else None,
                              added_at=[r.added_at for r in recordings])
    return BaselineOut(asset=AssetRef(id=asset.id, name=asset.name), summary=summary, items=recordings)


def clear_baseline(s: Session, asset: Asset) -> int:
    """Delete an asset's baseline recordings; how many there were."""
    return s.execute(delete(BaselineRow).where(BaselineRow.asset_id == asset.id)).rowcount
