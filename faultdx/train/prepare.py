"""From a run config to windowed train / val / test splits, plus the provenance a model directory records."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from faultdx.data.base import Recording, WindowSet
from faultdx.data.bearing import bearing_from
from faultdx.data.checksum import file_sha256
from faultdx.data.registry import get_dataset
from faultdx.data.splits import concat_windows, condition_split, holdout_split, size_split, time_split
from faultdx.paths import data_dir
from faultdx.train.config import RunConfig


@dataclass
class PreparedData:
    """The splits of one run and where they came from."""

    splits: dict[str, WindowSet]
    classes: tuple[str, ...]
    sampling_rate: float
    recordings: list[Recording]
    dataset: dict[str, Any]

    def conditions_of(self, split: str) -> list[float]:
        """Operating condition of every window of ``split`` (e.g. motor load in HP)."""
        windows = self.splits[split]
        by_key = {r.key: r.condition for r in self.recordings}
        return [by_key[windows.keys[i]] for i in windows.recording]


def eval_hop(config: RunConfig) -> int:
    return config.data.eval_hop or config.data.window // 2


def prepare_data(config: RunConfig, *, conditions: list[float] | None = None) -> PreparedData:
    """Load the recordings of ``config.data`` and split them by ``config.split`` (leakage-free)."""
    recordings, classes = _main_recordings(config, conditions)
    splits, tested = _split(config, recordings, classes)
    mixed = _mix_recordings(config, recordings[0].sampling_rate)
    if mixed:
        extra = holdout_split(
            mixed, [], window=config.data.window, hop=config.data.hop, val_fraction=config.split.val_fraction,
            classes=classes, eval_hop=eval_hop(config),
        )
        splits = {**splits, "train": concat_windows([splits["train"], extra["train"]]),
                  "val": concat_windows([splits["val"], extra["val"]])}
    for name, windows in splits.items():
        if len(windows) == 0:
            raise ValueError(f"the {name} split is empty: check data.window, split settings and conditions")
    return PreparedData(
        splits=splits,
        classes=classes,
        sampling_rate=float(recordings[0].sampling_rate),
        recordings=recordings + tested + mixed,
        dataset=_provenance(config, recordings + tested),
    )


def prepare_test(config: RunConfig) -> WindowSet:
    """Only the test windows of ``config`` (the mixed-in training data never reaches the test split), without
    loading the mix: what a protocol scores a finished run on."""
    if config.split.protocol == "rig" and config.data.name == "simulated":
        windows = _simulated_rig_test(config)  # simulating the training machines would only give their rate
    else:
        recordings, classes = _main_recordings(config, None)
        windows = _split(config, recordings, classes)[0]["test"]
    if len(windows) == 0:
        raise ValueError("the test split is empty: check data.window, split settings and conditions")
    return windows


def _simulated_rig_test(config: RunConfig) -> WindowSet:
    """The test windows of a rig protocol whose main dataset is the simulator (protocol rig-out)."""
    dataset = get_dataset(config.data.name, **config.data.options)
    classes = tuple(c for c in dataset.classes if c not in config.data.exclude_classes)
    options = {"sampling_rate": dataset.sampling_rate, **config.split.test_data.options}
    tested = _load(config.split.test_data.name, options, config, "split.test_data")
    return holdout_split([], tested, window=config.data.window, hop=config.data.hop, classes=classes,
                         eval_hop=eval_hop(config), val_fraction=config.split.val_fraction)["test"]


def _main_recordings(
    config: RunConfig, conditions: list[float] | None
) -> tuple[list[Recording], tuple[str, ...]]:
    """The main dataset's recordings of the classes kept, and those classes."""
    try:
        dataset = get_dataset(config.data.name, **config.data.options)
    except (TypeError, ValueError) as err:
        raise ValueError(f"data.options: {err}") from err
    recordings = dataset.recordings(conditions=conditions, channels=tuple(config.data.channels))
    if not recordings:
        raise ValueError(
            f"dataset {config.data.name!r} has no recordings under {str(data_dir())!r}; set FAULTDX_DATA "
            "or fetch it with `faultdx data fetch`"
        )
    unknown = sorted(set(config.data.exclude_classes) - set(dataset.classes))
    if unknown:
        raise ValueError(f"data.exclude_classes: unknown class(es) {unknown}; valid: {list(dataset.classes)}")
    classes = tuple(c for c in dataset.classes if c not in config.data.exclude_classes)
    return [r for r in recordings if r.label in classes], classes


def _split(
    config: RunConfig, recordings: list[Recording], classes: tuple[str, ...]
) -> tuple[dict[str, WindowSet], list[Recording]]:
    """The protocol's train / val / test windows, and the recordings of another dataset tested on."""
    split = config.split
    common = {"window": config.data.window, "hop": config.data.hop, "classes": classes,
              "eval_hop": eval_hop(config)}
    if split.protocol == "time":
        return time_split(recordings, fractions=split.fractions, **common), []
    if split.protocol == "condition":
        return condition_split(
            recordings, train_conditions=split.train_conditions, test_conditions=split.test_conditions,
            val_fraction=split.val_fraction, **common,
        ), []
    if split.protocol == "size":
        held_out = size_split(recordings, test_size=split.test_size, val_fraction=split.val_fraction,
                              **common)
        return held_out, []
    options = {"sampling_rate": recordings[0].sampling_rate, **split.test_data.options}
    tested = _load(split.test_data.name, options, config, "split.test_data")
    return holdout_split(recordings, tested, val_fraction=split.val_fraction, **common), tested


def _mix_recordings(config: RunConfig, rate: float) -> list[Recording]:
    out = []
    for i, source in enumerate(config.data.mix):
        where = f"data.mix[{i}]"
        if source.sensors:
            recordings = [_as_input(r, config) for sensor in source.sensors
                          for r in _load(source.name, source.options, config, where, (sensor,))]
        else:
            recordings = _load(source.name, source.options, config, where)
        if any(r.sampling_rate != rate for r in recordings):
            raise ValueError(f"data.mix[{i}]: recordings must be at {rate:g} Hz like the main dataset "
                             "(set its options.sampling_rate)")
        out += recordings
    return out


def _as_input(rec: Recording, config: RunConfig) -> Recording:
    """Another sensor's recording presented as the model's input channel (its key names the sensor)."""
    sensor = "+".join(rec.channels)
    return replace(rec, key=f"{rec.key}/{sensor}", channels=tuple(config.data.channels),
                   meta={**rec.meta, "sensor": sensor})


def _load(
    name: str, options: dict[str, Any], config: RunConfig, where: str, channels: tuple[str, ...] | None = None
) -> list[Recording]:
    try:
        dataset = get_dataset(name, **options)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{where}.options: {err}") from err
    recordings = dataset.recordings(channels=channels or tuple(config.data.channels))
    if not recordings:
        raise ValueError(f"{where}: dataset {name!r} has no recordings under {str(data_dir())!r}")
    return recordings


def _provenance(config: RunConfig, recordings: list[Recording]) -> dict[str, Any]:
    files = []
    for rec in sorted(recordings, key=lambda r: r.key):
        source = Path(rec.source) if rec.source else None
        sha = rec.sha256 or (file_sha256(source) if source is not None and source.is_file() else None)
        files.append({"file": _relative(source) if source is not None else rec.key, "sha256": sha})
    return {"name": config.data.name, "options": config.data.options, "files": files}


def _relative(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(data_dir().resolve()))
    except ValueError:
        return path.name


def bearing_of(data: PreparedData) -> dict[str, Any] | None:
    """The bearing a model trained on ``data`` diagnoses by default: that of its first recording."""
    first = data.recordings[0].bearing if data.recordings else None
    return None if first is None else bearing_from(first).as_request()
