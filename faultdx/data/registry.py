"""One registry from dataset name to dataset class: a new dataset is one module (fulfilling
:class:`faultdx.data.base.BearingDataset`) plus one line here — or one :func:`register` call from outside."""

from __future__ import annotations

from importlib import import_module
from inspect import signature

from faultdx.data.base import BearingDataset

_DATASETS: dict[str, str] = {
    "synthetic": "faultdx.data.synthetic:SyntheticDataset",
    "cwru": "faultdx.data.cwru:CWRUDataset",
    "mfpt": "faultdx.data.mfpt:MFPTDataset",
    "hit": "faultdx.data.hit:HitDataset",
    "simulated": "faultdx.data.simulated:RandomizedSimDataset",
}


def register(name: str, target: str) -> None:
    """Add dataset ``name`` = ``"package.module:Class"`` (imported when first used)."""
    if ":" not in target:
        raise ValueError(f"dataset target {target!r} must look like 'package.module:Class'")
    _DATASETS[name] = target


def unregister(name: str) -> None:
    """Remove dataset ``name`` (for tests and plugins that registered one)."""
    _DATASETS.pop(name, None)


def dataset_names() -> list[str]:
    """Names accepted by :func:`get_dataset`."""
    return list(_DATASETS)


def dataset_class(name: str) -> type:
    """The class registered under ``name`` (ValueError listing the valid names otherwise)."""
    if name not in _DATASETS:
        raise ValueError(f"unknown dataset {name!r}; valid datasets: {', '.join(_DATASETS)}")
    module, attr = _DATASETS[name].split(":")
    return getattr(import_module(module), attr)


def get_dataset(name: str, **options) -> BearingDataset:
    """Build dataset ``name`` with its options (e.g. ``get_dataset("cwru", sampling_rate=12000)``)."""
    cls = dataset_class(name)
    valid = [p for p in signature(cls).parameters if p != "self"]
    unknown = [k for k in options if k not in valid]
    if unknown:
        raise ValueError(
            f"dataset {name!r} has no option(s) {', '.join(unknown)}; valid options: {', '.join(valid)}"
        )
    return cls(**options)
