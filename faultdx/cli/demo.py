"""`faultdx demo`: README command 1 — train on the embedded simulator, diagnose, then serve.

Nothing is downloaded. The bearing simulator provides a training set (10 CWRU classes x 4 loads) and one
held-out example signal per class (other random seeds); a small APReLU network is trained on it with the same
``faultdx train`` code, diagnoses the held-out files on the same path the service uses, and the service starts
with the shipped model (the default), the envelope reference and the simulator model side by side, with
``curl`` lines that post the example files (with their shaft speed and bearing).

The held-out examples are diagnosed by the simulator model and by the shipped model, which never saw this
simulator's signals: the second table shows the transfer the shipped model is built for.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from faultdx.atomic import atomic_file
from faultdx.paths import DEFAULT_MODEL

SIM_MODEL = "sim-aprelu"
EXAMPLE_SECONDS = 2.0
EXAMPLE_RPM = 1797.0
EXAMPLE_SEED = 10_000  # the training recordings use seeds from 0: the examples are never trained on
CARRIES_OVER = (
    "The fault type (normal, ball, inner or outer race) is what carries over to other machines, given their "
    "shaft speed and bearing; the class's size is one of CWRU's seeded fault sizes and means something only "
    "on the CWRU rig."
)


def register(app: typer.Typer) -> None:
    """Add this module's commands to the main app."""

    @app.command()
    def demo(
        model: Annotated[str, typer.Option(help="model name or directory")] = DEFAULT_MODEL,
        out: Annotated[
            Path | None, typer.Option(help="where to write the run and examples [FAULTDX_CACHE/demo]")
        ] = None,
        epochs: Annotated[int, typer.Option(min=1, help="training epochs on the simulator")] = 3,
        port: Annotated[int, typer.Option(help="port of the service started afterwards")] = 8000,
        serve: Annotated[bool, typer.Option(help="start the service after the diagnoses")] = True,
    ) -> None:
        """Train on simulated bearings, diagnose held-out simulated signals, then serve on 127.0.0.1."""
        from faultdx.paths import cache_dir

        folder = out if out is not None else cache_dir() / "demo"
        sim_model = train_simulator_model(folder / "run", epochs)
        files = write_examples(folder / "examples")
        show_diagnoses(sim_model, files)
        show_diagnoses(model, files)  # the shipped model never saw these signals nor this simulator
        example = files["inner_race_014"]
        url = f"http://127.0.0.1:{port}"
        typer.echo(
            "\nCall the service (another terminal), e.g.:\n"
            f"  curl -s -F file=@{example} -F sampling_rate=12000 -F rpm={EXAMPLE_RPM:g}"
            f" -F 'bearing=SKF 6205' {url}/v1/diagnose/file\n"
            f"  curl -s -F file=@{example} -F sampling_rate=12000 -F model={SIM_MODEL}"
            f" {url}/v1/diagnose/file\n"
            f"  curl -s {url}/v1/models\n"
            f"Real CWRU files go to the default model ({model}),"
            " e.g. after `faultdx data fetch cwru --files 105`:\n"
            f"  curl -s -F file=@data/cwru/12k_drive_end/105.mat -F channel=DE {url}/v1/diagnose/file\n"
            f"Inspection page: {url}/   API docs: {url}/docs\n"
        )
        if serve:
            from faultdx.cli.serve import run

            run(model=[model, "envelope", str(sim_model)], host="127.0.0.1", port=port, workers=None)


def train_simulator_model(run_dir: Path, epochs: int) -> Path:
    """Train the ``small`` APReLU preset on the simulator (time split, noise augmentation).

    Returns the best-on-validation model directory.
    """
    from faultdx.train.config import load_config
    from faultdx.train.run import train

    config = load_config(
        overrides=[
            "data.name=synthetic",
            f"epochs={epochs}",
            f"model_name={SIM_MODEL}",
            "test_snr_db=[0.0]",
        ]
    )
    result = train(config, run_dir=run_dir, progress=True)
    return result.best_dir


def write_examples(folder: Path) -> dict[str, Path]:
    """Simulate ``EXAMPLE_SECONDS`` of every class at 12 kHz, 0 HP (unseen seeds), each as a CSV file."""
    import numpy as np

    from faultdx.data.base import CWRU_10_CLASSES
    from faultdx.data.synthetic import simulate

    folder.mkdir(parents=True, exist_ok=True)
    files: dict[str, Path] = {}
    for seed, label in enumerate(CWRU_10_CLASSES):
        path = folder / f"{label}.csv"
        signal = simulate(
            label, duration_s=EXAMPLE_SECONDS, sampling_rate=12000, rpm=EXAMPLE_RPM, seed=EXAMPLE_SEED + seed
        )
        with atomic_file(path) as tmp:
            np.savetxt(tmp, signal, fmt="%.6e", header="acceleration_g", comments="")
        files[label] = path
    return files


def show_diagnoses(model: str | Path, files: dict[str, Path]) -> None:
    """Print a table: simulated class, the model's verdict and confidence, per file."""
    from rich.console import Console
    from rich.table import Table

    from faultdx.diagnose import Diagnoser, read_for_model

    diagnoser = Diagnoser.from_dir(model)
    table = Table(
        title=f"{diagnoser.name} on simulated 12 kHz signals (0 HP, {EXAMPLE_SECONDS:g} s each)",
        caption=CARRIES_OVER,
    )
    for column in ("simulated class", "fault type", "confidence", "class (CWRU size)", "windows", "file"):
        table.add_column(column)
    for label, path in files.items():
        read = read_for_model(path, diagnoser.channels, sampling_rate=12000)
        (result,) = diagnoser.diagnose([read.signal], read.sampling_rate, channels=read.row_names,
                                       rpm=EXAMPLE_RPM, bearing="SKF 6205")
        row = result.as_row()
        table.add_row(label, row["fault_type"], f"{row['confidence']:.3f}", row["label"], str(row["windows"]),
                      str(path))
    Console().print(table)
