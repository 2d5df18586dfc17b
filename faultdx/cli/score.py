"""`faultdx score PATH... --out results.parquet`: diagnose archives of recordings into one Parquet table.

A thin layer over :func:`faultdx.score.score_archive`; bad arguments exit with status 2 naming the option.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from faultdx.paths import DEFAULT_MODEL

OPTIONS = {"paths": "PATH", "out": "--out", "model": "--model", "engine": "--engine", "workers": "--workers",
           "address": "--address", "sidecar": "--sidecar", "rpm": "--rpm", "bearing": "--bearing",
           "rate": "--rate", "history": "--history", "measured_at": "--sidecar"}


def register(app: typer.Typer) -> None:
    """Add this module's command to the main app."""

    @app.command()
    def score(
        paths: Annotated[list[str], typer.Argument(
            metavar="PATH...", help="recordings: files, folders (walked recursively) or glob patterns")],
        out: Annotated[Path, typer.Option("--out", "-o", help="the Parquet table (resumed if it exists)")],
        model: Annotated[str, typer.Option("--model", "-m", help="model name or directory, or envelope")
                         ] = DEFAULT_MODEL,
        engine: Annotated[str, typer.Option(help="local (process pool) or ray (Ray Data)")] = "local",
        workers: Annotated[int | None, typer.Option(
            help="processes (local) or actors (ray); default one per CPU")] = None,
        address: Annotated[str | None, typer.Option(
            help="an existing Ray cluster to join (ray://host:10001, or auto; keep it in a trusted network, "
                 "docs/scale.md); default a local one listening on 127.0.0.1 only")] = None,
        sidecar: Annotated[Path | None, typer.Option(
            help="CSV/Parquet table: file, asset, rpm, bearing, rate (per-file machine context)")] = None,
        asset: Annotated[str | None, typer.Option(help="asset of files the sidecar does not name")] = None,
        rpm: Annotated[float | None, typer.Option(
            help="shaft speed of files the sidecar does not cover; estimated per file if omitted")] = None,
        bearing: Annotated[str | None, typer.Option(
            help="catalogue name ('SKF 6205') or geometry JSON, for files the sidecar does not cover"),
        ] = None,
        rate: Annotated[float | None, typer.Option(
            help="sampling rate (Hz) of files that do not state theirs")] = None,
        history: Annotated[bool, typer.Option(
            help="also store every diagnosis in its asset's history (the monitoring database)")] = False,
        database_url: Annotated[str | None, typer.Option(
            envvar="FAULTDX_DATABASE_URL", help="the history database; default sqlite ./data/faultdx.sqlite",
        )] = None,
        progress: Annotated[bool, typer.Option(help="show a progress bar")] = True,
    ) -> None:
        """Diagnose every recording under PATH... into one Parquet table, one row per file (verdict, fault
        type, severity, confidence, condition indicators, model, error); files already in --out are
        skipped."""
        from faultdx.score import ScoreInputError, score_archive

        store = None
        if history:
            from faultdx.monitor.store import Store

            store = Store(database_url)
        try:
            summary = score_archive(
                paths, out, model=model, engine=engine, workers=workers, address=address, sidecar=sidecar,
                defaults={"asset": asset, "rpm": rpm, "bearing": bearing, "rate": rate}, progress=progress,
                history=store,
            )
        except ScoreInputError as err:
            hint = OPTIONS.get(str(err.field), str(err.field))
            raise typer.BadParameter(str(err), param_hint=hint) from None
        finally:
            if store is not None:
                store.close()
        s = summary
        typer.echo(
            f"{s.files} file(s) scored ({s.errors} with an error), {s.skipped} already in {out}; "
            f"{s.windows:,} windows in {s.seconds:.1f} s: {s.files_per_s:.1f} files/s, "
            f"{s.windows_per_s:,.0f} windows/s ({s.engine}, {s.workers or 'all'} worker(s), {s.model})"
        )
        for line in summary.errors_seen:
            typer.echo(f"  error: {line}", err=True)
