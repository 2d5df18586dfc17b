"""Issue 24 item 9: `faultdx score --engine ray` without --address starts a local Ray cluster that listens
on the loopback interface only: every TCP socket its processes (GCS server, raylet, workers, agents) listen
on during a run is listed and must be on 127.0.0.1 / ::1 — Ray's unauthenticated ports reachable from a plant
network would be remote code execution."""

from __future__ import annotations

import os

import pytest

from tests.ray_support import descendants, is_loopback, listening, require_ray

require_ray()

from faultdx.data.archive import write_archive  # noqa: E402
from faultdx.score import score_archive  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")  # Ray Data's own


def test_addresses_are_told_apart():
    assert is_loopback("127.0.0.1") and is_loopback("[::1]") and is_loopback("[::ffff:127.0.0.1]")
    assert not any(is_loopback(a) for a in ("*", "0.0.0.0", "[::]", "192.0.2.2", "[::ffff:192.0.2.2]"))


def test_a_local_ray_run_listens_on_loopback_only(tmp_path):
    import ray

    if ray.is_initialized():  # a cluster joined earlier would be reused, not started by the run
        ray.shutdown()
    folder = tmp_path / "archive"
    _, sidecar = write_archive(folder, 2, seconds=0.5)
    seen: list[tuple[str, str, int]] = []

    def look(row) -> None:  # while the run's cluster is up
        if not seen:
            seen.extend(listening(descendants(os.getpid())))

    summary = score_archive([folder], tmp_path / "out.parquet", sidecar=sidecar, engine="ray", workers=1,
                            on_row=look)
    assert summary.files == 2 and summary.errors == 0
    names = {name for _, name, _ in seen}
    assert {"gcs_server", "raylet"} <= names, seen  # the listing saw the cluster's own servers
    exposed = [s for s in seen if not is_loopback(s[0])]
    assert not exposed, f"listening beyond loopback: {exposed}"
    assert not ray.is_initialized()  # the run's cluster is gone with it
