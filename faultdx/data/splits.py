"""Leakage-free splits: each recording is cut in time into segments *before* windowing.

No window crosses a segment boundary and no sample belongs to two splits, so a network is never evaluated on
samples it saw in training. ``WindowSet.start`` records each window's first sample so this can be audited.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from faultdx.data.base import Recording, WindowSet
from faultdx.data.windows import frame

SPLIT_NAMES = ("train", "val", "test")
Segment = tuple[Recording, int, int]  # (recording, first sample, end sample)


def _check_fractions(fractions: Sequence[float]) -> None:
    if len(fractions) != 3 or any(f < 0 for f in fractions) or not 0.999 <= sum(fractions) <= 1.001:
        raise ValueError(f"fractions must be three non-negative numbers summing to 1, got {tuple(fractions)}")


def _usable(recordings: Sequence[Recording], classes: tuple[str, ...]) -> list[Recording]:
    """Recordings whose label is one of ``classes`` (others are left out, e.g. normal in a 9-class split)."""
    wanted = set(classes)
    usable = [r for r in recordings if r.label in wanted]
    rates = {r.sampling_rate for r in usable}
    if len(rates) > 1:
        raise ValueError(f"recordings have different sampling rates {sorted(rates)}; resample them first")
    return usable


def _windows(segments: list[Segment], *, window: int, hop: int, classes: tuple[str, ...]) -> WindowSet:
    """Window each segment and stack the results into one WindowSet."""
    keys: dict[str, int] = {}
    xs, ys, recs, starts = [], [], [], []
    for rec, begin, end in segments:
        idx = keys.setdefault(rec.key, len(keys))
        windows = frame(rec.signal[:, begin:end], window, hop)  # [n, C, W] view
        n = windows.shape[0]
        if n == 0:
            continue
        xs.append(windows)
        ys.append(np.full(n, classes.index(rec.label), dtype=np.int64))
        recs.append(np.full(n, idx, dtype=np.int64))
        starts.append(begin + hop * np.arange(n, dtype=np.int64))
    channels = segments[0][0].signal.shape[0] if segments else 1
    rate = segments[0][0].sampling_rate if segments else 0.0
    if xs:
        x = np.concatenate(xs, axis=0, dtype=np.float32)
    else:
        x = np.empty((0, channels, window), dtype=np.float32)

    def cat(arrays: list[np.ndarray]) -> np.ndarray:
        return np.concatenate(arrays) if arrays else np.empty(0, dtype=np.int64)

    return WindowSet(
        x=x, y=cat(ys), recording=cat(recs), start=cat(starts), classes=classes,
        keys=tuple(keys), sampling_rate=float(rate),
    )


def time_split(
    recordings: Sequence[Recording],
    *,
    window: int,
    hop: int,
    fractions: Sequence[float] = (0.7, 0.15, 0.15),
    classes: Sequence[str],
    eval_hop: int | None = None,
) -> dict[str, WindowSet]:
    """Cut every recording into contiguous train / val / test segments by ``fractions``, then window each.

    ``hop`` applies to train, ``eval_hop`` (default ``hop``) to val and test. Recordings whose label is not in
    ``classes`` are left out; ``y`` indexes ``classes``.
    """
    _check_fractions(fractions)
    classes = tuple(classes)
    segments: dict[str, list[Segment]] = {name: [] for name in SPLIT_NAMES}
    for rec in _usable(recordings, classes):
        bounds = np.floor(np.cumsum([0.0, *fractions]) * rec.num_samples).astype(int)
        bounds[-1] = rec.num_samples
        for name, begin, end in zip(SPLIT_NAMES, bounds[:-1], bounds[1:], strict=True):
            segments[name].append((rec, int(begin), int(end)))
    hops = {"train": hop, "val": eval_hop or hop, "test": eval_hop or hop}
    return {
        name: _windows(segments[name], window=window, hop=hops[name], classes=classes)
        for name in SPLIT_NAMES
    }


def condition_split(
    recordings: Sequence[Recording],
    *,
    train_conditions: Sequence[float],
    test_conditions: Sequence[float],
    window: int,
    hop: int,
    val_fraction: float = 0.15,
    classes: Sequence[str],
    eval_hop: int | None = None,
) -> dict[str, WindowSet]:
    """Train on some operating conditions, test on others.

    train = the first ``1 - val_fraction`` of each training-condition recording, val = its tail, test = the
    whole test-condition recordings (windowed with ``eval_hop``). Recordings whose label is not in ``classes``
    are left out (CWRU's normal class exists only at 0 HP, so by-load splits use the 9 fault classes).
    """
    overlap = set(train_conditions) & set(test_conditions)
    if overlap:
        raise ValueError(f"conditions {sorted(overlap)} are in both train_conditions and test_conditions")
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction}")
    classes = tuple(classes)
    train, val, test = [], [], []
    for rec in _usable(recordings, classes):
        if rec.condition in train_conditions:
            cut = int(np.floor((1.0 - val_fraction) * rec.num_samples))
            train.append((rec, 0, cut))
            val.append((rec, cut, rec.num_samples))
        elif rec.condition in test_conditions:
            test.append((rec, 0, rec.num_samples))
    eval_hop = eval_hop or hop
    return {
        "train": _windows(train, window=window, hop=hop, classes=classes),
        "val": _windows(val, window=window, hop=eval_hop, classes=classes),
        "test": _windows(test, window=window, hop=eval_hop, classes=classes),
    }
