"""`faultdx evaluate`: score a trained model on its test split; write ``report.md`` with tables and pictures.

The data protocol is rebuilt from the model directory's own metadata (dataset, window, hops, split), so the
test windows are exactly the ones the run held out. Reported: accuracy, macro-F1, per-class precision /
recall, the confusion matrix (CSV + PNG), an SNR sweep (AWGN at -6 ... 10 dB, and clean) and accuracy by
operating condition (train conditions -> test condition).
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from faultdx.atomic import write_text_atomic
from faultdx.data.base import FAULT_TYPES
from faultdx.modeldir import LoadedModel, ModelMeta, load_model_dir, resolve_model
from faultdx.paths import runs_dir
from faultdx.train.config import RunConfig, parse_override, set_dotted, validate_config
from faultdx.train.device import resolve_device, resolve_precision
from faultdx.train.loop import DeviceSplit, predict_logits
from faultdx.train.losses import type_log_probs
from faultdx.train.metrics import ClassificationReport, classification_report
from faultdx.train.prepare import PreparedData, prepare_data

SNR_SWEEP_DB: tuple[float, ...] = (-6, -4, -2, 0, 2, 4, 6, 8, 10)
NOISE_SEED = 20_200_213  # the same as the run's final test, so figures agree


@dataclass
class Evaluation:
    """Everything `faultdx evaluate` measures for one model."""

    meta: ModelMeta
    report: ClassificationReport
    snr_sweep: dict[float, float]
    by_condition: dict[str, dict[float, float]]
    windows: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "model": self.meta.name,
            "test_windows": self.windows,
            **self.report.as_dict(),
            "snr_sweep": {f"{k:g}": v for k, v in self.snr_sweep.items()},
            "by_condition": {
                row: {f"{c:g}": a for c, a in cols.items()} for row, cols in self.by_condition.items()
            },
        }


def config_from_meta(
    meta: ModelMeta, *, dataset: str | None = None, overrides: list[str] | None = None
) -> RunConfig:
    """The data/split part of the run that produced ``meta`` (so the test split is the held-out one)."""
    protocol = meta.protocol
    raw: dict[str, Any] = {
        "data": {
            "name": meta.dataset.name,
            "options": getattr(meta.dataset, "options", None) or {},
            "channels": meta.channels,
            "window": meta.window,
            "hop": protocol.get("train_hop", meta.hop),
            "eval_hop": protocol.get("eval_hop", meta.hop),
            "exclude_classes": protocol.get("exclude_classes", []),
        },
        "split": protocol.get("split", {}),
    }
    if dataset is not None:
        raw["data"]["name"], raw["data"]["options"] = dataset, {}
    for item in overrides or []:
        key, value = parse_override(item)
        set_dotted(raw, key, value)
    return validate_config(raw)


def evaluate_model(
    loaded: LoadedModel,
    config: RunConfig,
    *,
    device: torch.device,
    data: PreparedData | None = None,
    snrs: tuple[float, ...] = SNR_SWEEP_DB,
) -> Evaluation:
    """Score ``loaded`` on the test split of ``config`` (clean, SNR sweep, by condition)."""
    data = data or prepare_data(config)
    if list(data.classes) != list(loaded.meta.classes):
        raise ValueError(
            f"the model's classes {loaded.meta.classes} differ from the data's {list(data.classes)}; "
            "pick a dataset with the same label set"
        )
    if data.sampling_rate != loaded.meta.sampling_rate:
        raise ValueError(f"data at {data.sampling_rate} Hz, the model expects {loaded.meta.sampling_rate} Hz")
    test = DeviceSplit.from_windows(data.splits["test"], device)
    precision = resolve_precision("auto", device)
    model = loaded.model.to(device)

    def predict(snr: float | None) -> np.ndarray:
        """Fault-type index of every test window (the primary answer; sizes are rig-specific)."""
        logits = predict_logits(
            model, test.x, test.context, batch_size=512, precision=precision, snr_db=snr, seed=NOISE_SEED
        )
        return type_log_probs(logits, test.membership).argmax(1).cpu().numpy()

    y = data.splits["test"].fault_type
    clean = predict(None)
    report = classification_report(y, clean, FAULT_TYPES)
    sweep = {float(snr): float(np.mean(predict(snr) == y)) for snr in snrs}
    conditions = np.asarray(data.conditions_of("test"))
    trained_on = config.split.train_conditions if config.split.protocol == "condition" else None
    row = "all (time split)" if trained_on is None else "+".join(f"{c:g}" for c in trained_on)
    by_condition = {
        row: {float(c): float(np.mean((clean == y)[conditions == c])) for c in np.unique(conditions)}
    }
    return Evaluation(loaded.meta, report, sweep, by_condition, int(len(y)))


def evaluate_target(
    target: str,
    *,
    dataset: str | None = None,
    overrides: list[str] | None = None,
    out: Path | None = None,
    device: str = "auto",
) -> Path:
    """Evaluate a run folder / model directory / model name; write the report folder; return report.md."""
    torch_device = resolve_device(device)
    if torch_device.type == "cpu":
        torch.set_flush_denormal(True)
    model_dir = resolve_model(target)
    loaded = load_model_dir(model_dir, device=torch_device)
    config = config_from_meta(loaded.meta, dataset=dataset, overrides=overrides)
    evaluation = evaluate_model(loaded, config, device=torch_device)
    out = Path(out) if out is not None else runs_dir() / "eval" / evaluation.meta.name
    return write_report(evaluation, out, source=str(model_dir))


def write_report(evaluation: Evaluation, out: Path, *, source: str) -> Path:
    """Write report.md, metrics.json, confusion.csv/.png and snr_sweep.png into ``out``."""
    from faultdx.train.plots import plot_confusion, plot_snr_sweep

    out.mkdir(parents=True, exist_ok=True)
    report, classes = evaluation.report, evaluation.report.classes
    write_text_atomic(out / "confusion.csv", _confusion_csv(report.confusion, classes))
    plot_confusion(report.confusion, classes, out / "confusion.png", title=f"{evaluation.meta.name} (test)")
    snrs = list(evaluation.snr_sweep)
    plot_snr_sweep(snrs, [evaluation.snr_sweep[s] for s in snrs], report.accuracy, out / "snr_sweep.png")
    write_text_atomic(out / "metrics.json", json.dumps(evaluation.as_dict(), indent=2) + "\n")
    write_text_atomic(out / "report.md", render_markdown(evaluation, source))
    return out / "report.md"


def render_markdown(evaluation: Evaluation, source: str) -> str:
    """The report as markdown (tables + picture links)."""
    meta, report = evaluation.meta, evaluation.report
    protocol = meta.protocol
    lines = [
        f"# Evaluation of `{meta.name}`",
        "",
        f"Model: `{source}` ({protocol.get('activation', meta.model.get('activation'))}, "
        f"preset {protocol.get('preset', '?')}, seed {protocol.get('seed', '?')}, "
        f"selection {protocol.get('selection', '?')}, epoch {protocol.get('epoch', '?')}).  ",
        f"Data: {meta.dataset.name}, split `{protocol.get('split', {}).get('protocol', '?')}`, "
        f"{evaluation.windows} test windows of {meta.window} samples at {meta.sampling_rate:g} Hz, "
        "per-window standardisation.",
        "",
        "| metric | value |",
        "|---|---|",
        f"| accuracy | {100 * report.accuracy:.2f} % |",
        f"| macro-F1 | {100 * report.macro_f1:.2f} % |",
        "",
        "## Per class",
        "",
        "| class | precision | recall | F1 | windows |",
        "|---|---|---|---|---|",
    ]
    for i, c in enumerate(report.classes):
        lines.append(
            f"| {c} | {_pct(report.precision[i])} | {_pct(report.recall[i])} | {_pct(report.f1[i])} "
            f"| {int(report.support[i])} |"
        )
    lines += ["", "## Confusion matrix (rows true, columns predicted)", "", "![confusion](confusion.png)", ""]
    lines += ["Counts: [confusion.csv](confusion.csv)", "", "## Accuracy under white noise (test split)", ""]
    snrs = list(evaluation.snr_sweep)
    lines.append("| SNR (dB) | " + " | ".join(f"{s:g}" for s in snrs) + " | clean |")
    lines.append("|---" * (len(snrs) + 2) + "|")
    accs = " | ".join(f"{100 * evaluation.snr_sweep[s]:.2f}" for s in snrs)
    lines += [f"| accuracy (%) | {accs} | {100 * report.accuracy:.2f} |", ""]
    lines += ["![snr sweep](snr_sweep.png)", ""]
    lines += ["## By operating condition (train conditions → test condition, clean accuracy %)", ""]
    columns = sorted({c for cols in evaluation.by_condition.values() for c in cols})
    lines.append("| trained on | " + " | ".join(f"test {c:g}" for c in columns) + " |")
    lines.append("|---" * (len(columns) + 1) + "|")
    for row, cols in evaluation.by_condition.items():
        cells = " | ".join(f"{100 * cols[c]:.2f}" if c in cols else "" for c in columns)
        lines.append(f"| {row} | {cells} |")
    lines.append("")
    return "\n".join(lines)


def _confusion_csv(confusion: np.ndarray, classes: tuple[str, ...]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["true\\predicted", *classes])
    for name, row in zip(classes, confusion, strict=True):
        writer.writerow([name, *map(int, row)])
    return buffer.getvalue()


def _pct(value: float) -> str:
    return "–" if np.isnan(value) else f"{100 * value:.2f}"
