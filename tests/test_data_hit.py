"""The HIT-SM dataset module: its shipped table, and the files themselves where the recordings are present."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.io import savemat

from faultdx.data.checksum import file_sha256
from faultdx.data.hit import HIT_CLASSES, HitDataset, hit_files
from faultdx.data.registry import get_dataset
from tests.data_helpers import IN_CI, REAL_ROOT, STANDIN, WHERE

HAS_HIT = (REAL_ROOT / "hit/mfs/Normal_600.mat").is_file()
needs_hit = pytest.mark.skipif((not HAS_HIT and not IN_CI) or STANDIN,
                               reason=f"needs the HIT-SM recordings: {WHERE}")


def test_the_table_describes_both_rigs_with_a_checksum_and_a_measured_speed() -> None:
    files = hit_files()
    assert len(files) == 42
    for rig in ("mfs", "self_built"):
        mine = [f for f in files if f.rig == rig]
        assert len(mine) == 21
        assert {f.label for f in mine} == set(HIT_CLASSES)
        assert sum(f.label == "normal" for f in mine) == 3
    for f in files:
        assert len(f.sha256) == 64 and f.sampling_rate == 51200
        assert abs(f.rpm_measured / f.rpm_nominal - 1) <= 0.07  # measured shaft line: within 6 %
    dataset = get_dataset("hit", rig="mfs")
    assert dataset.classes == ("normal", "inner_race", "outer_race")
    assert len(dataset.info().rows) == 21


def test_bad_options_are_refused_with_their_name() -> None:
    with pytest.raises(ValueError, match="rig"):
        HitDataset(rig="cwru")
    with pytest.raises(ValueError, match="sampling_rate"):
        HitDataset(sampling_rate=0)


def test_a_file_in_the_publisher_layout_loads_with_its_variable_rate_and_speed(tmp_path) -> None:
    entry = next(f for f in hit_files() if f.file == "mfs/OR5_900.mat")
    signal = np.sin(np.arange(51200) * 0.01)[:, None]
    (tmp_path / "hit/mfs").mkdir(parents=True)
    savemat(tmp_path / "hit" / entry.file, {entry.variable: signal}, format="5")
    dataset = HitDataset(rig="mfs", sampling_rate=12800, root=tmp_path)
    assert dataset.files_present() == (1, 21)
    (rec,) = dataset.recordings()
    assert rec.key == "hit/mfs/OR5_900" and rec.label == "outer_race" and rec.rpm == entry.rpm_measured
    assert rec.sampling_rate == 12800 and rec.signal.shape == (1, 12800)
    assert rec.condition == 900 and rec.bearing == "SKF 6205"
    assert [e.name for e in dataset.examples()] == ["hit-mfs-OR5_900"]


@needs_hit
def test_the_real_files_match_their_checksums_and_load_at_12_khz() -> None:
    dataset = HitDataset(rig="self_built", sampling_rate=12000, root=REAL_ROOT)
    assert dataset.files_present() == (21, 21)
    entry = dataset.files()[0]
    assert file_sha256(dataset.path_of(entry)) == entry.sha256
    rec = dataset.load(entry)
    assert rec.signal.shape == (1, entry.samples * 12000 // 51200)
    assert np.isfinite(rec.signal).all() and rec.signal.std() > 0
