"""Where faultdx keeps datasets, caches and shipped models (one setting each, from the environment)."""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_MODEL = "hybrid-aprelu"  # the shipped model every interface serves when none is named


def data_dir() -> Path:
    """Root of the datasets: ``$FAULTDX_DATA``, else the project's ``data/`` folder."""
    return Path(os.environ.get("FAULTDX_DATA", PROJECT_ROOT / "data")).expanduser()


def cache_dir() -> Path:
    """Decoded-array cache (never in git): ``$FAULTDX_CACHE``, else ``~/.cache/faultdx``."""
    default = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "faultdx"
    return Path(os.environ.get("FAULTDX_CACHE", default)).expanduser()


def models_dir() -> Path:
    """Where named models live: ``$FAULTDX_MODELS``, else the project's ``models/`` folder."""
    return Path(os.environ.get("FAULTDX_MODELS", PROJECT_ROOT / "models")).expanduser()
