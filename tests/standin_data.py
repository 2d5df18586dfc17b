"""A simulated stand-in for ``../shared/data`` in the publishers' own layouts, for machines without the real
recordings: the 36 CWRU 12 kHz drive-end files and normal baseline 97 (``Xnnn_DE_time``, ``Xnnn_FE_time``,
``XnnnRPM``, with the catalogue's variable numbers) and the 14 MFPT files (struct ``bearing``). Each holds the
embedded simulator's signal of its class at the catalogue's rpm and rate, so tests of layouts, splits,
training and spectra run on it; tests of the real files' contents (checksums, measured accuracy) do not.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy.io import savemat

from faultdx.data.bearing import MFPT_NICE, SKF_6205
from faultdx.data.catalogue import cwru_files, mfpt_files
from faultdx.data.synthetic import simulate

CWRU_SETS = ("12k_drive_end",)
CWRU_NORMAL = (97,)
SECONDS = 10.0  # the publisher's recordings are about 10 s (CWRU) and 3-6 s (MFPT)


def build(root: Path) -> Path:
    """Write the stand-in tree under ``root`` (once; a complete tree is reused) and return ``root``."""
    done = root / ".complete"
    if done.is_file():
        return root
    for entry in cwru_files():
        if entry.set in CWRU_SETS or entry.number in CWRU_NORMAL:
            _write_cwru(root / entry.relpath, entry)
    for entry in mfpt_files():
        _write_mfpt(root / entry.relpath, entry)
    done.write_text("simulated stand-in for ../shared/data\n")
    return root


def _write_cwru(path: Path, entry) -> None:
    n = entry.samples or int(SECONDS * entry.sampling_rate)
    seconds = n / entry.sampling_rate
    de = simulate(entry.class_name, duration_s=seconds, sampling_rate=entry.sampling_rate, rpm=entry.rpm,
                  seed=entry.number, geometry=SKF_6205)[:n]
    rng = np.random.default_rng(entry.number)
    variables = {entry.variable("DE"): de[:, None].astype(np.float64),
                 entry.variable("FE"): 0.3 * rng.standard_normal((n, 1)),
                 entry.variable("DE").removesuffix("_DE_time") + "RPM": np.array([[entry.rpm]])}
    if entry.fault_type != "normal":  # like the publisher's: base-plate channel on the fault files only
        variables[entry.variable("BA")] = 0.1 * rng.standard_normal((n, 1))
    path.parent.mkdir(parents=True, exist_ok=True)
    savemat(path, variables, format="5")


def _write_mfpt(path: Path, entry) -> None:
    n = entry.samples or int(3 * entry.sampling_rate)
    gs = simulate(entry.fault_type, duration_s=n / entry.sampling_rate, sampling_rate=entry.sampling_rate,
                  rpm=entry.shaft_hz * 60, seed=int(entry.load_lbs), geometry=MFPT_NICE)[:n]
    bearing = {"gs": gs[:, None].astype(np.float64), "sr": np.array([[int(entry.sampling_rate)]]),
               "rate": np.array([[entry.shaft_hz]]), "load": np.array([f"{entry.load_lbs:g}"])}
    path.parent.mkdir(parents=True, exist_ok=True)
    savemat(path, {"bearing": bearing, "BPFO": 81.125, "BPFI": 118.875, "BSF": 63.91, "FTF": 14.8375},
            format="5")
