"""The inspection page (static files at ``/``) and the small helper endpoints it uses."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
