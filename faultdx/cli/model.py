"""`faultdx model` commands: the network presets and activations, what a configuration costs, ONNX export and
the unknown-condition calibration of a model directory."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

model_app = typer.Typer(help="Network presets and activations.", no_args_is_help=True)


def _summary(preset: str, activation: str, window: int) -> dict:
    """Parameters, multiply-accumulates per window and per-sample parameter names of a preset."""
    from faultdx.nn.cost import preset_cost

    cost = preset_cost(preset, activation, window)
    return {"config": cost.config, "parameters": cost.parameters, "macs": cost.macs, "slopes": cost.slopes}


@model_app.command("list")
def list_models() -> None:
    """Print the presets (with their cost on a 2048-sample window) and the activations."""
    from faultdx.nn import PRESETS, activation_names, make_activation
    from faultdx.nn.activations import has_params

    typer.echo("presets (APReLU, window 2048):")
    for name, config in PRESETS.items():
        s = _summary(name, "aprelu", 2048)
        typer.echo(
            f"  {name:<6} widths={list(config.widths)} depths={list(config.depths)} "
            f"stem={config.stem_channels}x{config.stem_kernel}/{config.stem_stride}  "
            f"params={s['parameters']:,}  MACs/window={s['macs'] / 1e6:.2f} M"
        )
    typer.echo("activations:")
    for name in activation_names():
        act = make_activation(name, 4)
        per_sample = ", ".join(act.param_names) if has_params(act) else "-"
        typer.echo(f"  {name:<11} per-sample parameters: {per_sample}")
    _list_model_dirs()


def _list_model_dirs() -> None:
    """The trained model directories this machine has (shipped and under FAULTDX_MODELS), read offline."""
    from faultdx.modeldir import available_models, read_meta, resolve_model

    typer.echo("model directories (faultdx model info NAME; the first served by default is hybrid-aprelu):")
    for name in available_models():
        path = resolve_model(name)
        meta = read_meta(path)
        network = f"{meta.model.get('frontend', 'raw')} front end, {meta.model.get('activation', '?')}"
        typer.echo(f"  {name:<16} {network}  {len(meta.classes)} classes  {meta.sampling_rate:g} Hz  "
                   f"window {meta.window}  {path}")


@model_app.command("info")
def info(
    preset: Annotated[str, typer.Argument(
        help="Preset name or model directory (name or path; see `faultdx model list`).")],
    activation: Annotated[str, typer.Option(help="Activation name (see `faultdx model list`).")] = "aprelu",
    window: Annotated[int, typer.Option(help="Window length in samples.")] = 2048,
) -> None:
    """Print a preset's (or a model directory's) configuration, parameters, multiply-accumulates per window
    and slope layer names."""
    import json

    from faultdx.nn import PRESETS

    if preset not in PRESETS:
        _model_dir_info(preset, window)
        return
    try:
        s = _summary(preset, activation, window)
    except ValueError as err:
        raise typer.BadParameter(str(err)) from err
    typer.echo(f"preset: {preset}  activation: {activation}  window: {window}")
    typer.echo(f"config: {json.dumps(s['config'].to_dict())}")
    typer.echo(f"parameters: {s['parameters']:,}")
    typer.echo(f"multiply-accumulates per window (conv + linear): {s['macs']:,} ({s['macs'] / 1e6:.2f} M)")
    label = "APReLU slope layers" if activation == "aprelu" else f"{activation} per-sample parameters"
    if not s["slopes"]:
        typer.echo(f"{label}: none ({activation} has no per-sample parameters)")
        return
    typer.echo(f"{label} ({len(s['slopes'])}), name [channels]:")
    for name, shape in s["slopes"].items():
        typer.echo(f"  {name} {list(shape)}")


@model_app.command("export")
def export(
    model: Annotated[str, typer.Argument(help="Model name (in FAULTDX_MODELS) or model directory.")],
    output: Annotated[str, typer.Argument(help="Where to write the .onnx file.")],
    opset: Annotated[int, typer.Option(help="ONNX opset (>= 17).")] = 18,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing OUTPUT file.")] = False,
) -> None:
    """Export a model directory to ONNX: inputs 'windows' [N, C, window] and 'context' [N, 5] (shaft,
    BPFO, BPFI, BSF, FTF in cycles per sample), outputs 'logits' then slopes."""
    import importlib.util

    from faultdx.modeldir import load_model_dir, resolve_model
    from faultdx.nn.export import export_onnx

    if Path(output).exists() and not force:
        typer.echo(f"{output} already exists; pass --force to replace it", err=True)
        raise typer.Exit(2)
    missing = [m for m in ("onnx", "onnxscript") if importlib.util.find_spec(m) is None]
    if missing:
        typer.echo(f"ONNX export needs {' and '.join(missing)}: pip install 'faultdx[dev]' (or pip install "
                   f"{' '.join(missing)})", err=True)
        raise typer.Exit(2)
    try:
        loaded = load_model_dir(resolve_model(model))
        path = export_onnx(loaded.model, output, window=loaded.meta.window, opset=opset)
    except ValueError as err:
        raise typer.BadParameter(str(err)) from err
    n_slopes = len(loaded.model.slope_names())
    typer.echo(f"wrote {path} (window {loaded.meta.window}, outputs: logits + {n_slopes} slope tensors)")


@model_app.command("confidence")
def confidence(
    model: Annotated[str, typer.Argument(help="Model name (in FAULTDX_MODELS) or model directory.")],
    results: Annotated[Path, typer.Option(help="The rig-out result whose policy it takes.")] = Path(
        "results/rig_out.json"),
) -> None:
    """Write the confidence policy fitted on the rig-out folds (faultdx compare --protocols rig-out: each
    real rig held out in turn) into the model directory as confidence.json."""
    from faultdx.modeldir import resolve_model
    from faultdx.train.rigout import write_confidence_policy

    try:
        path = resolve_model(model)
        policy = write_confidence_policy(path, results)
    except (OSError, ValueError, KeyError) as err:
        raise typer.BadParameter(str(err)) from err
    typer.echo(f"wrote {path}/confidence.json: {policy.as_dict()}")


@model_app.command("calibrate-ood")
def calibrate_ood(
    model: Annotated[str, typer.Argument(help="Model name (in FAULTDX_MODELS) or model directory.")],
    data: Annotated[str, typer.Option(help="Run config (YAML/JSON/TOML) whose splits the model came from, "
                                      "e.g. models/hybrid-aprelu.train.yaml")],
    method: Annotated[str, typer.Option(help="combined, mahalanobis (features) or energy (logits).")] = (
        "combined"
    ),
    windows: Annotated[str, typer.Option(help="all, or labelled (the model's classes) only.")] = "all",
    target_rate: Annotated[float, typer.Option(help="Share of validation windows flagged.")] = 0.01,
    max_fit_windows: Annotated[int, typer.Option(help="At most this many training windows fit it.")] = 4000,
    seed: Annotated[int, typer.Option(help="Seed of the draw of fit windows.")] = 0,
    replaces_verdict: Annotated[bool, typer.Option(
        "--replaces-verdict/--reports-only",
        help="Above the threshold, answer 'unknown' instead of the fault type (for a model calibrated on the "
             "machine it watches), or only report the score beside the answer (for a model meant for "
             "machines it never saw, such as the shipped one).")] = True,
) -> None:
    """Calibrate the unknown-condition score of a model directory and write it there (atomically):
    fitted on the config's training split, threshold at --target-rate of its validation windows."""
    from faultdx.modeldir import resolve_model
    from faultdx.ood import METHODS
    from faultdx.train.calibrate import calibrate_model_dir
    from faultdx.train.config import load_config

    if method not in METHODS:
        message = f"must be one of {', '.join(METHODS)}, got {method!r}"
        raise typer.BadParameter(message, param_hint="--method")
    if windows not in ("labelled", "all"):
        raise typer.BadParameter(f"must be labelled or all, got {windows!r}", param_hint="--windows")
    if not 0.0 < target_rate < 0.5:
        raise typer.BadParameter(f"must be in (0, 0.5), got {target_rate}", param_hint="--target-rate")
    if max_fit_windows < 50:
        raise typer.BadParameter(f"must be >= 50, got {max_fit_windows}", param_hint="--max-fit-windows")
    try:
        path = resolve_model(model)
        config = load_config(data)
    except ValueError as err:
        raise typer.BadParameter(str(err)) from err
    try:
        result = calibrate_model_dir(path, config, config_name=data, method=method, target_rate=target_rate,
                                     max_fit_windows=max_fit_windows, seed=seed, windows=windows)
    except ValueError as err:
        raise typer.BadParameter(str(err), param_hint="--data") from err
    if not replaces_verdict:
        from dataclasses import replace

        from faultdx.ood import save_calibration

        result = replace(result, replaces_verdict=False)
        save_calibration(path, result)
    info = result.info
    typer.echo(
        f"wrote {path}/ood.json + ood.safetensors: {result.method}, threshold {result.threshold:.4g} "
        f"(median {result.center:.4g}); fitted on {info['fit_windows']} {windows} training windows, "
        f"{100 * info['calibration_flagged_rate']:.2f} % of {info['calibration_windows']} validation windows "
        f"flagged (target {100 * target_rate:g} %); "
        + ("a flag replaces the verdict" if replaces_verdict else "the score is reported beside the verdict")
    )


def register(app: typer.Typer) -> None:
    """Add this module's commands to the main app."""
    app.add_typer(model_app, name="model")


def _model_dir_info(name: str, window: int) -> None:
    """``model info`` of a trained model directory: what it reads, what it answers, what it costs."""
    import json

    from faultdx.modeldir import CheckpointError, read_meta, resolve_model
    from faultdx.nn import PRESETS
    from faultdx.nn.cost import network_cost
    from faultdx.nn.resnet1d import ResNet1dConfig

    try:
        path = resolve_model(name)
        meta = read_meta(path)
    except CheckpointError as err:
        presets = ", ".join(PRESETS)
        raise typer.BadParameter(f"unknown preset {name!r} (presets: {presets}) and {err}") from err
    cost = network_cost(ResNet1dConfig.from_dict(meta.model), meta.window)
    typer.echo(f"model: {meta.name} version {meta.version}  ({path})")
    typer.echo(f"reads: {', '.join(meta.channels)} at {meta.sampling_rate:g} Hz, windows of {meta.window} "
               f"samples (hop {meta.hop})")
    typer.echo(f"answers: {', '.join(meta.classes)}")
    if meta.bearing:
        typer.echo(f"default bearing: {meta.bearing.get('name', json.dumps(meta.bearing))}")
    typer.echo(f"trained on: {meta.dataset.name}")
    typer.echo(f"config: {json.dumps(meta.model)}")
    typer.echo(f"parameters: {cost.parameters:,}  multiply-accumulates per window: {cost.macs / 1e6:.2f} M")
    if cost.slopes:
        typer.echo(f"slope layers ({len(cost.slopes)}): " + ", ".join(cost.slopes))
