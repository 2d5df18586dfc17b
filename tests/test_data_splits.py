"""Leakage-free time split and by-condition split: no sample in two splits, no window across a boundary."""

from __future__ import annotations

import numpy as np
import pytest

from faultdx.data.base import CWRU_10_CLASSES, Recording, WindowSet
from faultdx.data.splits import condition_split, time_split
from tests.data_helpers import isolated_cache, needs_cwru  # noqa: F401


def _covered(ws: WindowSet, window: int, length: int = 1_000_000) -> dict[str, np.ndarray]:
    """Per recording, a boolean mask of the sample indices that some window of this split contains."""
    out: dict[str, np.ndarray] = {}
    for index, key in enumerate(ws.keys):
        starts = ws.start[ws.recording == index]
        edges = np.zeros(length + 1, dtype=np.int64)
        np.add.at(edges, starts, 1)
        np.add.at(edges, starts + window, -1)
        out[key] = np.cumsum(edges)[:length] > 0
    return out


def _assert_disjoint(splits: dict[str, WindowSet], window: int) -> None:
    covered = {name: _covered(ws, window) for name, ws in splits.items()}
    names = list(covered)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            for key in covered[a].keys() & covered[b].keys():
                shared = int(np.sum(covered[a][key] & covered[b][key]))
                assert shared == 0, f"{a}/{b} share {shared} samples of {key}"


def _recordings(n: int = 3, length: int = 10_000, condition: float = 0.0) -> list[Recording]:
    rng = np.random.default_rng(0)
    return [
        Recording(
            key=f"r{i}",
            signal=rng.standard_normal((1, length)).astype(np.float32),
            sampling_rate=12000,
            label=CWRU_10_CLASSES[i],
            condition=condition,
        )
        for i in range(n)
    ]


def test_time_split_windows_match_their_source_and_never_overlap():
    recs = _recordings()
    splits = time_split(recs, window=512, hop=128, classes=CWRU_10_CLASSES, eval_hop=512)
    assert set(splits) == {"train", "val", "test"}
    by_key = {r.key: r for r in recs}
    for ws in splits.values():
        assert ws.x.shape == (len(ws), 1, 512) and ws.x.dtype == np.float32
        for i in range(0, len(ws), 7):  # every window is the raw samples at its recorded start
            rec = by_key[ws.keys[ws.recording[i]]]
            np.testing.assert_array_equal(ws.x[i], rec.signal[:, ws.start[i] : ws.start[i] + 512])
            assert CWRU_10_CLASSES[ws.y[i]] == rec.label
    # no window crosses a segment boundary: train ends by 70 %, test starts at/after 85 %
    assert max(splits["train"].start) + 512 <= 7000
    assert min(splits["val"].start) >= 7000 and max(splits["val"].start) + 512 <= 8500
    assert min(splits["test"].start) >= 8500
    _assert_disjoint(splits, 512)
    assert len(splits["train"]) == 3 * (1 + (7000 - 512) // 128)


def test_leakage_audit_detects_overlap():
    ws = time_split(_recordings(1), window=512, hop=256, classes=CWRU_10_CLASSES)["train"]
    with pytest.raises(AssertionError, match=r"share \d+ samples of r0"):
        _assert_disjoint(
            {
                "a": ws,
                "b": WindowSet(
                    ws.x[1:2],
                    ws.y[1:2],
                    ws.recording[1:2],
                    ws.start[1:2] + 256,
                    ws.classes,
                    ws.keys,
                    ws.sampling_rate,
                ),
            },
            512,
        )


def test_time_split_rejects_bad_fractions_and_mixed_rates():
    with pytest.raises(ValueError, match="fractions must be three"):
        time_split(_recordings(), window=64, hop=64, fractions=(0.5, 0.5), classes=CWRU_10_CLASSES)
    recs = _recordings(2)
    recs[1] = Recording(key="x", signal=recs[1].signal, sampling_rate=48000, label="normal", condition=0)
    with pytest.raises(ValueError, match="different sampling rates"):
        time_split(recs, window=64, hop=64, classes=CWRU_10_CLASSES)


def test_condition_split_trains_and_tests_on_different_loads():
    recs = _recordings(3, condition=0.0) + [
        Recording(key=f"load3-{r.key}", signal=r.signal, sampling_rate=12000, label=r.label, condition=3.0)
        for r in _recordings(3)
    ]
    splits = condition_split(
        recs, train_conditions=[0], test_conditions=[3], window=256, hop=256, classes=CWRU_10_CLASSES[1:]
    )  # 9 fault classes: 'normal' (r0) is left out
    assert all(k.startswith("load3-") for k in splits["test"].keys)
    assert not any(k.startswith("load3-") for k in splits["train"].keys + splits["val"].keys)
    assert "r0" not in splits["train"].keys and CWRU_10_CLASSES[1:][0] == "ball_007"
    assert max(splits["train"].start) + 256 <= 8500 and min(splits["val"].start) >= 8500
    _assert_disjoint(splits, 256)
    with pytest.raises(ValueError, match="in both"):
        condition_split(
            recs, train_conditions=[0, 3], test_conditions=[3], window=256, hop=256, classes=CWRU_10_CLASSES
        )


@needs_cwru
def test_real_cwru_time_split_shares_no_sample():
    from faultdx.data.registry import get_dataset

    recs = get_dataset("cwru").recordings()
    assert len(recs) == 37
    splits = time_split(recs, window=2048, hop=512, classes=CWRU_10_CLASSES, eval_hop=2048)
    _assert_disjoint(splits, 2048)
    for ws in splits.values():
        assert set(ws.y.tolist()) == set(range(10))  # every class in every split (normal from 97.mat)
    by_load = condition_split(
        recs,
        train_conditions=[0, 1, 2],
        test_conditions=[3],
        window=2048,
        hop=2048,
        classes=CWRU_10_CLASSES[1:],
    )
    assert len(by_load["test"].keys) == 9 and set(by_load["test"].y.tolist()) == set(range(9))
    _assert_disjoint(by_load, 2048)
