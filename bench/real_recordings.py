"""Every real recording under FAULTDX_DATA, one way, for the benches that measure on all of them.

Yields :class:`RealRecording` (dataset, name, 1-D signal, sampling rate, known rpm, bearing name, label) for
CWRU 12 kHz drive end (DE channel), CWRU's 48 kHz normal baseline 97.mat, the same CWRU files' fan-end
sensor (FE channel, beside the SKF 6203 fan-end bearing; the faults are in the drive-end bearing), MFPT,
and the two HIT-SM rigs (``hit/manifest.csv``: ``rpm_measured`` is the known speed).
Files that are absent are skipped; the caller reports the counts it got.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from faultdx.data.catalogue import cwru_files, mfpt_files
from faultdx.data.cwru import read_cwru_file
from faultdx.data.mfpt import read_mfpt_file
from faultdx.data.readers import read_mat
from faultdx.paths import data_dir

DATASETS = ("cwru_12k_de", "cwru_48k_de", "cwru_12k_fe", "cwru_48k_fe", "mfpt", "hit_mfs", "hit_self_built")
SENSORS = (("de", "DE", "SKF 6205"), ("fe", "FE", "SKF 6203"))  # dataset suffix, channel, nearest bearing


@dataclass(frozen=True)
class RealRecording:
    """One channel of one published recording and what is known about it."""

    dataset: str
    name: str
    signal: np.ndarray
    sampling_rate: float
    rpm: float
    bearing: str
    label: str
    nominal_rpm: float  # what a plant would state: the rig's nominal speed (CWRU per load, HIT 600/900/1200)


def _cwru() -> Iterator[RealRecording]:
    root = data_dir()
    for entry in cwru_files():
        path = root / entry.relpath
        if entry.set not in ("12k_drive_end", "normal_baseline") or not path.is_file():
            continue
        rate = "12k" if entry.set == "12k_drive_end" else "48k"
        for suffix, channel, bearing in SENSORS:
            signal = np.asarray(read_cwru_file(path, entry, (channel,))[0], dtype=np.float64)
            yield RealRecording(f"cwru_{rate}_{suffix}", entry.filename, signal, float(entry.sampling_rate),
                                float(entry.rpm), bearing, entry.fault_type, float(entry.nominal_rpm))


def _mfpt() -> Iterator[RealRecording]:
    root = data_dir()
    for entry in mfpt_files():
        path = root / entry.relpath
        if path.is_file():
            signal, rate, shaft_hz, _ = read_mfpt_file(path)
            yield RealRecording("mfpt", entry.file, np.asarray(signal[0], dtype=np.float64), rate,
                                60.0 * shaft_hz, "MFPT NICE", entry.fault_type, 60.0 * shaft_hz)


def _hit() -> Iterator[RealRecording]:
    root = data_dir() / "hit"
    manifest = root / "manifest.csv"
    if not manifest.is_file():
        return
    with manifest.open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            path = root / row["file"]
            if not path.is_file():
                continue
            signal = read_mat(path, [row["variable"]])[row["variable"]]
            yield RealRecording(f"hit_{row['rig']}", row["file"], np.asarray(signal, np.float64).reshape(-1),
                                float(row["sampling_rate_hz"]), float(row["rpm_measured"]), "SKF 6205",
                                row["label"], float(row["rpm_nominal"]))


def real_recordings(datasets: tuple[str, ...] = DATASETS) -> Iterator[RealRecording]:
    """Every recording present of ``datasets``, in a fixed order."""
    for source in (_cwru, _mfpt, _hit):
        for recording in source():
            if recording.dataset in datasets:
                yield recording


def excerpts(signal: np.ndarray, sampling_rate: float, seconds: float | None, count: int) -> list[np.ndarray]:
    """The whole signal (``seconds`` None) or ``count`` evenly spaced excerpts of ``seconds``."""
    if seconds is None:
        return [signal]
    n = int(round(seconds * sampling_rate))
    if n > signal.size:
        return [signal]
    return [signal[s:s + n] for s in np.linspace(0, signal.size - n, count).astype(int)]
