"""``/v1/assets``: the monitored assets (create, list, read, update, delete), each asset's stored diagnoses
(time range, pagination), its trend (indicator and fault-probability series, daily aggregates) and an export
as CSV or Parquet; ``GET /assets`` is the asset page.

An asset is addressed by id or by name. A diagnosis is stored for an asset by ``POST /v1/diagnose`` with
``"asset": "<id or name>"``, and judged against the asset's healthy baseline (``/v1/assets/{id}/baseline``)
when it has one.
"""

from __future__ import annotations

import io
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response
from fastapi.responses import FileResponse
from faultdx_service.deps import ModelsDep, SettingsDep
from faultdx_service.errors import ApiError
from faultdx_service.fastjson import FastJSONRoute
from faultdx_service.machine import parse_bearing
from faultdx_service.monitoring import StoreDep, call
from faultdx_service.routes.page import STATIC_DIR
from faultdx_service.schemas import ERROR_RESPONSES, DiagnoseRequest
from pydantic import Field
from starlette.concurrency import run_in_threadpool

from faultdx.diagnose import RequestBudget
from faultdx.monitor.assets import AssetFields, AssetSpec
from faultdx.monitor.export import to_csv
from faultdx.monitor.recording import baseline_recordings
from faultdx.monitor.schemas import AssetOut, AssetPage, BaselineOut, DiagnosisPage, Trend
from faultdx.monitor.store import MAX_PAGE, MAX_TREND_POINTS

# FastJSONRoute: JSON nested too deep is a 422 naming the body, not a bare 400
router = APIRouter(prefix="/v1/assets", tags=["assets"], route_class=FastJSONRoute)
page_router = APIRouter()
RESPONSES: dict[int | str, dict[str, Any]] = {**ERROR_RESPONSES, 409: ERROR_RESPONSES[422],
                                             503: ERROR_RESPONSES[422]}
Ref = Annotated[str, Field(max_length=200, description="asset id or name")]
Start = Annotated[datetime | None, Query(description="first measurement time (inclusive; UTC if no zone)")]
End = Annotated[datetime | None, Query(description="last measurement time (exclusive)")]


@router.post("", status_code=201, response_model=AssetOut, responses=RESPONSES)
async def create_asset(spec: AssetSpec, store: StoreDep) -> Any:
    """Create an asset: name (unique), machine, location, sensor position, bearing (catalogue name or
    geometry), nominal rpm, sampling rate, ISO 20816-3 group and support or own zone limits, tags, and the
    alarm rule (the same fault type in N of the last M measurements)."""
    return await call(store, lambda s: s.create_asset(spec))


@router.get("", response_model=AssetPage, responses=RESPONSES)
async def list_assets(
    store: StoreDep,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
    cursor: Annotated[str | None, Query(max_length=200, description="previous page's next_cursor")] = None,
) -> Any:
    """A page of assets by name, each with its status (latest diagnosis, zone, open alarms), read in one
    query; ``next_cursor`` asks for the next page (null on the last)."""
    return await call(store, lambda s: s.list_assets(limit=limit, cursor=cursor))


@router.get("/{ref}", response_model=AssetOut, responses=RESPONSES)
async def read_asset(ref: Ref, store: StoreDep) -> Any:
    """One asset (by id or name) with its status."""
    return await call(store, lambda s: s.get_asset(ref))


@router.patch("/{ref}", response_model=AssetOut, responses=RESPONSES)
async def update_asset(ref: Ref, patch: AssetFields, store: StoreDep) -> Any:
    """Change the fields sent (``null`` clears one); the asset's history is kept."""
    return await call(store, lambda s: s.update_asset(ref, patch))


@router.delete("/{ref}", status_code=204, responses=RESPONSES)
async def delete_asset(ref: Ref, store: StoreDep) -> Response:
    """Delete an asset with its diagnoses and alarms."""
    await call(store, lambda s: s.delete_asset(ref))
    return Response(status_code=204)


@router.get("/{ref}/diagnoses", response_model=DiagnosisPage, responses=RESPONSES)
async def list_diagnoses(
    ref: Ref,
    store: StoreDep,
    start: Start = None,
    end: End = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
    offset: Annotated[int, Query(ge=0, le=2**31)] = 0,
) -> Any:
    """The asset's stored diagnoses measured in [start, end), newest first: ``{total, limit, offset, items}``
    (verdict, confidence, unknown-condition score, indicators, zone, defect frequencies, model)."""
    return await call(store, lambda s: s.diagnoses(ref, start=start, end=end, limit=limit, offset=offset))


@router.get("/{ref}/trend", response_model=Trend, responses=RESPONSES)
async def trend(
    ref: Ref,
    store: StoreDep,
    start: Start = None,
    end: End = None,
    max_points: Annotated[int, Query(ge=1, le=MAX_TREND_POINTS)] = MAX_TREND_POINTS,
) -> Any:
    """Series of the indicators (velocity RMS in mm/s, RMS, peak, crest factor, kurtosis), zone, verdict and
    fault-type probabilities over time; daily aggregates; the zone limits; the alarms in the range."""
    return await call(store, lambda s: s.trend(ref, start=start, end=end, max_points=max_points))


@router.post("/{ref}/baseline", status_code=201, response_model=BaselineOut, responses=RESPONSES)
async def add_baseline(
    ref: Ref, body: DiagnoseRequest, models: ModelsDep, settings: SettingsDep, store: StoreDep
) -> Any:
    """Add healthy reference recordings to the asset's baseline — the same body as ``/v1/diagnose``
    (``signals``, ``sampling_rate``, ``rpm``; the asset's rate, rpm and bearing fill in what is left out),
    one recording per signal. Later diagnoses of the asset are judged against it (``baseline`` in their
    answer). Each signal must pass the signal-quality gate; nothing is stored unless all do."""
    asset = await call(store, lambda s: s.asset(ref))
    served = models.get(body.model)
    rate = body.sampling_rate if body.sampling_rate is not None else asset.sampling_rate
    if rate is None:
        raise ApiError(422, "sampling_rate: required (the request and its asset give none)", "sampling_rate")
    rpm = body.rpm if body.rpm is not None else asset.rpm
    bearing = parse_bearing(body.bearing if body.bearing is not None else asset.bearing)
    budget = RequestBudget(settings.max_samples, settings.max_windows)
    items = await run_in_threadpool(baseline_recordings, served.diagnoser, body.signals, rate, rpm=rpm,
                                    bearing=bearing, budget=budget)
    return await call(store, lambda s: s.add_baseline(asset.id, items))


@router.get("/{ref}/baseline", response_model=BaselineOut, responses=RESPONSES)
async def read_baseline(ref: Ref, store: StoreDep) -> Any:
    """The asset's baseline: its recordings (rate, rpm, windows, model) and a summary of the speeds."""
    return await call(store, lambda s: s.baseline(ref))


@router.delete("/{ref}/baseline", status_code=204, responses=RESPONSES)
async def clear_baseline(ref: Ref, store: StoreDep) -> Response:
    """Remove the asset's baseline (its history stays)."""
    await call(store, lambda s: s.clear_baseline(ref))
    return Response(status_code=204)


EXPORT_TYPES = {"text/csv": {}, "application/vnd.apache.parquet": {}}


@router.get("/{ref}/export", responses={**RESPONSES, 200: {"content": EXPORT_TYPES}})
async def export(
    ref: Ref, store: StoreDep, format: Literal["csv", "parquet"] = "csv", start: Start = None, end: End = None
) -> Response:
    """The asset's diagnoses in [start, end) as one flat table (CSV or Parquet), oldest first; CSV text cells
    a spreadsheet would run as a formula (``=``, ``+``, ``-``, ``@``, tab, CR first) start with ``'``."""
    frame = await call(store, lambda s: s.frame(ref, start=start, end=end))
    name = "".join(c if c.isalnum() or c in "-_" else "_" for c in str(ref))[:80] or "asset"
    buf = io.BytesIO()
    if format == "parquet":
        frame.to_parquet(buf, index=False)
        media = "application/vnd.apache.parquet"
    else:
        buf.write(to_csv(frame))  # text a spreadsheet would run as a formula is escaped
        media = "text/csv"
    headers = {"Content-Disposition": f'attachment; filename="{name}-diagnoses.{format}"'}
    return Response(buf.getvalue(), media_type=media, headers=headers)


@page_router.get("/assets", include_in_schema=False)
def asset_page() -> FileResponse:
    """The asset page: assets with zone and open alarms, per asset the trend and the alarm marks."""
    return FileResponse(STATIC_DIR / "assets.html", media_type="text/html")
