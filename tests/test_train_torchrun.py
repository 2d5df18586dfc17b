"""Training on several nodes: the DDP path through the real ``torchrun`` launcher with a c10d rendezvous on
127.0.0.1, as every node of a multi-node job runs it (docs/scale.md), here with one node and 2 processes."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

from faultdx.modeldir import load_model_dir
from tests.data_helpers import isolated_cache  # noqa: F401  (autouse fixture: temp decoded-array cache)
from tests.train_helpers import BASE_CONFIG, needs_cwru, tiny_overrides

pytestmark = needs_cwru


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_torchrun_c10d_rendezvous_two_ranks_one_model(tmp_path):
    faultdx = Path(sys.executable).parent / "faultdx"
    logs = tmp_path / "logs"
    command = [
        sys.executable, "-m", "torch.distributed.run",
        "--nnodes", "1", "--node_rank", "0", "--nproc_per_node", "2",
        "--rdzv_backend", "c10d", "--rdzv_endpoint", f"127.0.0.1:{_free_port()}", "--rdzv_id", "faultdx-test",
        "--log_dir", str(logs), "--tee", "3",  # every rank's stdout/stderr in its own file
        str(faultdx), "train", "--config", str(BASE_CONFIG), "--no-progress", "--device", "cpu",
    ]
    for item in tiny_overrides(tmp_path / "runs", "ddp", "epochs=1"):
        command += ["--set", item]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "GLOO_SOCKET_IFNAME": "lo"}  # loopback only
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "2 process(es)" in done.stdout  # rank 0's view of the process group: both ranks joined
    rank_dirs = sorted(p.parent.name for p in logs.rglob("stdout.log"))
    assert rank_dirs == ["0", "1"], rank_dirs  # the launcher started (and saw exit) both ranks
    runs = [p for p in (tmp_path / "runs").iterdir() if p.is_dir()]
    assert [p.name for p in runs] == ["ddp"]  # one run folder: only rank 0 writes
    model = load_model_dir(runs[0] / "best")
    assert model.meta.protocol["epoch"] == 1 and (runs[0] / "test.json").is_file()
