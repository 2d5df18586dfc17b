"""``GET /v1/bearings``: the shipped bearing catalogue, the names ``bearing`` may take in any request."""

from __future__ import annotations

from fastapi import APIRouter
from faultdx_service.schemas import BearingList, BearingOut

from faultdx.data.bearing import catalogue

router = APIRouter(prefix="/v1", tags=["bearings"])


@router.get("/bearings")
async def list_bearings() -> BearingList:
    """Every catalogue bearing (geometry in mm and degrees) with the source its geometry is published in."""
    return BearingList(bearings=[BearingOut(**b.as_request()) for b in catalogue().values()])
