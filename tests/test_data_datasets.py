"""CWRU / MFPT catalogues and loaders, the decoded-array cache and the dataset registry."""

from __future__ import annotations

import os

import numpy as np
import pytest

from faultdx.data.base import CWRU_10_CLASSES, FAULT_TYPES
from faultdx.data.catalogue import cwru_file, cwru_files, mfpt_files
from faultdx.data.cwru import CWRUDataset
from faultdx.data.mfpt import MFPTDataset
from faultdx.data.readers import SignalFileError
from faultdx.data.registry import dataset_names, get_dataset
from tests.data_helpers import (  # noqa: F401
    isolated_cache,
    needs_cwru,
    needs_mfpt,
    write_cwru_mat,
    write_mfpt_mat,
)


def test_catalogue_covers_every_manifest_set():
    sets = {}
    for f in cwru_files():
        sets[f.set] = sets.get(f.set, 0) + 1
    assert sets == {"12k_drive_end": 36, "normal_baseline": 4, "12k_fan_end": 45, "48k_drive_end": 52}
    assert all(f.sha256 or f.git_sha1 for f in cwru_files())
    assert (
        cwru_file(98).git_sha1 == "883b4d24ae2818009f647f4563993408c56becf5" and cwru_file(98).sha256 is None
    )
    assert cwru_file(97).sampling_rate == 48000 and cwru_file(105).sampling_rate == 12000
    assert cwru_file(174).variable("DE") == "X173_DE_time"  # the publisher's quirk
    assert cwru_file(97).variable("FE") == "X097_FE_time"
    assert len(mfpt_files()) == 14
    with pytest.raises(ValueError, match="not in the catalogue"):
        cwru_file(1)


def test_cwru_12k_set_has_40_files_with_canonical_labels():
    dataset = CWRUDataset()
    files = dataset.files()
    assert len(files) == 40
    labels = {f.number: dataset.label_of(f) for f in files}
    assert labels[105] == "inner_race_007" and labels[222] == "ball_021" and labels[237] == "outer_race_021"
    assert labels[97] == labels[100] == "normal"
    assert sorted(set(labels.values())) == sorted(CWRU_10_CLASSES)
    assert {f.load_hp for f in files if f.number in (98, 99, 100)} == {1, 2, 3}
    assert {f.nominal_rpm for f in files} == {1797, 1772, 1750, 1730}
    assert CWRUDataset(label_set="4class").classes == FAULT_TYPES
    with pytest.raises(ValueError, match="valid sets: 12k_drive_end, 12k_fan_end, 48k_drive_end"):
        CWRUDataset(set="24k")


def test_cwru_loader_reads_own_variable_in_real_layout(tmp_path):
    """A 105.mat that also carries a foreign X104 record: the loader must read X105's columns."""
    own = write_cwru_mat(tmp_path / "cwru/12k_drive_end/105.mat", 105, 5000, foreign=104)
    write_cwru_mat(tmp_path / "cwru/normal_baseline/97.mat", 97, 8000, channels=("DE", "FE"), seed=1)
    dataset = CWRUDataset(root=tmp_path)
    recs = dataset.recordings()
    assert [r.key for r in recs] == ["cwru/105", "cwru/97"]  # absent files are skipped, not errors
    fault, normal = recs
    np.testing.assert_allclose(fault.signal[0], own["X105_DE_time"][:, 0], rtol=1e-6)
    assert fault.label == "inner_race_007" and fault.condition == 0 and fault.sampling_rate == 12000
    assert normal.signal.shape == (1, 2000) and normal.sampling_rate == 12000  # 48 kHz -> 12 kHz
    both = dataset.load(cwru_file(105), ("DE", "BA"))
    np.testing.assert_allclose(both.signal[1], own["X105_BA_time"][:, 0], rtol=1e-6)
    with pytest.raises(SignalFileError, match=r"no variable X097_BA_time \(the file holds X097_DE_time"):
        dataset.load(cwru_file(97), ("BA",))
    with pytest.raises(ValueError, match="unknown CWRU channel"):
        dataset.load(cwru_file(105), ("XX",))
    assert [r.key for r in dataset.recordings(conditions=[1, 2])] == []


def test_decoded_cache_is_used_and_keyed_by_file_identity(tmp_path):
    from faultdx.paths import cache_dir

    path = tmp_path / "cwru/12k_drive_end/106.mat"
    write_cwru_mat(path, 106, 3000, seed=2)
    dataset = CWRUDataset(root=tmp_path)
    first = dataset.load(cwru_file(106)).signal.copy()
    cached = list((cache_dir() / "cwru").glob("106-*.npy"))
    assert len(cached) == 1 and not list((cache_dir() / "cwru").glob(".*.tmp"))  # atomic, no leftovers
    assert np.array_equal(np.load(cached[0]), first)
    new = write_cwru_mat(path, 106, 3000, seed=3)  # replaced file: new size/mtime -> decoded again
    os.utime(path, ns=(1, 1))
    second = dataset.load(cwru_file(106)).signal
    np.testing.assert_allclose(second[0], new["X106_DE_time"][:, 0], rtol=1e-6)
    assert not np.array_equal(second, first)


def test_mfpt_loader_reads_struct_layout(tmp_path):
    gs = write_mfpt_mat(tmp_path / "mfpt/InnerRaceFault_vload_2.mat", 4000, load="50")
    dataset = MFPTDataset(root=tmp_path, sampling_rate=12000)
    (rec,) = dataset.recordings()
    assert (
        rec.label == "inner_race" and rec.condition == 50 and rec.rpm == 1500 and rec.sampling_rate == 12000
    )
    assert abs(rec.num_samples - 4000 * 12000 / 48828) <= 1
    assert MFPTDataset(root=tmp_path).recordings()[0].signal.shape == (1, 4000)
    np.testing.assert_allclose(MFPTDataset(root=tmp_path).recordings()[0].signal[0], gs[:, 0], rtol=1e-6)
    from scipy.io import savemat

    savemat(tmp_path / "mfpt/InnerRaceFault_vload_3.mat", {"x": np.ones((10, 1))})
    with pytest.raises(SignalFileError, match=r"no variable bearing \(the file holds x\)"):
        MFPTDataset(root=tmp_path).recordings()


def test_registry():
    assert dataset_names() == ["synthetic", "cwru", "mfpt", "hit", "simulated"]
    assert get_dataset("cwru", sampling_rate=None).sampling_rate is None
    with pytest.raises(
        ValueError, match="unknown dataset 'paderborn'; valid datasets: synthetic, cwru, mfpt, hit, simulated"
    ):
        get_dataset("paderborn")
    with pytest.raises(ValueError, match="has no option.*rate.*valid options: set, sampling_rate"):
        get_dataset("cwru", rate=12000)


@needs_cwru
def test_real_cwru_files():
    dataset = get_dataset("cwru")
    recs = dataset.recordings()
    assert len(recs) == 37
    assert {r.key for r in recs} >= {"cwru/97", "cwru/105", "cwru/237"}
    assert all(r.sampling_rate == 12000 and r.signal.dtype == np.float32 for r in recs)
    by_key = {r.key: r for r in recs}
    assert by_key["cwru/105"].num_samples == 121265 and by_key["cwru/105"].rpm == 1797
    assert by_key["cwru/108"].condition == 3 and by_key["cwru/108"].label == "inner_race_007"
    assert {r.label for r in recs} == set(CWRU_10_CLASSES)
    assert len(dataset.recordings(conditions=[0])) == 10
    three = dataset.load(cwru_file(105), ("DE", "FE", "BA"))
    assert three.signal.shape == (3, 121265)


@needs_mfpt
def test_real_mfpt_files():
    recs = get_dataset("mfpt").recordings()
    assert len(recs) == 14
    assert {r.label for r in recs} == {"inner_race", "outer_race"}
    assert sorted(r.condition for r in recs if r.label == "outer_race") == [25, 50, 100, 150, 200, 250, 300]
    assert all(r.num_samples == 146484 and r.sampling_rate == 48828 for r in recs)
