"""DistributedDataParallel on CPU: torchrun, gloo, two processes give the one-process result within tolerance.

Both runs see the same global batches and the same noise (drawn from the per-epoch generator on every rank);
what differs is BatchNorm, whose batch statistics are per process on CPU (SyncBatchNorm needs CUDA), and the
order of floating-point sums. So losses agree closely but not bit for bit (and Adam, which rescales every
gradient to unit size, lets small differences move individual weights apart: weights are not compared).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from faultdx.modeldir import load_model_dir
from faultdx.train.config import load_config
from faultdx.train.run import train
from tests.data_helpers import isolated_cache  # noqa: F401  (autouse fixture: temp decoded-array cache)
from tests.train_helpers import BASE_CONFIG, needs_cwru, tiny_overrides

pytestmark = needs_cwru
EXTRA = ["epochs=2"]


def test_two_gloo_processes_match_one_process(tmp_path):
    faultdx = Path(sys.executable).parent / "faultdx"
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node=2",
        str(faultdx),
        "train",
        "--config",
        str(BASE_CONFIG),
        "--no-progress",
        "--device",
        "cpu",
    ]
    for item in tiny_overrides(tmp_path, "ddp", *EXTRA):
        command += ["--set", item]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "2 process(es)" in done.stdout

    single = train(load_config(None, tiny_overrides(tmp_path, "single", *EXTRA)), log=None)
    ddp = [json.loads(line) for line in (tmp_path / "ddp" / "metrics.jsonl").read_text().splitlines()]
    assert len(ddp) == len(single.records) == 2
    for two, one in zip(ddp, single.records, strict=True):
        assert two["train_loss"] == pytest.approx(one["train_loss"], rel=0.05)
        assert two["val_loss"] == pytest.approx(one["val_loss"], rel=0.05)
    # the loss went down in both, i.e. the ranks' gradients were averaged into one model
    assert ddp[-1]["train_loss"] < ddp[0]["train_loss"] - 0.1
    # one model came out of the two processes, and it predicts like the single-process one
    assert load_model_dir(tmp_path / "ddp" / "best").meta.protocol["epoch"] in (1, 2)
    accuracy = json.loads((tmp_path / "ddp" / "test.json").read_text())["last"]["accuracy"]
    assert accuracy == pytest.approx(single.test["last"]["accuracy"], abs=0.1)
