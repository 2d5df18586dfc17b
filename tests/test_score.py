"""`faultdx score`: which files, their machine context, one row per file (errors included), the output table
written in parts and merged, resumed after a killed run; bad arguments exit 2 naming the option.

The engines' agreement (local pool vs Ray Data) is in tests/test_score_ray.py."""

from __future__ import annotations

import hashlib
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from faultdx.cli import app
from faultdx.data.archive import write_archive
from faultdx.monitor.indicators import indicators
from faultdx.score import (
    SCHEMA,
    Job,
    ResultSink,
    ScoreInputError,
    discover,
    done_files,
    parts_dir,
    read_sidecar,
    score_archive,
    score_file,
)

RATE = 12_000.0


@pytest.fixture(scope="module")
def archive(tmp_path_factory) -> tuple[Path, Path, list]:
    folder = tmp_path_factory.mktemp("archive")
    files, sidecar = write_archive(folder, 4, seconds=0.5)  # one of each condition
    (folder / "asset-0" / "broken.mat").write_bytes(b"MATLAB 5.0 MAT-file" + bytes(range(256)) * 4)
    (folder / "asset-1" / "empty.wav").write_bytes(b"")
    np.save(folder / "asset-2" / "gap.npy", np.r_[np.zeros(3000), np.nan, np.zeros(3000)].astype(np.float32))
    return folder, sidecar, files


@pytest.fixture(scope="module")
def diagnoser():
    from faultdx.diagnose import Diagnoser

    return Diagnoser.from_dir("hybrid-aprelu")


def test_discover_walks_folders_and_globs_once_each_and_skips_what_it_must(tmp_path):
    for name in ("a/1.npy", "a/b/2.WAV", "a/.hidden.npy", "a/notes.txt", "a/.cache/3.npy", "c/4.csv"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "a/out.parquet").write_bytes(b"x")
    found = list(discover([tmp_path / "a", str(tmp_path / "c/*.csv"), tmp_path / "a/1.npy",
                           tmp_path / "a/notes.txt"], exclude=[tmp_path / "a/out.parquet"]))
    assert [Path(f).relative_to(tmp_path).as_posix() for f in found] == [
        "a/1.npy", "a/b/2.WAV", "c/4.csv", "a/notes.txt"]  # a file named explicitly is kept whatever its type
    assert all(Path(f).is_absolute() for f in found)
    with pytest.raises(ScoreInputError, match="no such file or folder") as err:
        list(discover([tmp_path / "missing"]))
    assert err.value.field == "paths"
    with pytest.raises(ScoreInputError, match="matches no file"):
        list(discover([str(tmp_path / "*.flac")]))


def test_sidecar_maps_files_to_their_machine_and_names_a_bad_row(tmp_path):
    pd.DataFrame({"file": ["x/a.npy", str(tmp_path / "b.wav")], "asset": ["pump 1", None],
                  "rpm": [1750, None], "bearing": ["SKF 6205", '{"balls": 8, "ball_diameter_mm": 7.9, '
                                                   '"pitch_diameter_mm": 34.5}'],
                  "rate": [25600, None], "location": ["hall", "yard"],
                  "measured_at": ["2026-03-01T08:00:00", None]}).to_parquet(tmp_path / "s.parquet")
    contexts = read_sidecar(tmp_path / "s.parquet")
    assert contexts[str(tmp_path / "x/a.npy")] == {"asset": "pump 1", "rpm": 1750.0, "bearing": "SKF 6205",
                                                   "rate": 25600.0,
                                                   "measured_at": "2026-03-01T08:00:00+00:00"}
    assert contexts[str(tmp_path / "b.wav")]["rpm"] is None
    bad = tmp_path / "bad.csv"
    for rows, needle in [
        ("file,rpm\na.npy,1750\nb.npy,-3\n", "bad.csv row 3: rpm must be a shaft speed"),
        ("file,bearing\na.npy,SKF 9999\n", "bad.csv row 2: bearing: unknown bearing 'SKF 9999'"),
        ("file,rate\na.npy,12\n", "bad.csv row 2: sampling_rate must be a number of Hz"),
        ("file,rpm\na.npy,1750\na.npy,1760\n", "a.npy is listed twice"),
        ("file,measured_at\na.npy,yesterday\n", "bad.csv row 2: measured_at: not an ISO 8601 time"),
        ("name,rpm\na.npy,1750\n", "no `file` column"),
    ]:
        bad.write_text(rows)
        with pytest.raises(ScoreInputError, match=needle.replace("(", r"\(")) as err:
            read_sidecar(bad)
        assert err.value.field == "sidecar"


def test_every_file_gets_one_row_and_a_bad_file_its_error(archive, diagnoser):
    folder, sidecar, files = archive
    contexts = read_sidecar(sidecar)
    for f in files:
        row = score_file(diagnoser, Job(str(f.path), **contexts[str(f.path)]))
        assert set(row) == {*SCHEMA.names, "_record"} and row["error"] is None, row
        assert row["sha256"] == hashlib.sha256(f.path.read_bytes()).hexdigest()
        fault_type = f.label.split("_0")[0]
        assert row["closest_fault_type"] == fault_type, (f.path.name, row)
        # simulated machines may lie beyond the shipped model's calibrated conditions: then "unknown" when its
        # calibration replaces the verdict (the shipped one only reports the score)
        assert row["fault_type"] in (fault_type, "unknown") and row["unknown_score"] is not None
        flagged = row["unknown_score"] > 1 and diagnoser.ood.replaces_verdict
        assert (row["fault_type"] == "unknown") == flagged == (row["verdict"] == "unknown")
        assert row["unknown_flag"] == (row["unknown_score"] > 1)  # reported whatever the policy
        if row["fault_type"] != "unknown":
            assert row["verdict"] == ("healthy" if f.label == "normal" else "fault")
        assert (row["rpm"], row["rpm_source"], row["bearing"]) == (f.rpm, "given", "SKF 6205")
        assert row["rate"] == pytest.approx(RATE) and row["duration_s"] == pytest.approx(0.5, rel=1e-4)
        assert row["windows"] == 1 + (6000 - 2048) // 1024 and 0.25 < row["confidence"] <= 1
        assert row["asset"].startswith("asset-")
        signal = np.load(f.path) if f.path.suffix == ".npy" else None
        if signal is not None:  # the monitor's indicators of the very signal diagnosed
            assert {k: row[k] for k in indicators(signal, RATE).as_dict()} == pytest.approx(
                indicators(signal, RATE).as_dict())
        p_sum = sum(row[f"p_{t}"] for t in ("normal", "ball", "inner_race", "outer_race"))
        assert p_sum == pytest.approx(1, abs=4e-6)  # each rounded to 6 decimals (Diagnosis.as_row)
        assert row["p_" + row["closest_fault_type"]] == row["confidence"]
        mtime = datetime.fromtimestamp(f.path.stat().st_mtime, timezone.utc)
        assert row["measured_at"] == mtime
        assert (row["model"], row["model_version"]) == ("hybrid-aprelu", diagnoser.meta.version)
    errors = {name: score_file(diagnoser, Job(str(folder / name), rate=RATE))
              for name in ("asset-0/broken.mat", "asset-1/empty.wav", "asset-2/gap.npy", "nowhere.npy")}
    assert "not a readable MATLAB file" in errors["asset-0/broken.mat"]["error"]
    assert "empty (0 bytes)" in errors["asset-1/empty.wav"]["error"]
    assert "NaN or Inf" in errors["asset-2/gap.npy"]["error"]
    assert "cannot read the file" in errors["nowhere.npy"]["error"]
    for row in errors.values():
        assert row["verdict"] is None and row["fault_type"] is None and row["model"] == "hybrid-aprelu"
    no_rate = score_file(diagnoser, Job(str(files[0].path)))  # an .npy with no rate anywhere
    assert "does not state its sampling rate" in no_rate["error"]


def test_parts_merge_into_one_table_each_file_once(tmp_path):
    out = tmp_path / "r.parquet"
    sink = ResultSink(out, part_rows=2)
    rows = [dict.fromkeys(SCHEMA.names) | {"file": f"/f{i}", "windows": i} for i in range(5)]
    for row in rows:
        sink.add(row)
    assert len(list(parts_dir(out).glob("part-*.parquet"))) == 2 and not out.exists()
    assert done_files(out) == {"/f0", "/f1", "/f2", "/f3"}
    sink.merge()
    assert not parts_dir(out).exists()
    table = pq.read_table(out)
    assert table.schema == SCHEMA and sorted(table.column("file").to_pylist()) == [f"/f{i}" for i in range(5)]
    again = ResultSink(out)  # a part left over from a crash after the merge: not counted twice
    again.add(rows[0] | {"windows": 99})
    again.merge()
    merged = pq.read_table(out).to_pandas().set_index("file")
    assert len(merged) == 5 and merged.loc["/f0", "windows"] == 0
    (tmp_path / "other.parquet").write_bytes(pq.read_table(out).drop(["file"]).to_pandas().to_parquet())
    with pytest.raises(ScoreInputError, match="not a faultdx score table"):
        done_files(tmp_path / "other.parquet")


def test_a_table_of_an_older_faultdx_merges_with_its_new_columns_null(tmp_path):
    out = tmp_path / "r.parquet"
    older = SCHEMA.remove(SCHEMA.get_field_index("evidence_hz")).remove(SCHEMA.get_field_index("signal_ok"))
    pq.write_table(pa.Table.from_pylist([{"file": "/old", "windows": 3}], schema=older), out)
    sink = ResultSink(out)
    sink.add(dict.fromkeys(SCHEMA.names) | {"file": "/new", "windows": 4, "signal_ok": True})
    sink.merge()
    table = pq.read_table(out)
    assert table.schema == SCHEMA
    rows = {r["file"]: r for r in table.to_pylist()}
    assert rows["/old"]["windows"] == 3 and rows["/old"]["signal_ok"] is None and rows["/new"]["signal_ok"]


def test_a_killed_run_resumes_where_it_stopped(archive, tmp_path):
    folder, sidecar, _ = archive
    out = tmp_path / "scores.parquet"
    seen: list[str] = []

    def stop_after_three(row: dict) -> None:
        seen.append(row["file"])
        if len(seen) == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        score_archive([folder], out, sidecar=sidecar, workers=1, on_row=stop_after_three)
    # the rows handled before the interruption were kept in a part; the one it broke into was not
    assert not out.exists() and done_files(out) == set(seen[:2])
    summary = score_archive([folder], out, sidecar=sidecar, workers=1)
    total = 7  # 4 recordings + 3 bad files; the sidecar and the output are not recordings
    assert (summary.skipped, summary.files) == (2, total - 2)
    table = pd.read_parquet(out)
    assert len(table) == total and table["file"].is_unique and not parts_dir(out).exists()
    assert set(table["file"]) >= set(seen)
    assert table["error"].notna().sum() == 3
    again = score_archive([folder], out, sidecar=sidecar, workers=1)
    assert (again.skipped, again.files) == (total, 0)
    pd.testing.assert_frame_equal(pd.read_parquet(out), table)


def test_diagnoses_stored_in_the_asset_history_once(archive, tmp_path):
    from faultdx.monitor.assets import AssetSpec
    from faultdx.monitor.store import Store

    folder, sidecar, files = archive
    store = Store(f"sqlite:///{tmp_path / 'history.sqlite'}")
    try:
        store.create_asset(AssetSpec(name="asset-0"))
        only = [str(f.path) for f in files if "asset-0" in str(f.path)]
        with pytest.raises(ScoreInputError, match="'asset-1' is not in the asset history"):
            score_archive([f.path for f in files], tmp_path / "a.parquet", sidecar=sidecar, workers=1,
                          history=store)
        for _ in range(2):  # a second run into a fresh table stores nothing new
            (tmp_path / "a.parquet").unlink(missing_ok=True)
            score_archive(only, tmp_path / "a.parquet", sidecar=sidecar, workers=1, history=store)
            stored = store.diagnoses("asset-0")
            assert stored.total == len(only)
        row = pd.read_parquet(tmp_path / "a.parquet").set_index("file").loc[only[0]]
        match = [d for d in stored.items if d.confidence == pytest.approx(row["confidence"])]
        assert match and match[0].fault_type == row["fault_type"]
        assert match[0].indicators.velocity_rms == pytest.approx(row["velocity_rms"])
        assert match[0].measured_at == row["measured_at"].to_pydatetime()
        with pytest.raises(ScoreInputError, match="needs every file's asset"):
            score_archive([files[0].path], tmp_path / "b.parquet", workers=1, history=store, defaults={})
    finally:
        store.close()


def run(*args: str):
    return CliRunner().invoke(app, ["score", *args], env={"COLUMNS": "400"})  # no wrapped messages


@pytest.mark.parametrize(
    ("args", "option", "needle"),
    [
        (["--rpm", "-5"], "--rpm", "shaft speed"),
        (["--bearing", "SKF 9999"], "--bearing", "unknown bearing"),
        (["--bearing", "{oops"], "--bearing", "not a valid JSON object"),
        (["--rate", "10"], "--rate", "sampling_rate"),
        (["--workers", "0"], "--workers", "positive"),
        (["--engine", "spark"], "--engine", "local, ray"),
        (["--address", "auto"], "--address", "engine ray"),
        (["--model", "no-such-model"], "--model", "no-such-model"),
    ],
)
def test_bad_arguments_exit_2_naming_the_option(archive, tmp_path, args, option, needle):
    folder, _, _ = archive
    result = run(str(folder), "--out", str(tmp_path / "o.parquet"), *args)
    assert result.exit_code == 2, result.output
    assert option in result.output and needle in result.output
    assert not (tmp_path / "o.parquet").exists()


def test_bad_paths_sidecar_and_output_exit_2(archive, tmp_path):
    folder, _, _ = archive
    assert "no such file" in run(str(tmp_path / "nope"), "--out", str(tmp_path / "o.parquet")).output
    assert run(str(folder), "--out", str(tmp_path / "o.csv")).exit_code == 2
    (tmp_path / "s.csv").write_text("file,rpm\na.npy,fast\n")
    result = run(str(folder), "--out", str(tmp_path / "o.parquet"), "--sidecar", str(tmp_path / "s.csv"))
    assert result.exit_code == 2 and "--sidecar" in result.output and "row 2" in result.output
    result = run(str(folder), "--out", str(tmp_path / "o.parquet"), "--sidecar", str(archive[1]), "--asset",
                 "spare", "--history", "--database-url", f"sqlite:///{tmp_path / 'history.sqlite'}")
    assert result.exit_code == 2 and "--history" in result.output
    assert "'asset-0' is not in the asset history" in result.output
    (tmp_path / "o.parquet").write_bytes(b"not parquet")
    result = run(str(folder), "--out", str(tmp_path / "o.parquet"))
    assert result.exit_code == 2 and "--out" in result.output
