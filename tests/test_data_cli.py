"""`faultdx data list | info | fetch | verify`."""

from __future__ import annotations

import re
import shutil

from typer.testing import CliRunner

from faultdx.cli import app
from tests.data_helpers import (  # noqa: F401
    REAL_ROOT,
    PublisherServer,
    isolated_cache,
    needs_cwru,
    needs_mfpt,
    needs_real_data,
)

runner = CliRunner()


def _rows(output: str) -> dict[str, list[str]]:
    """Table rows keyed by their first cell."""
    rows = {}
    for line in output.splitlines():
        cells = [c.strip() for c in re.split("[│┃]", line)[1:-1]]
        if cells:
            rows[cells[0]] = cells
    return rows


@needs_cwru
@needs_real_data  # the publisher's checksums
def test_info_cwru_lists_the_10_class_set(monkeypatch):
    monkeypatch.setenv("FAULTDX_DATA", str(REAL_ROOT))
    result = runner.invoke(app, ["data", "info", "cwru"])
    assert result.exit_code == 0, result.output
    assert "37 of 40 files present" in result.output
    rows = _rows(result.output)
    files = [k for k in rows if k.startswith("cwru/")]
    assert len(files) == 40
    header = [
        "file",
        "class",
        "fault",
        "dia. (in)",
        "OR",
        "load (HP)",
        "rpm",
        "rate (Hz)",
        "present",
        "checksum",
    ]
    assert rows["file"] == header
    assert rows["cwru/12k_drive_end/105.mat"] == [
        "cwru/12k_drive_end/105.mat",
        "inner_race_007",
        "inner_race",
        "0.007",
        "-",
        "0",
        "1797",
        "12000",
        "yes",
        "ok (sha256)",
    ]
    assert rows["cwru/12k_drive_end/237.mat"][1:8] == [
        "outer_race_021",
        "outer_race",
        "0.021",
        "@6",
        "3",
        "1721",
        "12000",
    ]
    assert rows["cwru/normal_baseline/97.mat"][1:] == [
        "normal",
        "normal",
        "-",
        "-",
        "0",
        "1796",
        "48000",
        "yes",
        "ok (sha256)",
    ]
    for n, load in ((98, "1"), (99, "2"), (100, "3")):
        assert rows[f"cwru/normal_baseline/{n}.mat"][5:] == [
            load,
            rows[f"cwru/normal_baseline/{n}.mat"][6],
            "48000",
            "no",
            "absent",
        ]
    assert sum(r[8] == "yes" for k, r in rows.items() if k.startswith("cwru/")) == 37


@needs_mfpt
def test_info_mfpt_lists_14_files(monkeypatch):
    monkeypatch.setenv("FAULTDX_DATA", str(REAL_ROOT))
    result = runner.invoke(app, ["data", "info", "mfpt", "--no-verify"])
    assert result.exit_code == 0, result.output
    rows = _rows(result.output)
    assert len([k for k in rows if k.startswith("mfpt/")]) == 14 and "14 of 14 files present" in result.output
    assert rows["mfpt/OuterRaceFault_vload_1.mat"][1:5] == ["outer_race", "25", "25", "48828"]


def test_list_and_unknown_names(monkeypatch, tmp_path):
    monkeypatch.setenv("FAULTDX_DATA", str(tmp_path))
    result = runner.invoke(app, ["data", "list"])
    assert result.exit_code == 0, result.output
    rows = _rows(result.output)
    assert rows["cwru"][3] == "0 / 40" and rows["mfpt"][3] == "0 / 14" and rows["synthetic"][3] == "embedded"
    result = runner.invoke(app, ["data", "info", "nope"])
    assert (
        result.exit_code == 1
        and "unknown dataset 'nope'; valid datasets: synthetic, cwru, mfpt" in result.output
    )
    result = runner.invoke(app, ["data", "info", "synthetic"])
    assert result.exit_code == 0 and "107.36" in result.output  # BPFO at 1797 rpm
    result = runner.invoke(app, ["data", "fetch", "mfpt"])
    assert result.exit_code == 1 and "only 'cwru' can be fetched" in result.output
    result = runner.invoke(app, ["data", "fetch", "cwru", "--files", "1"])
    assert result.exit_code == 1 and "CWRU file 1.mat is not in the catalogue" in result.output


@needs_cwru
@needs_real_data  # the publisher's checksums
def test_verify_flags_a_corrupted_copy(tmp_path):
    shutil.copy(REAL_ROOT / "cwru/12k_drive_end/105.mat", tmp_path / "105.mat")
    data = bytearray((REAL_ROOT / "cwru/12k_drive_end/106.mat").read_bytes())
    data[500] ^= 0xFF
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub/106.mat").write_bytes(bytes(data))
    (tmp_path / "mine.mat").write_bytes(b"x")
    result = runner.invoke(app, ["data", "verify", str(tmp_path)])
    assert result.exit_code == 1, result.output
    rows = _rows(result.output)
    assert rows["105.mat"][2] == "ok (sha256)" and rows["sub/106.mat"][2] == "mismatch (sha256)"
    assert rows["mine.mat"][2] == "not catalogued"
    assert re.search(r"1 mismatch, 1 not catalogued, 1 ok", result.output)
    (tmp_path / "sub/106.mat").unlink()
    assert runner.invoke(app, ["data", "verify", str(tmp_path)]).exit_code == 0


@needs_cwru
@needs_real_data  # the publisher's checksums
def test_fetch_cli_against_local_publisher(tmp_path):
    files = {"105.mat": (REAL_ROOT / "cwru/12k_drive_end/105.mat").read_bytes(), "106.mat": b"not the file"}
    with PublisherServer(files) as server:
        args = ["data", "fetch", "cwru", "--dest", str(tmp_path), "--base-url", server.base_url]
        result = runner.invoke(app, [*args, "--files", "105"])
        assert result.exit_code == 0, result.output
        assert "105.mat: downloaded, checksum ok" in result.output
        assert (tmp_path / "cwru/12k_drive_end/105.mat").read_bytes() == files["105.mat"]
        result = runner.invoke(app, [*args, "--files", "106"])
        assert result.exit_code == 1 and "sha256 mismatch" in result.output
        assert not (tmp_path / "cwru/12k_drive_end/106.mat").exists()


def test_fetch_cli_reads_the_mirror_from_the_environment(tmp_path, monkeypatch):
    """FAULTDX_CWRU_URL is read by the CLI (settings) and passed down: the data layer reads no settings."""
    with PublisherServer({"105.mat": b"not the file"}) as server:
        monkeypatch.setenv("FAULTDX_CWRU_URL", server.base_url)
        result = runner.invoke(app, ["data", "fetch", "cwru", "--dest", str(tmp_path), "--files", "105"])
    assert f"from {server.base_url}" in result.output.replace("\n", "")
    assert result.exit_code == 1 and "mismatch" in result.output  # the mirror's bytes were fetched, checked
