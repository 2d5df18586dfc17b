"""Where faultdx keeps datasets, caches, models and results: the folders named by :mod:`faultdx.settings`."""

from __future__ import annotations

from pathlib import Path

from faultdx.settings import DEFAULT_MODEL, current

PROJECT_ROOT = Path(__file__).resolve().parent.parent  # the checkout (docs and README live here)
__all__ = ["DEFAULT_MODEL", "PROJECT_ROOT", "cache_dir", "data_dir", "models_dir", "results_dir", "runs_dir"]


def data_dir() -> Path:
    """Root of the datasets: ``$FAULTDX_DATA``, else ``./data``."""
    return current().data


def cache_dir() -> Path:
    """Decoded-array cache (never in git): ``$FAULTDX_CACHE``, else ``~/.cache/faultdx``."""
    return current().cache


def models_dir() -> Path:
    """Where named models live: ``$FAULTDX_MODELS``, else ``./models``."""
    return current().models


def results_dir() -> Path:
    """Where results JSON goes: ``$FAULTDX_RESULTS``, else ``./results``."""
    return current().results


def runs_dir() -> Path:
    """Where training and evaluation runs go: ``$FAULTDX_RUNS``, else ``./runs``."""
    return current().runs
