"""``/v1/alarms``: alarms of the monitored assets, and acknowledging one with a note.

An alarm opens when an asset's velocity zone reaches C or D, or when the same fault type is diagnosed in N of
its last M measurements (per asset); it closes by itself when the condition clears (see
:mod:`faultdx.monitor.alarms`). Acknowledging records that someone has seen it; it does not close it.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from faultdx_service.monitoring import StoreDep, call
from faultdx_service.routes.assets import MAX_PAGE, RESPONSES
from pydantic import BaseModel, ConfigDict, Field

router = APIRouter(prefix="/v1/alarms", tags=["alarms"])


class Acknowledge(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: str | None = Field(default=None, max_length=2000, description="what was seen or done")


@router.get("", responses=RESPONSES)
async def list_alarms(
    store: StoreDep,
    state: Literal["open", "closed", "all"] = "open",
    asset: Annotated[str | None, Query(max_length=200, description="only this asset (id or name)")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
    cursor: Annotated[str | None, Query(max_length=20, description="previous page's next_cursor")] = None,
) -> Any:
    """Alarms, newest first: kind (zone | fault), level, message, when opened / closed / acknowledged; at
    most ``limit`` per page, ``next_cursor`` asks for the next page (null on the last)."""
    return await call(store, lambda s: s.alarm_page(state, asset, limit=limit, cursor=cursor))


@router.post("/{alarm_id}/acknowledge", responses=RESPONSES)
async def acknowledge(
    alarm_id: Annotated[int, Path(ge=1, le=2**62)], body: Acknowledge, store: StoreDep
) -> Any:
    """Acknowledge an alarm with a note (it stays open until its condition clears)."""
    return await call(store, lambda s: s.acknowledge(alarm_id, body.note))
