"""`--resume` after a run is killed (SIGKILL) in the middle of an epoch continues to the same result."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from safetensors.torch import load_file
from typer.testing import CliRunner

from faultdx.cli import app
from faultdx.train.config import load_config
from faultdx.train.run import train
from tests.data_helpers import isolated_cache  # noqa: F401  (autouse fixture: temp decoded-array cache)
from tests.train_helpers import BASE_CONFIG, needs_cwru, tiny_overrides

pytestmark = needs_cwru
EPOCHS = 3
# more windows per epoch than the e2e test, so that the kill lands well inside epoch 2
RESUME = ["data.hop=2048", f"epochs={EPOCHS}"]


def _epochs_logged(run: Path) -> int:
    path = run / "metrics.jsonl"
    return len(path.read_text().splitlines()) if path.is_file() else 0


def test_resume_after_sigkill_mid_epoch_matches_an_uninterrupted_run(tmp_path):
    faultdx = Path(sys.executable).parent / "faultdx"
    args = [str(faultdx), "train", "--config", str(BASE_CONFIG), "--no-progress"]
    for item in tiny_overrides(tmp_path, "killed", *RESUME):
        args += ["--set", item]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=os.environ.copy())
    run = tmp_path / "killed"
    deadline = time.monotonic() + 240
    try:
        while _epochs_logged(run) < 1:
            assert proc.poll() is None, proc.stderr.read().decode()
            assert time.monotonic() < deadline, "epoch 1 did not finish in time"
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)  # inside epoch 2: state/ holds the end of epoch 1
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    state = json.loads((run / "state" / "state.json").read_text())
    assert state["epoch"] == 1
    assert not (run / "test.json").exists()
    leftovers = [p.name for p in run.iterdir() if p.name.startswith(".")]
    assert all(p.endswith((".tmp", ".trash")) for p in leftovers)  # only staging dirs a kill may leave
    # and as a kill between the two renames of the fallback swap (no renameat2) leaves it: state/ set aside
    (run / "state").rename(run / ".state.0000000000000001-abcdef.old")

    result = CliRunner().invoke(app, ["train", "--resume", str(run), "--no-progress"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert f"epochs 2..{EPOCHS}" in result.output
    assert [p.name for p in run.iterdir() if p.name.startswith(".")] == []  # nothing stranded

    reference = train(load_config(None, tiny_overrides(tmp_path, "reference", *RESUME)), log=None)
    resumed = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    straight = reference.records
    assert [r["epoch"] for r in resumed] == list(range(1, EPOCHS + 1))
    for a, b in zip(resumed, straight, strict=True):
        assert a["train_loss"] == pytest.approx(b["train_loss"], rel=1e-4)
        assert a["val_loss"] == pytest.approx(b["val_loss"], rel=1e-4)
        assert a["lr"] == pytest.approx(b["lr"], rel=1e-6)
    weights = load_file(str(run / "last" / "model.safetensors"))
    expected = load_file(str(reference.last_dir / "model.safetensors"))
    for key, value in expected.items():
        assert (weights[key] - value).abs().max().item() < 1e-4, key
    assert json.loads((run / "test.json").read_text())["last"]["accuracy"] == pytest.approx(
        reference.test["last"]["accuracy"], abs=1e-6
    )


def test_resume_without_state_and_rerun_into_a_used_folder_are_refused(tmp_path):
    result = CliRunner().invoke(app, ["train", "--resume", str(tmp_path)])
    assert result.exit_code == 2
    (tmp_path / "used" / "state").mkdir(parents=True)
    config = load_config(None, [f"out_dir={tmp_path}", "name=used"])
    with pytest.raises(ValueError, match="already holds a run"):
        train(config, log=None)
