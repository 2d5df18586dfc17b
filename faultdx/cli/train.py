"""`faultdx train`, `evaluate`, `compare`, `results render`: thin wrappers over ``faultdx.train``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

ConfigOpt = Annotated[Path | None, typer.Option(
    "--config", "-c", help="YAML / JSON / TOML run config (default: the shipped default model's recipe, "
    "hybrid-aprelu.train.yaml; options and --set refine it).")]


def shipped_recipe() -> Path:
    """The recipe the shipped default model was trained with: what `faultdx train` runs without --config."""
    from faultdx.modeldir import shipped_models_dir

    return shipped_models_dir() / "hybrid-aprelu.train.yaml"
SetOpt = Annotated[
    list[str] | None,
    typer.Option("--set", "-s", help="Override any option: --set optim.lr=3e-3 --set data.hop=1024."),
]


def _h(text: str, key: str) -> str:
    """Help for an option that sets run-config field ``key``: the options default to None so that a config
    file can set them, but the help still says what a bare run uses."""
    from faultdx.train.config import RunConfig

    value = RunConfig()
    for part in key.split("."):
        value = getattr(value, part)
    return f"{text} ({key}; default: {value})"


def _fail(err: Exception) -> None:
    typer.secho(f"error: {err}", fg=typer.colors.RED, err=True)
    raise typer.Exit(2)


def train_command(
    config: ConfigOpt = None,
    set_: SetOpt = None,
    dataset: Annotated[str | None, typer.Option(help=_h("Dataset name", "data.name"))] = None,
    preset: Annotated[str | None, typer.Option(help=_h("Network preset", "model.preset"))] = None,
    activation: Annotated[str | None, typer.Option(help=_h("Activation", "model.activation"))] = None,
    protocol: Annotated[str | None, typer.Option(help=_h("time | condition", "split.protocol"))] = None,
    epochs: Annotated[int | None, typer.Option(help=_h("Epochs", "epochs"))] = None,
    batch_size: Annotated[int | None, typer.Option(help=_h("Global batch size", "batch_size"))] = None,
    lr: Annotated[float | None, typer.Option(help=_h("Peak learning rate", "optim.lr"))] = None,
    seed: Annotated[int | None, typer.Option(help=_h("Seed", "seed"))] = None,
    device: Annotated[str | None, typer.Option(help=_h("auto | cpu | cuda | cuda:N", "device"))] = None,
    precision: Annotated[str | None, typer.Option(help=_h("auto | fp32 | bf16 | fp16", "precision"))] = None,
    compile: Annotated[
        bool | None, typer.Option("--compile/--no-compile", help=_h("torch.compile", "compile"))
    ] = None,
    out_dir: Annotated[str | None, typer.Option("--out", help=_h("Folder of run folders", "out_dir"))] = None,
    name: Annotated[str | None, typer.Option(help="Run folder name.")] = None,
    resume: Annotated[
        Path | None, typer.Option(help="Continue the run in this folder (its run.yaml; options ignored).")
    ] = None,
    export: Annotated[
        Path | None, typer.Option(help="Also write the best-on-val model directory here (e.g. models/NAME).")
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Let --export replace an existing model directory.")
    ] = False,
    progress: Annotated[bool, typer.Option("--progress/--no-progress", help="Progress bar.")] = True,
) -> None:
    """Train a network; writes a run folder (config, metrics.jsonl, best/ and last/ models, curves.png)."""
    from faultdx.train.config import load_config
    from faultdx.train.run import load_run_config, train

    try:
        if export is not None and export.exists() and not force:  # refuse before training, not after
            raise ValueError(f"--export {export} already exists; pass --force to replace it")
        if resume is not None:
            cfg = load_run_config(resume)
        else:
            fields = {
                "data.name": dataset,
                "model.preset": preset,
                "model.activation": activation,
                "split.protocol": protocol,
                "epochs": epochs,
                "batch_size": batch_size,
                "optim.lr": lr,
                "seed": seed,
                "device": device,
                "precision": precision,
                "compile": compile,
                "out_dir": out_dir,
                "name": name,
            }
            if config is None:
                config = shipped_recipe()
                typer.echo(f"no --config: the shipped default's recipe, {config}")
            cfg = load_config(config, set_ or [], **fields)
        result = train(cfg, run_dir=resume, resume=resume is not None, progress=progress)
        if export is not None and result.test:
            from faultdx.modeldir import load_model_dir, save_model_dir

            loaded = load_model_dir(result.best_dir)
            save_model_dir(export, loaded.model, loaded.meta.model_dump(mode="json"))
            typer.echo(f"exported best model to {export}")
    except ValueError as err:
        _fail(err)


def evaluate_command(
    target: Annotated[str, typer.Argument(help="Run folder, model directory or model name.")],
    dataset: Annotated[str | None, typer.Option(help="Dataset instead of the model's.")] = None,
    set_: SetOpt = None,
    out: Annotated[Path | None, typer.Option(help="Report folder (default: runs/eval/<model name>).")] = None,
    device: Annotated[str, typer.Option(help="auto | cpu | cuda.")] = "auto",
    protocol: Annotated[
        str | None,
        typer.Option(help="Score on this transfer protocol's test windows instead (time | load | size | "
                     "rig | rig-out); TARGET may then be 'envelope', the envelope reference."),
    ] = None,
    fold: Annotated[list[str] | None, typer.Option(help="With --protocol: only these folds.")] = None,
) -> None:
    """Honest evaluation on the test split: accuracy, macro-F1, per class, confusion, SNR sweep,
    by-condition accuracy; writes report.md with tables and pictures. With --protocol: fault-type accuracy,
    macro-F1 and recordings right on each fold of that protocol."""
    from faultdx.train.report import evaluate_target

    if protocol is not None:
        from faultdx.train.protocols import evaluate_protocol, format_evaluation

        try:
            result = evaluate_protocol(target, protocol, overrides=set_ or [], folds=fold, device=device)
        except ValueError as err:
            _fail(err)
        typer.echo(format_evaluation(result))
        return
    try:
        report = evaluate_target(target, dataset=dataset, overrides=set_ or [], out=out, device=device)
    except ValueError as err:
        _fail(err)
    typer.echo(report.read_text(encoding="utf-8"))
    typer.echo(f"report: {report}")


def compare_command(
    activations: Annotated[str, typer.Option(help="Comma-separated activations.")] = (
        "relu,prelu,dyrelu_b,shrinkage,aprelu"
    ),
    seeds: Annotated[str, typer.Option(help="Comma-separated seeds ('' = no time-split runs).")] = "0,1,2",
    config: ConfigOpt = None,
    set_: SetOpt = None,
    cross_load: Annotated[
        bool, typer.Option("--cross-load/--no-cross-load", help="Also train on 3 loads, test on the 4th.")
    ] = True,
    cross_load_seeds: Annotated[str | None, typer.Option(help="Cross-load seeds (default: --seeds).")] = None,
    cross_set: Annotated[
        list[str] | None, typer.Option("--cross-set", help="Overrides for the cross-load runs only.")
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="Runs folder (default runs/compare, with --protocols runs/protocols).")
    ] = None,
    protocols: Annotated[
        str | None,
        typer.Option(help="Transfer protocols instead of activations: comma-separated time,load,size,rig "
                     "(writes results/protocols.json), rig-out (each real rig held out; one recipe; "
                     "writes results/rig_out.json) and rig-out+baseline (the same folds' models judged "
                     "against per-asset baselines; writes results/rig_out_baseline.json)."),
    ] = None,
    recipes: Annotated[str, typer.Option(help="With --protocols: comma-separated recipe names.")] = (
        "hybrid-aprelu,hybrid-relu,physics-aprelu,raw-aprelu"
    ),
    recipe: Annotated[
        list[str] | None,
        typer.Option("--recipe", help="Define a recipe: name=section.option=value;section.option=value."),
    ] = None,
    recipes_file: Annotated[
        Path | None, typer.Option(help="YAML file: recipe name -> list of overrides.")
    ] = None,
    collect_only: Annotated[
        bool, typer.Option("--collect-only", help="With --protocols: train nothing, score the finished runs.")
    ] = False,
    results_name: Annotated[
        str, typer.Option(help="With --protocols: write results/NAME.json (e.g. 'ablation').")
    ] = "protocols",
) -> None:
    """Train activations x seeds on one protocol; table of mean ± std (clean, noisy, cross-load). With
    --protocols: recipes x seeds on every fold of each transfer protocol, plus the envelope reference."""
    if protocols is not None:
        _compare_protocols(protocols, recipes, recipe or [], recipes_file, _ints(seeds), config, set_ or [],
                           out or Path("runs/protocols"), train=not collect_only, results_name=results_name)
        return
    from faultdx.train.compare import run_compare

    out = out or Path("runs/compare")
    try:
        table = run_compare(
            activations=[a.strip() for a in activations.split(",") if a.strip()],
            seeds=_ints(seeds),
            cross_load_seeds=_ints(cross_load_seeds if cross_load_seeds is not None else seeds)
            if cross_load
            else [],
            config_path=config,
            overrides=set_ or [],
            cross_overrides=cross_set or [],
            out=out,
        )
    except ValueError as err:
        _fail(err)
    typer.echo(table)


def _compare_protocols(
    protocols: str,
    recipes: str,
    defined: list[str],
    recipes_file: Path | None,
    seeds: list[int],
    config: Path | None,
    overrides: list[str],
    out: Path,
    train: bool = True,
    results_name: str = "protocols",
) -> None:
    from faultdx.train.protocols import (
        load_recipes,
        parse_recipe,
        resolve_protocols,
        resolve_recipes,
        run_protocols,
    )

    try:
        extra = load_recipes(recipes_file) if recipes_file is not None else {}
        extra.update({r.name: r for r in map(parse_recipe, defined)})
        chosen = resolve_recipes(_names(recipes), extra)
        classic = [p for p in _names(protocols) if p not in ("rig-out", "rig-out+baseline")]
        if classic:
            run_protocols(chosen, resolve_protocols(classic), seeds, out, overrides, typer.echo,
                          config_path=config, train=train, results_name=results_name)
        if "rig-out" in _names(protocols):
            from faultdx.train.rigout import run_rig_out

            if len(chosen) != 1 or config is not None:
                raise ValueError("--protocols rig-out takes one recipe (--recipes NAME) and no --config")
            run_rig_out(chosen[0], seeds, out, overrides, train=train, log=typer.echo)
        if "rig-out+baseline" in _names(protocols):
            from faultdx.train.rigout_baseline import run_protocol

            if len(chosen) != 1 or config is not None:
                raise ValueError(
                    "--protocols rig-out+baseline takes one recipe (--recipes NAME) and no --config"
                )
            run_protocol(chosen[0], seeds, out, overrides, train=train, log=typer.echo)
    except ValueError as err:
        _fail(err)
    typer.echo("tables: `faultdx results render` regenerates README.md and the model cards")


def _names(text: str) -> list[str]:
    return [s.strip() for s in text.split(",") if s.strip()]


def results_render_command(
    paths: Annotated[
        list[Path] | None, typer.Argument(help="Markdown files (default: README.md, models/*/MODEL_CARD.md).")
    ] = None,
    check: Annotated[
        bool, typer.Option("--check", help="Change nothing; exit 1 if any file is stale.")
    ] = False,
) -> None:
    """Regenerate every <!-- results:NAME --> block from results/NAME.json."""
    from faultdx.results_render import render

    try:
        changed = render(paths or None, check=check)
    except (OSError, ValueError) as err:
        _fail(err)
    for path in changed:
        typer.echo(f"{'stale' if check else 'rendered'}: {path}")
    if check and changed:
        raise typer.Exit(1)


def _ints(text: str) -> list[int]:
    """``"0,1,2"`` -> ``[0, 1, 2]``; ``""`` -> ``[]`` (e.g. cross-load runs only)."""
    try:
        return [int(s) for s in text.split(",") if s.strip()]
    except ValueError as err:
        raise ValueError(f"seeds must be comma-separated integers, got {text!r}") from err


def register(app: typer.Typer) -> None:
    """Add this module's commands to the main app."""
    app.command("train")(train_command)
    app.command("evaluate")(evaluate_command)
    app.command("compare")(compare_command)
    results = typer.Typer(help="Tables generated from results/*.json.", no_args_is_help=True)
    results.command("render")(results_render_command)
    app.add_typer(results, name="results")
