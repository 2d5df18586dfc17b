"""`faultdx demo`: README command 1 — the shipped model on simulated signals, then the service.

Nothing is downloaded: the embedded bearing simulator writes one example signal per class, the shipped model
diagnoses them on the same path the service uses, and the service starts with a ``curl`` line posting one of
those files.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

DEFAULT_MODEL = "cwru12k-aprelu"
EXAMPLE_SECONDS = 2.0


def register(app: typer.Typer) -> None:
    """Add this module's commands to the main app."""

    @app.command()
    def demo(
        model: Annotated[str, typer.Option(help="model name or directory")] = DEFAULT_MODEL,
        out: Annotated[
            Path | None, typer.Option(help="where to write the example signals [FAULTDX_CACHE/demo]")
        ] = None,
        port: Annotated[int, typer.Option(help="port of the service started afterwards")] = 8000,
        serve: Annotated[bool, typer.Option(help="start the service after the diagnoses")] = True,
    ) -> None:
        """Diagnose simulated signals of every class with the shipped model, then serve it on 127.0.0.1."""
        from faultdx.paths import cache_dir

        folder = out if out is not None else cache_dir() / "demo"
        files = write_examples(folder)
        show_diagnoses(model, files)
        example = files["inner_race_014"]
        typer.echo(
            "\nCall the service (another terminal), e.g.:\n"
            f"  curl -s -F file=@{example} -F sampling_rate=12000 http://127.0.0.1:{port}/v1/diagnose/file\n"
            f"  curl -s http://127.0.0.1:{port}/v1/models\n"
            f"Inspection page: http://127.0.0.1:{port}/   API docs: http://127.0.0.1:{port}/docs\n"
        )
        if serve:
            from faultdx.cli.serve import run

            run(model=[model], host="127.0.0.1", port=port, workers=None)


def write_examples(folder: Path) -> dict[str, Path]:
    """Simulate ``EXAMPLE_SECONDS`` of every CWRU class at 12 kHz, 0 HP, and write each as a CSV file."""
    import numpy as np

    from faultdx.data.base import CWRU_10_CLASSES
    from faultdx.data.synthetic import simulate

    folder.mkdir(parents=True, exist_ok=True)
    files: dict[str, Path] = {}
    for seed, label in enumerate(CWRU_10_CLASSES):
        path = folder / f"{label}.csv"
        signal = simulate(label, duration_s=EXAMPLE_SECONDS, sampling_rate=12000, rpm=1797, seed=seed)
        tmp = path.with_suffix(".csv.part")
        np.savetxt(tmp, signal, fmt="%.6e", header="acceleration_g", comments="")
        tmp.replace(path)
        files[label] = path
    return files


def show_diagnoses(model: str, files: dict[str, Path]) -> None:
    """Print a table: simulated class, the model's verdict and confidence, per file."""
    from rich.console import Console
    from rich.table import Table

    from faultdx.data.readers import read_signal
    from faultdx.diagnose import Diagnoser

    diagnoser = Diagnoser.from_dir(model)
    table = Table(title=f"{diagnoser.name} on simulated 12 kHz signals (0 HP, {EXAMPLE_SECONDS:g} s each)")
    for column in ("simulated class", "verdict", "confidence", "windows", "file"):
        table.add_column(column)
    for label, path in files.items():
        loaded = read_signal(path, sampling_rate=12000)
        (result,) = diagnoser.diagnose([loaded.signal], 12000)
        table.add_row(
            label, result.label, f"{result.confidence:.3f}", str(len(result.start)), str(path)
        )
    Console().print(table)
