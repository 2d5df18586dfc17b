"""Transfer protocols: recipes x seeds trained on every fold of ``time``, ``load``, ``size`` and ``rig``, the
envelope reference scored on the very same test windows, and every figure in ``results/protocols.json``.

A fold is a set of split options (``split.protocol=size``, ``split.test_size=014``); a recipe is a name and a
list of ``--set`` overrides (the network and its training data). The config of one run is, in order: the
config file <- the recipe <- the ``--set`` overrides of the whole sweep <- the fold's split options (the
protocol always wins, so a recipe cannot leak test recordings into training).

Besides the window-level figures of each run's ``test.json`` it scores recordings: the mean fault-type
probability of a recording's windows, argmax, against the truth ("14 of 14 MFPT recordings right").
"""

from __future__ import annotations

import copy
import json
import math
import re
import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from faultdx.atomic import write_text_atomic
from faultdx.data.base import FAULT_TYPES, WindowSet, type_membership
from faultdx.train.compare import SELECTIONS, train_missing
from faultdx.train.config import (
    ConfigError,
    RunConfig,
    parse_override,
    read_config_file,
    set_dotted,
    validate_config,
)
from faultdx.train.metrics import expected_calibration_error, macro_f1

RECORDINGS_FILE = "recordings.json"  # per run: recording-level figures of best and last (computed once)
ENVELOPE = "envelope"


@dataclass(frozen=True)
class Fold:
    """One train/test division of a protocol: split options, and classes dropped from the data."""

    protocol: str
    name: str
    settings: dict[str, Any] = field(hash=False)
    exclude: tuple[str, ...] = ()


@dataclass(frozen=True)
class Protocol:
    """A named list of folds, and the ``test.json`` figures it reports."""

    name: str
    description: str
    folds: tuple[Fold, ...]
    metrics: tuple[str, ...] = ("type_accuracy", "type_macro_f1")


def _load_folds() -> tuple[Fold, ...]:
    from faultdx.data.cwru import CWRUDataset

    loads = CWRUDataset.conditions  # the protocol is CWRU's: its motor loads
    return tuple(
        Fold("load", f"test{c:g}hp", {"split.protocol": "condition",
                                      "split.train_conditions": [o for o in loads if o != c],
                                      "split.test_conditions": [c]},
             exclude=("normal",))  # CWRU's normal class exists only at 0 HP
        for c in loads
    )


# The real rigs of the project, each a data source at the models' 12 kHz (CWRU by fault type, not size class).
RIG_SOURCES: dict[str, dict[str, Any]] = {
    "cwru": {"name": "cwru", "options": {"label_set": "4class", "sampling_rate": 12000}},
    "mfpt": {"name": "mfpt", "options": {"sampling_rate": 12000}},
    "hit_mfs": {"name": "hit", "options": {"rig": "mfs", "sampling_rate": 12000}},
    "hit_self_built": {"name": "hit", "options": {"rig": "self_built", "sampling_rate": 12000}},
}
RIG_OUT_MACHINES = 600  # simulated machines the rig-out models train on beside the real rigs


def rig_out_folds(machines: int = RIG_OUT_MACHINES) -> tuple[Fold, ...]:
    """Each real rig held out in turn: the simulator (the main dataset, classes = fault types, ``machines``
    random machines) plus the other rigs train; the held-out rig's every recording, healthy ones included, is
    the test split."""
    return tuple(
        Fold("rig-out", held_out, {
            "data.name": "simulated", "data.options": {"machines": machines},
            "data.exclude_classes": [],
            "data.mix": [copy.deepcopy(source) for rig, source in RIG_SOURCES.items() if rig != held_out],
            "split.protocol": "rig", "split.test_data": copy.deepcopy(RIG_SOURCES[held_out]),
        })
        for held_out in RIG_SOURCES
    )


PROTOCOLS: dict[str, Protocol] = {
    "time": Protocol(
        "time", "CWRU 10 classes, head/middle/tail of every recording",
        (Fold("time", "all", {"split.protocol": "time"}),),
        ("type_accuracy", "type_macro_f1", "accuracy", "type_accuracy_snr_-4dB"),
    ),
    "load": Protocol("load", "9 fault classes, train on three loads, test on the fourth", _load_folds(),
                     ("type_accuracy", "type_macro_f1", "accuracy", "type_accuracy_snr_-4dB")),
    "size": Protocol(
        "size", "leave one fault size (other physical bearings) out",
        tuple(Fold("size", f"test{s}", {"split.protocol": "size", "split.test_size": s})
              for s in ("007", "014", "021")),
    ),
    "rig": Protocol(
        "rig", "train on CWRU, test on MFPT at its own rpm and bearing",
        (Fold("rig", "mfpt", {"split.protocol": "rig", "split.test_data": {"name": "mfpt"}}),),
    ),
    "rig-out": Protocol(
        "rig-out",
        "each real rig held out in turn (healthy recordings included); train on the others + simulator",
        rig_out_folds(),
    ),
}


@dataclass(frozen=True)
class Recipe:
    """How a network is built and trained: a name and ``--set`` overrides."""

    name: str
    overrides: tuple[str, ...]

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", self.name):
            raise ConfigError(f"recipe name {self.name!r}: use letters, digits, '_', '-', '.' only")
        for item in self.overrides:
            parse_override(item)


_PHYSICS = ("model.preset=physics", "data.mix=[{name: simulated, options: {machines: 600}}]",
            "augment.context_jitter=0.03", "augment.path_db=10", "data.hop=2048", "epochs=8")
_HYBRID = (*_PHYSICS, "model.activation=aprelu", "model.overrides={frontend: hybrid}")
RECIPES: dict[str, Recipe] = {
    "physics-aprelu": Recipe("physics-aprelu", (*_PHYSICS, "model.activation=aprelu")),
    "physics-relu": Recipe("physics-relu", (*_PHYSICS, "model.activation=relu")),
    "raw-aprelu": Recipe("raw-aprelu", ("model.preset=small", "model.activation=aprelu", "data.mix=[]",
                                        "data.hop=1024", "epochs=8")),
    "hybrid-aprelu": Recipe("hybrid-aprelu", _HYBRID),
    "hybrid-relu": Recipe("hybrid-relu", (*_PHYSICS, "model.activation=relu",
                                          "model.overrides={frontend: hybrid}")),
    # the ablation: hybrid-aprelu with one training ingredient removed
    "no-sim": Recipe("no-sim", (*_HYBRID, "data.mix=[]")),
    "no-path": Recipe("no-path", (*_HYBRID, "augment.path_db=0")),
    "no-jitter": Recipe("no-jitter", (*_HYBRID, "augment.context_jitter=0")),
}


def parse_recipe(text: str) -> Recipe:
    """``"name=override;override"`` -> :class:`Recipe`."""
    name, sep, rest = text.partition("=")
    if not sep:
        raise ConfigError(f"recipe {text!r} must look like name=section.option=value;section.option=value")
    return Recipe(name.strip(), tuple(s.strip() for s in rest.split(";") if s.strip()))


def load_recipes(path: str | Path) -> dict[str, Recipe]:
    """Recipes from a YAML/JSON/TOML file mapping each name to its list of overrides."""
    out = {}
    for name, overrides in read_config_file(path).items():
        if not isinstance(overrides, list):
            raise ConfigError(f"{path}: recipe {name!r} must be a list of overrides")
        out[name] = Recipe(str(name), tuple(str(o) for o in overrides))
    return out


def resolve_recipes(names: list[str], extra: dict[str, Recipe] | None = None) -> list[Recipe]:
    """The recipes called ``names``, from ``extra`` first, then :data:`RECIPES`."""
    known = {**RECIPES, **(extra or {})}
    missing = [n for n in names if n not in known]
    if missing:
        raise ConfigError(f"unknown recipe(s) {missing}; known: {', '.join(known)}")
    return [known[n] for n in names]


def resolve_protocols(names: list[str]) -> list[Protocol]:
    """The protocols called ``names``."""
    missing = [n for n in names if n not in PROTOCOLS]
    if missing:
        raise ConfigError(f"unknown protocol(s) {missing}; valid: {', '.join(PROTOCOLS)}")
    return [PROTOCOLS[n] for n in names]


@dataclass(frozen=True)
class ProtocolRun:
    """One training run: a fold, a recipe, a seed."""

    fold: Fold
    recipe: Recipe
    seed: int

    @property
    def name(self) -> str:
        return f"{self.fold.protocol}/{self.fold.name}/{self.recipe.name}-s{self.seed}"


def plan(protocols: list[Protocol], recipes: list[Recipe], seeds: list[int]) -> list[ProtocolRun]:
    """Seed by seed, so that a first seed of every protocol is done before the second starts."""
    return [ProtocolRun(fold, recipe, seed)
            for seed in seeds for p in protocols for fold in p.folds for recipe in recipes]


def fold_config(
    base: dict[str, Any],
    fold: Fold,
    *,
    recipe: Recipe | None = None,
    overrides: list[str] | tuple[str, ...] = (),
    **fields: Any,
) -> RunConfig:
    """``base`` (a raw config dict) <- recipe <- ``overrides`` <- dotted ``fields`` <- the fold's split."""
    raw = copy.deepcopy(base)
    for item in (*(recipe.overrides if recipe else ()), *overrides):
        set_dotted(raw, *parse_override(item))
    for key, value in fields.items():
        set_dotted(raw, key, value)
    for key, value in fold.settings.items():
        set_dotted(raw, key, copy.deepcopy(value))
    if fold.exclude:
        data = raw.setdefault("data", {})
        data["exclude_classes"] = list(dict.fromkeys([*data.get("exclude_classes", []), *fold.exclude]))
    return validate_config(raw)


def run_config(base: dict[str, Any], run: ProtocolRun, out: Path, overrides: list[str]) -> RunConfig:
    """The config of one planned run, writing to ``out/run.name``."""
    return fold_config(base, run.fold, recipe=run.recipe, overrides=overrides,
                       seed=run.seed, out_dir=str(out), name=run.name)


# ---- scoring --------------------------------------------------------------------------------------------


def fold_test_windows(config: RunConfig) -> WindowSet:
    """The test windows of ``config`` (the mixed-in training data never reaches the test split)."""
    from faultdx.train.prepare import prepare_test

    return prepare_test(config)


def _windows_key(config: RunConfig) -> str:
    data = config.data.model_dump(mode="json", exclude={"mix", "hop"})
    return json.dumps([data, config.split.model_dump(mode="json")], sort_keys=True)


class WindowCache:
    """Test windows by the options that decide them (recipes that differ only in training share them)."""

    def __init__(self) -> None:
        self._cache: dict[str, WindowSet] = {}

    def get(self, config: RunConfig) -> WindowSet:
        key = _windows_key(config)
        if key not in self._cache:
            self._cache[key] = fold_test_windows(config)
        return self._cache[key]


def score(
    model: torch.nn.Module,
    membership: np.ndarray,
    windows: WindowSet,
    *,
    device: torch.device,
    batch_size: int = 512,
    snr_db: float | None = None,
) -> dict[str, Any]:
    """Fault-type accuracy, macro-F1 and recordings right of ``model`` (classes -> fault types by
    ``membership [K, 4]``) on ``windows``, through the training code's prediction path."""
    from faultdx.train.device import resolve_precision
    from faultdx.train.loop import DeviceSplit, predict_logits
    from faultdx.train.losses import type_log_probs
    from faultdx.train.run import TEST_SEED

    split = DeviceSplit.from_windows(windows, device)
    logits = predict_logits(model.to(device), split.x, split.context, batch_size=batch_size,
                            precision=resolve_precision("auto", device), snr_db=snr_db, seed=TEST_SEED)
    log_p = type_log_probs(logits, torch.as_tensor(membership, dtype=torch.float32, device=device))
    predicted = log_p.argmax(1)
    probs = log_p.exp().cpu().numpy()
    right, count = recordings_right(probs, windows.recording, windows.fault_type)
    healthy = windows.fault_type == FAULT_TYPES.index("normal")
    called_normal = predicted.cpu().numpy() == FAULT_TYPES.index("normal")
    return {
        "specificity": float(called_normal[healthy].mean()) if healthy.any() else None,
        "fault_recall": float((~called_normal[~healthy]).mean()) if (~healthy).any() else None,
        "type_accuracy": (predicted == split.fault_type).float().mean().item(),
        "type_ece": expected_calibration_error(probs, windows.fault_type),
        "type_macro_f1": macro_f1(windows.fault_type, predicted.cpu().numpy()),
        "recording_accuracy": right / count if count else None,
        "recordings_right": right,
        "recordings": count,
        "windows": len(windows),
    }


def recordings_right(probs: np.ndarray, recording: np.ndarray, truth: np.ndarray) -> tuple[int, int]:
    """Per recording: mean window fault-type probability ``probs [N, 4]``, argmax, against ``truth [N]``.
    Returns (recordings right, recordings)."""
    right = 0
    ids = np.unique(recording)
    for r in ids:
        mine = recording == r
        right += int(probs[mine].mean(axis=0).argmax() == truth[mine][0])
    return right, len(ids)


def envelope_model(windows: WindowSet, *, normal: bool = True) -> torch.nn.Module:
    """The envelope reference for ``windows``' length and sampling rate. ``normal=False`` never answers
    normal (argmax of the defect evidence alone: the brief's figure on fault recordings)."""
    from faultdx.baselines.envelope import EnvelopeConfig, load_envelope

    config = EnvelopeConfig() if normal else EnvelopeConfig(threshold=1e-6)
    return load_envelope(window=int(windows.x.shape[-1]), sampling_rate=windows.sampling_rate,
                         config=config).model


ENVELOPES = {"envelope": True, "envelope_faults_only": False}  # result key -> may answer normal


def envelope_membership() -> np.ndarray:
    """The envelope reference's classes are the fault types themselves."""
    return np.eye(len(FAULT_TYPES), dtype=np.float32)


def _run_recordings(run_dir: Path, windows: WindowSet, device: torch.device) -> dict[str, Any]:
    """Recording-level figures of ``best`` and ``last`` of a finished run (cached in the run folder)."""
    from faultdx.modeldir import load_model_dir

    path = run_dir / RECORDINGS_FILE
    if path.is_file():
        return json.loads(path.read_text(encoding="utf-8"))
    out = {}
    for which in SELECTIONS:
        loaded = load_model_dir(run_dir / which, device=device)
        figures = score(loaded.model, type_membership(loaded.meta.classes), windows, device=device)
        keys = ("recording_accuracy", "recordings_right", "recordings", "type_ece")
        out[which] = {k: figures[k] for k in keys}
    write_text_atomic(path, json.dumps(out, indent=1) + "\n")
    return out


# ---- the sweep ------------------------------------------------------------------------------------------


def run_protocols(
    recipes: list[Recipe],
    protocols: list[Protocol],
    seeds: list[int],
    out: Path,
    base_overrides: list[str] | None = None,
    log: Callable[[str], None] = print,
    *,
    config_path: Path | None = None,
    command: str | None = None,
    train: bool = True,
    results_name: str = "protocols",
) -> dict[str, Any]:
    """Train every fold x recipe x seed not finished yet (unless ``train`` is False), score the finished runs
    and the envelope reference on every fold, and write ``results/protocols.json``; returns its ``data``."""
    from faultdx.results import write_result
    from faultdx.train.device import resolve_device

    out = Path(out)
    overrides = list(base_overrides or [])
    base = read_config_file(config_path) if config_path is not None else {}
    runs = plan(protocols, recipes, seeds)
    for i, run in enumerate(runs if train else [], start=1):
        train_missing(out / run.name, lambda run=run: run_config(base, run, out, overrides),
                      label=f"[{i}/{len(runs)}] {run.name}", log=log)
    device = resolve_device(run_config(base, runs[0], out, overrides).device if runs else "auto")
    cache = WindowCache()
    rows = [_run_row(run, out, run_config(base, run, out, overrides), cache, device) for run in runs]
    rows = [r for r in rows if r is not None]
    envelope = _envelope(protocols, base, recipes, overrides, cache, device, log)
    data = {
        "out": str(out),
        "seeds": seeds,
        "overrides": overrides,
        "config": str(config_path) if config_path else None,
        "protocols": {p.name: {"description": p.description, "folds": [f.name for f in p.folds]}
                      for p in protocols},
        "recipes": {r.name: list(r.overrides) for r in recipes},
        "runs": rows,
        "summary": summarise(rows, protocols, recipes),
        **envelope,
    }
    data = json_safe(data)
    path = write_result(results_name, data, command=command)
    log(f"wrote {path}")
    return data


def _run_row(
    run: ProtocolRun, out: Path, config: RunConfig, cache: WindowCache, device: torch.device
) -> dict[str, Any] | None:
    run_dir = out / run.name
    if not (run_dir / "test.json").is_file():
        return None  # another process is still training it
    test = json.loads((run_dir / "test.json").read_text(encoding="utf-8"))
    recordings = _run_recordings(run_dir, cache.get(config), device)
    records = (run_dir / "metrics.jsonl").read_text(encoding="utf-8").splitlines()
    return {
        "protocol": run.fold.protocol,
        "fold": run.fold.name,
        "recipe": run.recipe.name,
        "seed": run.seed,
        "run": run.name,
        "seconds": json.loads(records[-1])["elapsed_s"] if records else None,
        **{which: {**test[which], **recordings[which]} for which in SELECTIONS},
    }


def _envelope(
    protocols: list[Protocol],
    base: dict[str, Any],
    recipes: list[Recipe],
    overrides: list[str],
    cache: WindowCache,
    device: torch.device,
    log: Callable[[str], None],
) -> dict[str, Any]:
    """The envelope reference on each fold's test windows (those of the first recipe's config), with and
    without its normal decision."""
    results: dict[str, Any] = {key: {} for key in ENVELOPES}
    for protocol in protocols:
        for key, normal in ENVELOPES.items():
            folds = {}
            for fold in protocol.folds:
                config = fold_config(base, fold, recipe=recipes[0] if recipes else None, overrides=overrides)
                windows = cache.get(config)
                model = envelope_model(windows, normal=normal)
                folds[fold.name] = score(model, envelope_membership(), windows, device=device)
                if protocol.name in ("time", "load"):
                    noisy = score(model, envelope_membership(), windows, device=device, snr_db=-4.0)
                    folds[fold.name]["type_accuracy_snr_-4dB"] = noisy["type_accuracy"]
            results[key][protocol.name] = {"folds": folds, **pool_folds(list(folds.values()))}
    return results


def pool_folds(folds: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean over folds of the window and recording figures; recordings right and counted, summed."""
    out: dict[str, Any] = {}
    for key in ("type_accuracy", "type_macro_f1", "recording_accuracy", "type_ece", "type_accuracy_snr_-4dB"):
        values = [f[key] for f in folds if f.get(key) is not None]
        if values:
            out[key] = statistics.fmean(values)
    out["recordings_right"] = sum(f["recordings_right"] for f in folds)
    out["recordings"] = sum(f["recordings"] for f in folds)
    return out


def summarise(
    rows: list[dict[str, Any]], protocols: list[Protocol], recipes: list[Recipe]
) -> dict[str, Any]:
    """Per protocol x recipe: per fold and overall (mean over folds per seed, seeds with every fold done)
    mean ± std over seeds of each figure, for best-on-validation and last epoch."""
    summary: dict[str, Any] = {}
    for protocol in protocols:
        metrics = (*protocol.metrics, "recording_accuracy", "type_ece")
        for recipe in recipes:
            mine = [r for r in rows if r["protocol"] == protocol.name and r["recipe"] == recipe.name]
            folds = {f.name: {sel: {m: stats([r[sel].get(m) for r in mine if r["fold"] == f.name])
                                    for m in metrics} for sel in SELECTIONS} for f in protocol.folds}
            overall = {sel: {m: stats(_fold_means(mine, sel, m, len(protocol.folds))) for m in metrics}
                       for sel in SELECTIONS}
            seeds = sorted({r["seed"] for r in mine})
            summary.setdefault(protocol.name, {})[recipe.name] = {
                "seeds": seeds, "folds": folds, "overall": overall}
    return summary


def _fold_means(rows: list[dict[str, Any]], selection: str, metric: str, folds: int) -> list[float]:
    by_seed: dict[int, list[float]] = {}
    for r in rows:
        value = r[selection].get(metric)
        if value is not None:
            by_seed.setdefault(r["seed"], []).append(value)
    return [statistics.fmean(v) for _, v in sorted(by_seed.items()) if len(v) == folds]


def stats(values: list[float | None]) -> dict[str, Any]:
    """``{"mean", "std" (None below two values), "n", "values"}`` of the finite values given."""
    values = [float(v) for v in values if v is not None and math.isfinite(v)]
    return {
        "mean": statistics.fmean(values) if values else None,
        "std": statistics.stdev(values) if len(values) > 1 else None,
        "n": len(values),
        "values": values,
    }


def json_safe(value: Any) -> Any:
    """``value`` with every non-finite float replaced by None (results JSON never holds NaN)."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, float | np.floating):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    return value


# ---- one model on one protocol --------------------------------------------------------------------------


def evaluate_protocol(
    target: str,
    protocol: str,
    *,
    overrides: list[str] | None = None,
    folds: list[str] | None = None,
    device: str = "auto",
) -> dict[str, Any]:
    """Score one model directory / run folder / model name (or ``"envelope"``) on the test windows of each
    fold of ``protocol``: fault-type accuracy, macro-F1, recordings right, and their mean over folds.

    A trained model keeps its own data options (window, channels, excluded classes); the fold decides the
    split. On a multi-fold protocol a model trained on one fold has seen the others' test recordings: pass
    ``folds`` to score only the one it was trained for."""
    from faultdx.modeldir import load_model_dir, resolve_model
    from faultdx.train.device import resolve_device
    from faultdx.train.report import config_from_meta

    torch_device = resolve_device(device)
    (chosen,) = resolve_protocols([protocol])
    model: torch.nn.Module | None = None
    if target == ENVELOPE:
        membership, base = envelope_membership(), {}
    else:
        loaded = load_model_dir(resolve_model(target), device=torch_device)
        model, membership = loaded.model, type_membership(loaded.meta.classes)
        base = config_from_meta(loaded.meta).model_dump(mode="json")
    unknown = sorted(set(folds or []) - {f.name for f in chosen.folds})
    if unknown:
        valid = [f.name for f in chosen.folds]
        raise ValueError(f"unknown fold(s) {unknown} of {protocol!r}; valid: {valid}")
    scored = {}
    for fold in chosen.folds:
        if not folds or fold.name in folds:
            windows = fold_test_windows(fold_config(base, fold, overrides=overrides or []))
            scorer = model if target != ENVELOPE else envelope_model(windows)
            if scorer is None:
                raise ValueError("the envelope reference (faultdx.baselines.envelope) is not in this tree")
            scored[fold.name] = score(scorer, membership, windows, device=torch_device)
    pooled = pool_folds(list(scored.values()))
    return json_safe({"model": target, "protocol": protocol, "folds": scored, **pooled})


def format_evaluation(result: dict[str, Any]) -> str:
    """Markdown table of :func:`evaluate_protocol`'s figures."""
    lines = [f"{result['model']} on protocol {result['protocol']}:", "",
             "| fold | windows | healthy → normal | faults found | fault type | macro-F1 | recordings "
             "right |",
             "|---|---|---|---|---|---|---|"]
    for name, f in result["folds"].items():
        found = [("–" if f.get(k) is None else f"{100 * f[k]:.2f}") for k in ("specificity", "fault_recall")]
        lines.append(f"| {name} | {f['windows']} | {found[0]} | {found[1]} | "
                     f"{100 * f['type_accuracy']:.2f} | {100 * f['type_macro_f1']:.2f} | "
                     f"{f['recordings_right']} of {f['recordings']} |")
    lines.append(f"| mean | | | | {100 * result['type_accuracy']:.2f} | "
                 f"{100 * result['type_macro_f1']:.2f} | "
                 f"{result['recordings_right']} of {result['recordings']} |")
    return "\n".join(lines) + "\n"
