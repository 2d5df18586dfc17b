"""`faultdx demo`: the main job of README command 1, on the embedded simulator (no download)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add this module's commands to the main app."""
