"""From a run config to windowed train / val / test splits, plus the provenance a model directory records."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from faultdx.data.base import Recording, WindowSet
from faultdx.data.checksum import file_sha256
from faultdx.data.registry import get_dataset
from faultdx.data.splits import condition_split, time_split
from faultdx.paths import data_dir
from faultdx.train.config import RunConfig

#: Bearing of the instrumented position per dataset (recorded in the model directory).
_BEARINGS = {"cwru": "SKF_6205"}


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
    recordings = [r for r in recordings if r.label in classes]
    window, hop = config.data.window, config.data.hop
    if config.split.protocol == "time":
        splits = time_split(
            recordings,
            window=window,
            hop=hop,
            fractions=config.split.fractions,
            classes=classes,
            eval_hop=eval_hop(config),
        )
    else:
        splits = condition_split(
            recordings,
            train_conditions=config.split.train_conditions,
            test_conditions=config.split.test_conditions,
            window=window,
            hop=hop,
            val_fraction=config.split.val_fraction,
            classes=classes,
            eval_hop=eval_hop(config),
        )
    for name, windows in splits.items():
        if len(windows) == 0:
            raise ValueError(f"the {name} split is empty: check data.window, split settings and conditions")
    return PreparedData(
        splits=splits,
        classes=classes,
        sampling_rate=float(recordings[0].sampling_rate),
        recordings=recordings,
        dataset=_provenance(config, recordings),
    )


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


def bearing_of(dataset_name: str) -> dict[str, Any] | None:
    """Geometry of the bearing a dataset's models diagnose, as JSON (None when unknown)."""
    name = _BEARINGS.get(dataset_name)
    if name is None:
        return None
    try:
        from faultdx.data import bearing
    except ImportError:
        return None
    geometry = getattr(bearing, name, None)
    if geometry is None:
        return None
    from dataclasses import asdict, is_dataclass

    return asdict(geometry) if is_dataclass(geometry) else dict(vars(geometry))
