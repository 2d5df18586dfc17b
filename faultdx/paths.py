"""Where faultdx keeps datasets, caches, models and results.

The lowest layer (it imports nothing of faultdx): each folder is read from its ``FAULTDX_*`` variable when
asked, so a change made while running is followed. :class:`faultdx.settings.Settings` declares the same
variables with these defaults (a test checks they agree), for the CLI and the service.
"""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent  # the checkout (docs and README live here)
DEFAULT_MODEL = "hybrid-aprelu"  # the shipped model every interface serves when none is named
DEFAULT_DATA = Path("data")
DEFAULT_MODELS = Path("models")
DEFAULT_RESULTS = Path("results")
DEFAULT_RUNS = Path("runs")
__all__ = ["DEFAULT_MODEL", "PROJECT_ROOT", "cache_dir", "data_dir", "default_cache", "models_dir",
           "results_dir", "runs_dir"]


def default_cache() -> Path:
    """``$XDG_CACHE_HOME/faultdx``, else ``~/.cache/faultdx``."""
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "faultdx"


def _folder(variable: str, default: Path) -> Path:
    """``$variable`` (``~`` expanded), else ``default``: as pydantic-settings reads it into Settings."""
    value = os.environ.get(variable)
    return default if value is None else Path(value).expanduser()


def data_dir() -> Path:
    """Root of the datasets: ``$FAULTDX_DATA``, else ``./data``."""
    return _folder("FAULTDX_DATA", DEFAULT_DATA)


def cache_dir() -> Path:
    """Decoded-array cache (never in git): ``$FAULTDX_CACHE``, else ``~/.cache/faultdx``."""
    return _folder("FAULTDX_CACHE", default_cache())


def models_dir() -> Path:
    """Where named models live: ``$FAULTDX_MODELS``, else ``./models``."""
    return _folder("FAULTDX_MODELS", DEFAULT_MODELS)


def results_dir() -> Path:
    """Where results JSON goes: ``$FAULTDX_RESULTS``, else ``./results``."""
    return _folder("FAULTDX_RESULTS", DEFAULT_RESULTS)


def runs_dir() -> Path:
    """Where training and evaluation runs go: ``$FAULTDX_RUNS``, else ``./runs``."""
    return _folder("FAULTDX_RUNS", DEFAULT_RUNS)
