"""Shared fixtures and file makers for the data-layer tests (imported by tests/test_data_*.py)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from faultdx.paths import data_dir

REAL_ROOT = Path(os.environ.get("FAULTDX_DATA", data_dir()))
HAS_CWRU = (REAL_ROOT / "cwru/12k_drive_end/105.mat").is_file()
HAS_MFPT = (REAL_ROOT / "mfpt/InnerRaceFault_vload_1.mat").is_file()
needs_cwru = pytest.mark.skipif(
    not HAS_CWRU, reason=f"CWRU files not under FAULTDX_DATA={REAL_ROOT} (CI has them)"
)
needs_mfpt = pytest.mark.skipif(
    not HAS_MFPT, reason=f"MFPT files not under FAULTDX_DATA={REAL_ROOT} (CI has them)"
)


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path_factory, monkeypatch) -> Path:
    """Point the decoded-array cache at a session-wide temp folder (never the user's cache, never shared/)."""
    path = tmp_path_factory.getbasetemp() / "faultdx-cache"
    monkeypatch.setenv("FAULTDX_CACHE", str(path))
    return path


def write_cwru_mat(
    path: Path,
    number: int,
    length: int,
    *,
    channels=("DE", "FE", "BA"),
    foreign: int | None = None,
    seed: int = 0,
) -> dict[str, np.ndarray]:
    """A small .mat in the publisher's layout: ``Xnnn_<ch>_time`` + ``XnnnRPM`` (+ a foreign record)."""
    from scipy.io import savemat

    rng = np.random.default_rng(seed)
    variables = {f"X{number:03d}_{ch}_time": rng.standard_normal((length, 1)) for ch in channels}
    variables[f"X{number:03d}RPM"] = np.array([[1797.0]])
    if foreign is not None:
        variables[f"X{foreign:03d}_DE_time"] = rng.standard_normal((length // 2, 1)) + 100.0
    path.parent.mkdir(parents=True, exist_ok=True)
    savemat(path, variables, format="5")
    return variables


def write_mfpt_mat(
    path: Path, length: int, *, load: str = "50", rate: int = 48828, seed: int = 0
) -> np.ndarray:
    """A small .mat in MFPT's layout: struct ``bearing`` (gs, sr, rate, load as a string) + scalars."""
    from scipy.io import savemat

    gs = np.random.default_rng(seed).standard_normal((length, 1))
    bearing = {
        "gs": gs,
        "sr": np.array([[rate]], dtype=np.uint16),
        "rate": np.array([[25]], dtype=np.uint8),
        "load": np.array([load]),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    savemat(
        path, {"bearing": bearing, "BPFO": 81.125, "BPFI": 118.875, "BSF": 63.91, "FTF": 14.8375}, format="5"
    )
    return gs
