"""A simulated plant archive: recordings in every supported file format, with their sidecar table.

A stand-in for a real archive to try ``faultdx score`` on, test it and benchmark it with no download: each
file is :func:`faultdx.data.synthetic.simulate` of one bearing condition at its own shaft speed, written as
``.npy`` (no rate in the file: the sidecar gives it), ``.wav`` (rate in the header), ``.csv`` (a ``time``
column), ``.parquet`` (rate in the schema metadata) or ``.mat`` (an ``fs`` variable), one format after the
other. The sidecar (``sidecar.csv``: file, asset, rpm, bearing, rate) names every file's machine.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from faultdx.data.synthetic import simulate

FORMATS = (".npy", ".wav", ".csv", ".parquet", ".mat")
LABELS = ("normal", "inner_race_014", "outer_race_014", "ball_014")
SIDECAR = "sidecar.csv"


@dataclass(frozen=True)
class ArchiveFile:
    """One simulated recording: where it is, what it holds, the machine it came from."""

    path: Path
    label: str
    rpm: float
    sampling_rate: float


def write_signal(path: Path, x: np.ndarray, sampling_rate: float) -> None:
    """Write a float32 ``[T]`` signal in the format of ``path``'s suffix (see the module docstring)."""
    suffix = path.suffix.lower()
    if suffix == ".npy":
        np.save(path, x)
    elif suffix == ".wav":
        from scipy.io import wavfile

        wavfile.write(path, int(sampling_rate), x)
    elif suffix == ".csv":
        import pandas as pd

        time = np.arange(x.size) / sampling_rate
        pd.DataFrame({"time": time, "DE": x}).to_csv(path, index=False, float_format="%.12g")
    elif suffix == ".parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.table({"DE": x}).replace_schema_metadata({"fs": str(sampling_rate)})
        pq.write_table(table, path)
    elif suffix == ".mat":
        from scipy.io import savemat

        savemat(path, {"DE": x[:, None].astype(np.float64), "fs": float(sampling_rate)})
    else:
        raise ValueError(f"no writer for {suffix!r}; formats: {', '.join(FORMATS)}")


def write_archive(
    folder: str | Path,
    files: int,
    *,
    seconds: float = 1.0,
    sampling_rate: float = 12_000.0,
    seed: int = 0,
    assets: int = 3,
) -> tuple[list[ArchiveFile], Path]:
    """``files`` simulated recordings of ``seconds`` each under ``folder/asset-<k>/`` and the sidecar.

    Conditions cycle through :data:`LABELS`, formats through :data:`FORMATS`; shaft speeds are drawn from
    1500-1800 rpm. Returns the files and the sidecar's path.
    """
    import pandas as pd

    folder = Path(folder)
    rng = np.random.default_rng(seed)
    written, rows = [], []
    for i in range(files):
        label, suffix = LABELS[i % len(LABELS)], FORMATS[i % len(FORMATS)]
        rpm = float(np.round(rng.uniform(1500, 1800), 1))
        asset = f"asset-{i % assets}"
        path = folder / asset / f"rec-{i:05d}-{label}{suffix}"
        path.parent.mkdir(parents=True, exist_ok=True)
        x = simulate(label, duration_s=seconds, sampling_rate=sampling_rate, rpm=rpm, seed=seed * 100_003 + i)
        write_signal(path, x, sampling_rate)
        written.append(ArchiveFile(path, label, rpm, sampling_rate))
        rows.append({"file": path.relative_to(folder).as_posix(), "asset": asset, "rpm": rpm,
                     "bearing": "SKF 6205", "rate": sampling_rate if suffix == ".npy" else None})
    sidecar = folder / SIDECAR
    pd.DataFrame(rows, columns=["file", "asset", "rpm", "bearing", "rate"]).to_csv(sidecar, index=False)
    return written, sidecar
