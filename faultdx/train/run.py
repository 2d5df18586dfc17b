"""A training run end to end: data on the device, epochs, model selection on validation, checkpoints, and one
final look at the test split.

Run folder::

    run.yaml            the resolved config (feed it back with --config)
    metrics.jsonl       one JSON line per epoch
    curves.png          learning curves
    best/  last/        model directories (see checkpoint.py): best-on-validation and last epoch
    state/              resumable optimiser / scheduler / RNG state (safetensors + JSON)
    test.json           test metrics of best and last, computed once after training
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from faultdx.atomic import recover, write_text_atomic
from faultdx.modeldir import save_model_dir
from faultdx.train.config import RunConfig, dump_config, read_config_file, validate_config
from faultdx.train.device import Precision, resolve_device, resolve_precision
from faultdx.train.distributed import (
    DistInfo,
    barrier,
    dist_from_env,
    init_distributed,
    shutdown_distributed,
    wrap_ddp,
)
from faultdx.train.loop import DeviceSplit, EvalStats, evaluate, steps_per_epoch, train_one_epoch
from faultdx.train.optim import build_model, build_optimizer, build_scheduler
from faultdx.train.prepare import PreparedData, bearing_of, eval_hop, prepare_data
from faultdx.train.state import TrainState, load_train_state, save_train_state

RUN_CONFIG = "run.yaml"
METRICS = "metrics.jsonl"
TEST_SEED = 20_200_213  # fixed noise for test-time SNR figures: every model sees the same noisy windows


@dataclass
class RunResult:
    """Where a run wrote its models and what it measured on the test split."""

    run_dir: Path
    test: dict[str, dict[str, float]]
    records: list[dict[str, Any]]
    seconds: float

    @property
    def best_dir(self) -> Path:
        return self.run_dir / "best"

    @property
    def last_dir(self) -> Path:
        return self.run_dir / "last"


def load_run_config(run_dir: str | Path) -> RunConfig:
    """The resolved config a run folder was started with."""
    return validate_config(read_config_file(Path(run_dir) / RUN_CONFIG))


def train(
    config: RunConfig,
    *,
    run_dir: str | Path | None = None,
    resume: bool = False,
    log: Callable[[str], None] | None = print,
    progress: bool = False,
) -> RunResult:
    """Train per ``config`` into ``run_dir`` (default ``out_dir/run_name``); ``resume`` continues from
    ``run_dir/state``. Under ``torchrun`` every process calls this; only rank 0 writes."""
    info = dist_from_env()
    device = resolve_device(config.device, local_rank=info.local_rank)
    precision = resolve_precision(config.precision, device)
    init_distributed(info, device)
    try:
        return _train(
            config, info, device, precision, run_dir, resume, log if info.is_main else None, progress
        )
    finally:
        shutdown_distributed()


@dataclass
class _Session:
    """Everything a run holds while it trains: its data on the device, the model (and its DDP / compiled
    wrapper), the optimiser trio, the counters and the per-epoch records."""

    config: RunConfig
    info: DistInfo
    device: torch.device
    precision: Precision
    run_dir: Path
    data: PreparedData
    train_data: DeviceSplit
    val_data: DeviceSplit
    model: torch.nn.Module
    train_model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    scaler: torch.amp.GradScaler
    steps: int
    state: TrainState
    records: list[dict[str, Any]]
    elapsed_before: float


def _train(
    config: RunConfig,
    info: DistInfo,
    device: torch.device,
    precision: Precision,
    run_dir: str | Path | None,
    resume: bool,
    log: Callable[[str], None] | None,
    progress: bool,
) -> RunResult:
    started = time.perf_counter()
    run_dir = Path(run_dir) if run_dir is not None else Path(config.out_dir) / config.run_name()
    _configure_torch(config, device)
    if info.is_main:
        _prepare_run_dir(run_dir, config, resume)
    barrier(info)
    session = _start_session(config, info, device, precision, run_dir, resume)
    if log:
        log(_start_line(session))
    bar = _ProgressBar(progress and log is not None, config.epochs, session.steps, session.state.epoch)
    with bar:
        for epoch in range(session.state.epoch, config.epochs):
            record = _run_epoch(session, epoch, started, bar.step)
            bar.epoch_done(record)
            if log and not bar.enabled:
                log(_epoch_line(record, config.epochs))
            barrier(info)
    test = _finish(session, started, log) if info.is_main else {}
    barrier(info)
    return RunResult(run_dir=run_dir, test=test, records=session.records,
                     seconds=time.perf_counter() - started)


def _configure_torch(config: RunConfig, device: torch.device) -> None:
    if config.threads:
        torch.set_num_threads(config.threads)
    if device.type == "cpu":
        torch.set_flush_denormal(True)  # denormals in early training make CPU steps ~10x slower


def _start_session(
    config: RunConfig, info: DistInfo, device: torch.device, precision: Precision, run_dir: Path, resume: bool
) -> _Session:
    """Data on the device, the seeded model, optimiser, scheduler and scaler (restored on ``resume``)."""
    data = prepare_data(config)
    train_data = DeviceSplit.from_windows(data.splits["train"], device)
    val_data = DeviceSplit.from_windows(data.splits["val"], device)
    torch.manual_seed(config.seed)
    model = build_model(config, len(data.classes)).to(device)
    steps = steps_per_epoch(len(train_data), config.batch_size)
    optimizer = build_optimizer(model, config)
    scheduler = build_scheduler(optimizer, config, steps * config.epochs)
    scaler = precision.scaler(device)
    state = TrainState()
    if resume:
        state = load_train_state(
            run_dir / "state", model=model, optimizer=optimizer, scheduler=scheduler, scaler=scaler
        )
    records = _read_records(run_dir, upto=state.epoch)
    train_model = wrap_ddp(model, info, device)
    if config.compile:
        train_model = torch.compile(train_model)
    return _Session(config, info, device, precision, run_dir, data, train_data, val_data, model, train_model,
                    optimizer, scheduler, scaler, steps, state, records,
                    records[-1]["elapsed_s"] if records else 0.0)


def _start_line(s: _Session) -> str:
    return (
        f"run {s.run_dir}: {len(s.train_data)} train / {len(s.val_data)} val / {len(s.data.splits['test'])} "
        f"test windows, {len(s.data.classes)} classes, device {s.device} ({s.precision.name}), "
        f"{s.info.world_size} process(es), epochs {s.state.epoch + 1}..{s.config.epochs}"
    )


def _run_epoch(
    s: _Session, epoch: int, started: float, on_step: Callable[[int, int], None]
) -> dict[str, Any]:
    """Train one epoch, validate, advance the counters and (rank 0) save the checkpoint; returns the epoch's
    record."""
    config = s.config
    stats = train_one_epoch(
        s.train_model, s.train_data, optimizer=s.optimizer, scheduler=s.scheduler, scaler=s.scaler,
        precision=s.precision, augment=config.augment, batch_size=config.batch_size, seed=config.seed,
        epoch=epoch, grad_clip=config.optim.grad_clip, label_smoothing=config.optim.label_smoothing,
        dist_info=s.info, on_step=on_step,
    )
    record = _validate(s.model, s.val_data, config, s.precision)
    score = record.pop("score")
    improved = s.state.best_score is None or score > s.state.best_score
    record = {
        "epoch": epoch + 1, "train_loss": stats.loss, "train_acc": stats.accuracy, **record, "score": score,
        "best": improved, "lr": s.scheduler.get_last_lr()[0], "epoch_s": stats.seconds,
        "windows_per_s": stats.windows_per_s, "elapsed_s": s.elapsed_before + time.perf_counter() - started,
    }
    s.records.append(record)
    s.state = TrainState(
        epoch=epoch + 1,
        global_step=s.state.global_step + s.steps,
        best_score=score if improved else s.state.best_score,
        best_epoch=epoch + 1 if improved else s.state.best_epoch,
    )
    if s.info.is_main:
        save_checkpoint(s, record, improved)
    return record


def save_checkpoint(s: _Session, record: dict[str, Any], improved: bool) -> None:
    """After an epoch: the best model (when it improved), the last model, the resumable state and the metrics
    lines, each written atomically."""
    meta = _model_meta(s.config, s.data, record, selection="best_on_val" if improved else "last")
    if improved:
        save_model_dir(s.run_dir / "best", s.model, meta)
    save_model_dir(s.run_dir / "last", s.model,
                   {**meta, "protocol": _protocol(s.config, "last", record["epoch"])})
    save_train_state(s.run_dir / "state", model=s.model, optimizer=s.optimizer, scheduler=s.scheduler,
                     scaler=s.scaler, state=s.state)
    write_text_atomic(s.run_dir / METRICS, "".join(json.dumps(r) + "\n" for r in s.records))


def _finish(s: _Session, started: float, log: Callable[[str], None] | None) -> dict[str, dict[str, float]]:
    """The one look at the test split, the learning curves, and the closing log line."""
    from faultdx.train.plots import plot_learning_curves

    test = _final_test(s.run_dir, s.data, s.config, s.device, s.precision)
    plot_learning_curves(s.records, s.run_dir / "curves.png")
    if log:
        best, last = test["best"], test["last"]
        log(
            f"test (used once): fault type best (epoch {s.state.best_epoch}) "
            f"{100 * best['type_accuracy']:.2f}% | last {100 * last['type_accuracy']:.2f}% | "
            f"{time.perf_counter() - started:.0f} s"
        )
    return test


def _prepare_run_dir(run_dir: Path, config: RunConfig, resume: bool) -> None:
    if resume:
        for name in ("state", "best", "last"):  # a run killed mid-swap: finish or undo it first
            recover(run_dir / name)
        if not (run_dir / "state").is_dir():
            raise ValueError(f"--resume: {str(run_dir)!r} has no state/ to resume from")
        return
    if (run_dir / "state").exists():
        raise ValueError(f"run folder {str(run_dir)!r} already holds a run; use --resume or another --name")
    run_dir.mkdir(parents=True, exist_ok=True)
    write_text_atomic(run_dir / RUN_CONFIG, dump_config(config))


def _read_records(run_dir: Path, upto: int) -> list[dict[str, Any]]:
    path = run_dir / METRICS
    if upto == 0 or not path.is_file():
        return []
    records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [r for r in records if r["epoch"] <= upto]


def _validate(model: torch.nn.Module, val: DeviceSplit, config: RunConfig, precision: Precision) -> dict:
    """Validation metrics; the selection score is clean accuracy, averaged with noisy accuracy if asked."""
    batch = config.eval_batch_size
    clean = evaluate(model, val, batch_size=batch, precision=precision)
    record: dict[str, Any] = {"val_loss": clean.loss, "val_acc": clean.type_accuracy,
                              "val_class_acc": clean.accuracy}
    score = _score(clean)
    snr = config.augment.val_snr_db
    if snr is not None:
        noisy = evaluate(
            model, val, batch_size=batch, precision=precision, snr_db=snr, seed=config.seed
        )
        record.update(val_snr_db=snr, val_acc_noisy=noisy.type_accuracy)
        score = 0.5 * (score + _score(noisy))
    # ties go to the lower loss: subtract a loss term too small to reorder different accuracies
    record["score"] = score - 1e-6 * min(clean.loss, 100.0)
    return record


def _score(stats: EvalStats) -> float:
    """Selection score: fault-type accuracy (the primary answer), averaged with class accuracy if known."""
    if stats.accuracy is None:
        return stats.type_accuracy
    return 0.5 * (stats.type_accuracy + stats.accuracy)


def _test_metrics(stats: EvalStats, suffix: str = "") -> dict[str, float | None]:
    return {f"accuracy{suffix}": stats.accuracy, f"type_accuracy{suffix}": stats.type_accuracy,
            f"type_macro_f1{suffix}": stats.type_macro_f1}


def _final_test(
    run_dir: Path, data: PreparedData, config: RunConfig, device: torch.device, precision: Precision
) -> dict[str, dict[str, float]]:
    """Test metrics of the best and the last model (the only time the test split is used), saved into
    ``test.json`` and the model directories' metadata."""
    from faultdx.modeldir import load_model_dir

    test_data = DeviceSplit.from_windows(data.splits["test"], device)
    results = {}
    for which in ("best", "last"):
        loaded = load_model_dir(run_dir / which, device=device)
        clean = evaluate(
            loaded.model, test_data, batch_size=config.eval_batch_size, precision=precision
        )
        result = {**_test_metrics(clean), "loss": clean.loss, "windows": len(test_data)}
        for snr in config.test_snr_db:
            noisy = evaluate(
                loaded.model,
                test_data,
                batch_size=config.eval_batch_size,
                precision=precision,
                snr_db=snr,
                seed=TEST_SEED,
            )
            result.update(_test_metrics(noisy, f"_snr_{snr:g}dB"))
        results[which] = result
        meta = loaded.meta.model_dump(mode="json")
        meta["metrics"] = {**meta["metrics"], "test": result}
        save_model_dir(run_dir / which, loaded.model, meta)
    write_text_atomic(run_dir / "test.json", json.dumps(results, indent=2) + "\n")
    return results


def _protocol(config: RunConfig, selection: str, epoch: int) -> dict[str, Any]:
    return {
        "split": config.split.model_dump(mode="json"),
        "train_hop": config.data.hop,
        "eval_hop": eval_hop(config),
        "exclude_classes": config.data.exclude_classes,
        "augment": config.augment.model_dump(mode="json"),
        "preset": config.model.preset,
        "activation": config.model.activation,
        "optim": config.optim.model_dump(mode="json"),
        "epochs": config.epochs,
        "batch_size": config.batch_size,
        "seed": config.seed,
        "selection": selection,
        "epoch": epoch,
    }


def _model_meta(config: RunConfig, data: PreparedData, record: dict, selection: str) -> dict[str, Any]:
    keys = ("val_loss", "val_acc", "val_class_acc", "val_acc_noisy", "val_snr_db")
    val = {k: record[k] for k in keys if k in record}
    meta = {
        "name": config.model_name or config.run_name(),
        "classes": list(data.classes),
        "window": config.data.window,
        "hop": eval_hop(config),
        "sampling_rate": data.sampling_rate,
        "channels": config.data.channels,
        "dataset": data.dataset,
        "protocol": _protocol(config, selection, record["epoch"]),
        "metrics": {"val": val, "epoch": record["epoch"]},
    }
    bearing = bearing_of(data)
    if bearing is not None:
        meta["bearing"] = bearing
    return meta


def _epoch_line(record: dict[str, Any], epochs: int) -> str:
    noisy = record.get("val_acc_noisy")
    noisy_text = f" val@{record['val_snr_db']:g}dB {100 * noisy:.2f}%" if noisy is not None else ""
    return (
        f"epoch {record['epoch']}/{epochs} loss {record['train_loss']:.4f} "
        f"acc {100 * record['train_acc']:.2f}% | "
        f"val loss {record['val_loss']:.4f} acc {100 * record['val_acc']:.2f}%{noisy_text}"
        f"{' *' if record['best'] else ''} | {record['windows_per_s']:.0f} win/s"
    )


class _ProgressBar:
    """A rich progress bar over all training steps, showing the last epoch's loss and accuracy."""

    def __init__(self, enabled: bool, epochs: int, steps: int, done_epochs: int) -> None:
        self.enabled = enabled
        self.total = epochs * steps
        self.done = done_epochs * steps
        self.epochs = epochs
        self._progress = None

    def __enter__(self) -> _ProgressBar:
        if self.enabled:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self._progress = Progress(
                TextColumn("[bold]train"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeRemainingColumn(),
                TextColumn("{task.fields[info]}"),
            )
            self._progress.__enter__()
            self._task = self._progress.add_task("train", total=self.total, completed=self.done, info="")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.__exit__(*exc)

    def step(self, step: int, steps: int) -> None:
        if self._progress is not None:
            self._progress.advance(self._task)

    def epoch_done(self, record: dict[str, Any]) -> None:
        if self._progress is not None:
            self._progress.console.print(_epoch_line(record, self.epochs))
            info = f"loss {record['train_loss']:.3f} val acc {100 * record['val_acc']:.1f}%"
            self._progress.update(self._task, info=info)
