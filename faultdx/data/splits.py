"""Leakage-free splits: each recording is cut in time into segments *before* windowing.

No window crosses a segment boundary and no sample belongs to two splits, so a network is never evaluated on
samples it saw in training. ``WindowSet.start`` records each window's first sample so this can be audited.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from faultdx.data.base import FAULT_TYPES, Recording, WindowSet, fault_type_of
from faultdx.data.bearing import bearing_from, context_vector
from faultdx.data.windows import frame

SPLIT_NAMES = ("train", "val", "test")
Segment = tuple[Recording, int, int]  # (recording, first sample, end sample)


def _check_fractions(fractions: Sequence[float]) -> None:
    if len(fractions) != 3 or any(f < 0 for f in fractions) or not 0.999 <= sum(fractions) <= 1.001:
        raise ValueError(f"fractions must be three non-negative numbers summing to 1, got {tuple(fractions)}")


def _usable(recordings: Sequence[Recording], classes: tuple[str, ...]) -> list[Recording]:
    """Recordings whose label is one of ``classes``, or is a bare fault type whose classes are among them
    (simulated and other rigs' recordings); others are left out, e.g. normal in a 9-class split."""
    wanted = set(classes)
    types = {fault_type_of(c) for c in classes}
    usable = [r for r in recordings if r.label in wanted or (r.label in FAULT_TYPES and r.label in types)]
    rates = {r.sampling_rate for r in usable}
    if len(rates) > 1:
        raise ValueError(f"recordings have different sampling rates {sorted(rates)}; resample them first")
    return usable


def recording_context(rec: Recording) -> np.ndarray:
    """The context vector of a recording (NaN when its rpm or bearing is unknown)."""
    if rec.rpm is None or rec.bearing is None:
        return np.full(5, np.nan, dtype=np.float32)
    return context_vector(bearing_from(rec.bearing), rec.rpm, rec.sampling_rate)


def _windows(segments: list[Segment], *, window: int, hop: int, classes: tuple[str, ...]) -> WindowSet:
    """Window each segment and stack the results into one WindowSet."""
    keys: dict[str, int] = {}
    xs, ys, recs, starts, types, contexts = [], [], [], [], [], []
    for rec, begin, end in segments:
        idx = keys.setdefault(rec.key, len(keys))
        windows = frame(rec.signal[:, begin:end], window, hop)  # [n, C, W] view
        n = windows.shape[0]
        if n == 0:
            continue
        xs.append(windows)
        ys.append(np.full(n, classes.index(rec.label) if rec.label in classes else -1, dtype=np.int64))
        types.append(np.full(n, FAULT_TYPES.index(rec.fault_type), dtype=np.int64))
        contexts.append(np.repeat(recording_context(rec)[None], n, axis=0))
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
        keys=tuple(keys), sampling_rate=float(rate), fault_type=cat(types),
        context=np.concatenate(contexts) if contexts else np.empty((0, 5), dtype=np.float32),
    )


def concat_windows(sets: Sequence[WindowSet]) -> WindowSet:
    """One WindowSet holding the windows of ``sets`` (same classes and rate; recording indices re-based)."""
    first = sets[0]
    offsets = np.cumsum([0] + [len(s.keys) for s in sets[:-1]])
    return WindowSet(
        x=np.concatenate([s.x for s in sets]),
        y=np.concatenate([s.y for s in sets]),
        recording=np.concatenate([s.recording + o for s, o in zip(sets, offsets, strict=True)]),
        start=np.concatenate([s.start for s in sets]),
        classes=first.classes,
        keys=tuple(k for s in sets for k in s.keys),
        sampling_rate=first.sampling_rate,
        fault_type=np.concatenate([s.fault_type for s in sets]),
        context=np.concatenate([s.context for s in sets]),
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


def holdout_split(
    train_recordings: Sequence[Recording],
    test_recordings: Sequence[Recording],
    *,
    window: int,
    hop: int,
    val_fraction: float = 0.15,
    classes: Sequence[str],
    eval_hop: int | None = None,
) -> dict[str, WindowSet]:
    """Train on some recordings, test on others (other loads, fault sizes, rigs).

    train = the first ``1 - val_fraction`` of each training recording, val = its tail, test = the whole test
    recordings (windowed with ``eval_hop``). Recordings outside ``classes`` are left out.
    """
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction}")
    classes = tuple(classes)
    train, val = [], []
    for rec in _usable(train_recordings, classes):
        cut = int(np.floor((1.0 - val_fraction) * rec.num_samples))
        train.append((rec, 0, cut))
        val.append((rec, cut, rec.num_samples))
    test = [(rec, 0, rec.num_samples) for rec in _usable(test_recordings, classes)]
    eval_hop = eval_hop or hop
    return {
        "train": _windows(train, window=window, hop=hop, classes=classes),
        "val": _windows(val, window=window, hop=eval_hop, classes=classes),
        "test": _windows(test, window=window, hop=eval_hop, classes=classes),
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
    """Train on some operating conditions, test on others (see :func:`holdout_split`).

    CWRU's normal class exists only at 0 HP, so by-load splits use the 9 fault classes.
    """
    overlap = set(train_conditions) & set(test_conditions)
    if overlap:
        raise ValueError(f"conditions {sorted(overlap)} are in both train_conditions and test_conditions")
    return holdout_split(
        [r for r in recordings if r.condition in train_conditions],
        [r for r in recordings if r.condition in test_conditions],
        window=window, hop=hop, val_fraction=val_fraction, classes=classes, eval_hop=eval_hop,
    )


def size_of(rec: Recording) -> str | None:
    """A CWRU recording's fault size as a class suffix (``"014"``), None for normal / unknown."""
    diameter = rec.meta.get("fault_diameter_in")
    return f"{round(float(diameter) * 1000):03d}" if diameter else None


def size_split(
    recordings: Sequence[Recording], *, test_size: str, **kwargs
) -> dict[str, WindowSet]:
    """Leave one fault size out: each size is a different physical bearing. Train (and validate) on the
    other sizes and normal; test on the faulty recordings of ``test_size``."""
    sizes = {size_of(r) for r in recordings} - {None}
    if test_size not in sizes:
        raise ValueError(f"split.test_size {test_size!r} is not among the sizes {sorted(sizes)}")
    test = [r for r in recordings if size_of(r) == test_size]
    return holdout_split([r for r in recordings if size_of(r) != test_size], test, **kwargs)
