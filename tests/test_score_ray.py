"""`faultdx score --engine ray` on a real local Ray cluster (2 CPUs, loopback) writes the same table as the
local process pool, on one archive of simulated files in every format, real CWRU and MFPT recordings (with
their machine context from the sidecar) and damaged files."""

from __future__ import annotations

import math
import os
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from tests.ray_support import require_ray

require_ray()  # without the `scale` extra: a skip saying so (a failure in CI), not a collection error

from faultdx.cli import app  # noqa: E402
from faultdx.data.archive import write_archive  # noqa: E402
from faultdx.score import score_archive  # noqa: E402
from faultdx.score.engines import start_local_ray  # noqa: E402
from tests.data_helpers import HAS_CWRU, HAS_MFPT, REAL_ROOT, needs_cwru, needs_mfpt  # noqa: E402

# real recordings: (path under FAULTDX_DATA, rpm, bearing, fault type the shipped model must find)
REAL = [
    ("cwru/12k_drive_end/105.mat", 1797, "SKF 6205", "inner_race"),
    ("cwru/12k_drive_end/130.mat", 1797, "SKF 6205", "outer_race"),
    ("cwru/12k_drive_end/222.mat", 1797, "SKF 6205", "ball"),
    ("cwru/normal_baseline/97.mat", 1797, "SKF 6205", "normal"),  # 48 kHz: resampled to the model's 12 kHz
    ("mfpt/InnerRaceFault_vload_1.mat", 1500, "MFPT NICE", "inner_race"),
    ("mfpt/OuterRaceFault_vload_1.mat", 1500, "MFPT NICE", "outer_race"),
]
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")  # Ray Data's own, about its settings
BAD = {"bad/broken.mat": "not a readable MATLAB file", "bad/empty.wav": "empty (0 bytes)",
       "bad/short.csv": "too short"}


@pytest.fixture(scope="module")
def ray_cluster():
    import ray

    start_local_ray(2)  # as the engine starts it: loopback only (tests/test_reliability.py, case 9)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def archive(tmp_path_factory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("archive")
    _, sidecar = write_archive(folder, 8, seconds=0.5)
    rows = pd.read_csv(sidecar)
    real = [r for r in REAL if (HAS_CWRU if r[0].startswith("cwru") else HAS_MFPT)]
    for name, rpm, bearing, _ in real:  # linked, never copied: the table names the link
        link = folder / "real" / name
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(os.path.abspath(REAL_ROOT / name))  # FAULTDX_DATA may be relative (../shared/data)
        rows.loc[len(rows)] = {"file": f"real/{name}", "asset": "rig", "rpm": rpm, "bearing": bearing}
    rows.to_csv(sidecar, index=False)
    (folder / "bad").mkdir()
    (folder / "bad/broken.mat").write_bytes(b"MATLAB 5.0 MAT-file" + bytes(range(256)) * 8)
    (folder / "bad/empty.wav").write_bytes(b"")
    (folder / "bad/short.csv").write_text("time,DE\n0,0.1\n0.0001,0.2\n0.0002,0.1\n")
    return folder, sidecar


@pytest.fixture(scope="module")
def tables(ray_cluster, archive, tmp_path_factory) -> dict[str, pd.DataFrame]:
    folder, sidecar = archive
    out = tmp_path_factory.mktemp("out")
    score_archive([folder], out / "local.parquet", sidecar=sidecar, workers=2)
    result = CliRunner().invoke(app, ["score", str(folder), "--out", str(out / "ray.parquet"), "--engine",
                                      "ray", "--workers", "2", "--sidecar", str(sidecar), "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "(ray, 2 worker(s), hybrid-aprelu)" in result.output
    return {name: pd.read_parquet(out / f"{name}.parquet").sort_values("file").reset_index(drop=True)
            for name in ("local", "ray")}


def test_both_engines_write_the_same_table(tables, archive):
    local, on_ray = tables["local"], tables["ray"]
    pd.testing.assert_frame_equal(local, on_ray, check_exact=True)
    folder, _ = archive
    expected = {str(p) for p in folder.rglob("*") if p.is_file() and p.name != "sidecar.csv"}
    assert set(local["file"]) == expected and local["file"].is_unique


def test_a_bad_file_is_a_row_with_its_error_and_the_others_are_diagnosed(tables, archive):
    folder, _ = archive
    table = tables["ray"].set_index("file")
    for name, needle in BAD.items():
        row = table.loc[str(folder / name)]
        assert needle in row["error"] and pd.isna(row["verdict"]), (name, row["error"])
    good = table.drop(index=[str(folder / name) for name in BAD])
    assert good["error"].isna().all() and good["verdict"].isin(["healthy", "fault", "unknown"]).all()
    simulated = good[good.index.str.contains("/rec-")]
    assert len(simulated) == 8
    assert all(ft in Path(f).name for f, ft in simulated["closest_fault_type"].items())


@needs_cwru
@needs_mfpt
def test_real_recordings_with_their_context(tables, archive):
    folder, _ = archive
    table = tables["local"].set_index("file")
    for name, rpm, bearing, fault_type in REAL:
        row = table.loc[str(folder / "real" / name)]
        assert (row["fault_type"], row["rpm"], row["rpm_source"], row["bearing"]) == (
            fault_type, rpm, "given", bearing), name
        assert row["windows"] > 30 and row["asset"] == "rig" and pd.isna(row["error"])
        # the unknown score is reported beside the answer (its value on these files is the shipped weights'
        # business, not this test's): finite, and the flag says exactly whether it is past 1
        assert math.isfinite(row["unknown_score"]) and row["unknown_flag"] == (row["unknown_score"] > 1)
