"""Downloader against a local publisher stand-in: verify, corrupted file, interrupted transfer, resume."""

from __future__ import annotations

import hashlib

import pytest

from faultdx.data.catalogue import cwru_file
from faultdx.data.download import DEFAULT_CWRU_URL, DownloadError, cwru_url, fetch_cwru, fetch_file
from tests.data_helpers import REAL_ROOT, PublisherServer, isolated_cache, needs_cwru, needs_real_data  # noqa: F401

PAYLOAD = bytes(range(256)) * 4000  # ~1 MB
PAYLOAD_SHA = hashlib.sha256(PAYLOAD).hexdigest()


@pytest.fixture(autouse=True)
def no_retry_delay(monkeypatch):
    monkeypatch.setattr("faultdx.data.download.RETRY_DELAY_S", 0.0)


def test_fetch_file_verifies_and_renames_atomically(tmp_path):
    seen = []
    with PublisherServer({"1.mat": PAYLOAD}) as server:
        final = tmp_path / "d" / "1.mat"
        result = fetch_file(
            f"{server.base_url}/1.mat",
            final,
            sha256=PAYLOAD_SHA,
            progress=lambda name, done, total: seen.append((name, done, total)),
        )
        assert result.status == "downloaded" and result.checksum == "ok"
        assert final.read_bytes() == PAYLOAD and not (tmp_path / "d" / "1.mat.part").exists()
        assert seen[-1] == ("1.mat", len(PAYLOAD), len(PAYLOAD))
        again = fetch_file(f"{server.base_url}/1.mat", final, sha256=PAYLOAD_SHA)
        assert again.status == "present" and len(server.requests) == 1  # verified on disk, not re-fetched


def test_corrupted_download_leaves_nothing(tmp_path):
    corrupted = bytearray(PAYLOAD)
    corrupted[1234] ^= 0xFF
    with PublisherServer({"1.mat": bytes(corrupted)}) as server:
        final = tmp_path / "1.mat"
        with pytest.raises(DownloadError, match=f"1.mat: sha256 mismatch \\(expected {PAYLOAD_SHA}, got "):
            fetch_file(f"{server.base_url}/1.mat", final, sha256=PAYLOAD_SHA)
    assert list(tmp_path.iterdir()) == []  # neither the final name nor a .part to resume from


def test_interrupted_transfer_resumes_with_range(tmp_path):
    with PublisherServer({"1.mat": PAYLOAD}, drop_once={"1.mat"}) as server:
        result = fetch_file(f"{server.base_url}/1.mat", tmp_path / "1.mat", sha256=PAYLOAD_SHA)
    assert result.status == "downloaded" and (tmp_path / "1.mat").read_bytes() == PAYLOAD
    (first, first_range), (second, second_range) = server.requests
    assert first_range is None and second_range.startswith("bytes=") and second_range != "bytes=0-"
    assert int(second_range[6:-1]) > 0


def test_existing_part_file_is_resumed(tmp_path):
    (tmp_path / "1.mat.part").write_bytes(PAYLOAD[:300_000])
    with PublisherServer({"1.mat": PAYLOAD}) as server:
        fetch_file(f"{server.base_url}/1.mat", tmp_path / "1.mat", sha256=PAYLOAD_SHA)
    assert server.requests == [("/sites/default/files/1.mat", "bytes=300000-")]
    assert (tmp_path / "1.mat").read_bytes() == PAYLOAD


def test_http_error_and_unreachable_server(tmp_path):
    with PublisherServer({}) as server:
        with pytest.raises(DownloadError, match="1.mat: HTTP 404 from"):
            fetch_file(f"{server.base_url}/1.mat", tmp_path / "1.mat")
        url = f"{server.base_url}/1.mat"
    with pytest.raises(DownloadError, match="failed after 5 attempts"):
        fetch_file(url, tmp_path / "1.mat")  # server is gone: connection refused
    assert not (tmp_path / "1.mat").exists()


def test_cwru_url(monkeypatch):
    monkeypatch.setenv("FAULTDX_CWRU_URL", "http://mirror.example/cwru/")  # read by the CLI, not the library
    assert cwru_url(cwru_file(105)) == "https://engineering.case.edu/sites/default/files/105.mat"
    assert DEFAULT_CWRU_URL.startswith("https://engineering.case.edu/")
    assert cwru_url(cwru_file(97), "http://mirror.example/cwru/") == "http://mirror.example/cwru/97.mat"
    assert cwru_url(cwru_file(97), "http://other") == "http://other/97.mat"


@needs_cwru
@needs_real_data  # the publisher's checksums
def test_fetch_real_cwru_files_from_local_publisher(tmp_path):
    """Real bytes under the publisher's URL layout: one intact, one interrupted, one corrupted."""
    numbers = {105: "12k_drive_end", 97: "normal_baseline", 106: "12k_drive_end"}
    files = {f"{n}.mat": (REAL_ROOT / "cwru" / s / f"{n}.mat").read_bytes() for n, s in numbers.items()}
    corrupted = bytearray(files["106.mat"])
    corrupted[-10] ^= 0x01
    files["106.mat"] = bytes(corrupted)
    with PublisherServer(files, drop_once={"97.mat"}) as server:
        results = fetch_cwru([cwru_file(105), cwru_file(97)], tmp_path, base_url=server.base_url)
        assert [r.status for r in results] == ["downloaded", "downloaded"]
        assert (tmp_path / "cwru/normal_baseline/97.mat").read_bytes() == files["97.mat"]
        with pytest.raises(DownloadError, match="106.mat: sha256 mismatch"):
            fetch_cwru([cwru_file(106)], tmp_path, base_url=server.base_url)
    assert not (tmp_path / "cwru/12k_drive_end/106.mat").exists()
    assert not list(tmp_path.rglob("*.part"))
    from faultdx.data.cwru import CWRUDataset

    assert [r.key for r in CWRUDataset(root=tmp_path).recordings()] == ["cwru/105", "cwru/97"]
