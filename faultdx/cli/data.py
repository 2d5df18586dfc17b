"""`faultdx data` commands: list datasets, show a dataset's files, fetch CWRU files, verify a folder."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

data_app = typer.Typer(help="Datasets: list, inspect, download, verify.", no_args_is_help=True)

STATUS_STYLE = {"ok": "green", "mismatch": "bold red", "absent": "dim", "unknown": "yellow"}


def _console():
    from rich.console import Console

    return Console(width=None if sys.stdout.isatty() else 160)


def _fail(message: str) -> None:
    _console().print(f"[bold red]error:[/] {message}")
    raise typer.Exit(1)


def _checksum_cell(path: Path, sha256: str | None, git_sha1: str | None, verify: bool) -> str:
    from faultdx.data.checksum import check_file

    if not path.is_file():
        return "[dim]absent[/]"
    if not verify:
        return "not checked"
    result = check_file(path, sha256=sha256, git_sha1=git_sha1)
    label = {"ok": f"ok ({result.algorithm})", "mismatch": f"MISMATCH ({result.algorithm})",
             "unknown": "no checksum known"}[result.status]
    return f"[{STATUS_STYLE[result.status]}]{label}[/]"


@data_app.command("list")
def list_datasets() -> None:
    """List the registered datasets, their classes and how many of their files are present."""
    from rich.table import Table

    from faultdx.data.registry import dataset_names, get_dataset
    from faultdx.paths import data_dir

    table = Table(title=f"datasets (FAULTDX_DATA = {data_dir()})")
    for column in ("name", "classes", "conditions", "files present", "bearing", "description"):
        table.add_column(column)
    for name in dataset_names():
        dataset = get_dataset(name)
        counts = dataset.files_present()
        present = "embedded" if counts is None else f"{counts[0]} / {counts[1]}"
        conditions = f"{len(dataset.conditions)} ({dataset.condition_unit})"
        table.add_row(name, str(len(dataset.classes)), conditions, present, dataset.bearing, dataset.summary)
    _console().print(table)


@data_app.command("info")
def info(
    name: Annotated[str, typer.Argument(help="Dataset name (see `faultdx data list`).")],
    option: Annotated[list[str] | None, typer.Option(
        "--option", "-o", help="Dataset option key=value, as in a run config (e.g. -o set=12k_fan_end).",
    )] = None,
    verify: Annotated[bool, typer.Option(help="Hash present files against the catalogue.")] = True,
) -> None:
    """Show a dataset's files (or conditions): labels, loads, rates, presence and checksum status."""
    from rich.table import Table

    from faultdx.data.registry import get_dataset
    from faultdx.train.config import parse_override

    try:
        options = dict(parse_override(item) for item in option or [])
        table_info = get_dataset(name, **options).info()
    except ValueError as exc:
        _fail(str(exc))
    table = Table(title=table_info.title)
    for column in (*table_info.columns, *(("present", "checksum") if table_info.files else ())):
        table.add_column(column)
    for k, row in enumerate(table_info.rows):
        extra: tuple[str, ...] = ()
        if table_info.files:
            f = table_info.files[k]
            extra = ("[green]yes[/]" if f.path.is_file() else "[red]no[/]",
                     _checksum_cell(f.path, f.sha256, f.git_sha1, verify))
        table.add_row(*row, *extra)
    console = _console()
    console.print(table)
    if table_info.files:
        present = sum(f.path.is_file() for f in table_info.files)
        console.print(f"{present} of {len(table_info.files)} files present")
    if table_info.footer:
        console.print(table_info.footer)


def _progress_callback(progress):
    tasks: dict[str, int] = {}

    def update(name: str, done: int, total: int | None) -> None:
        if name not in tasks:
            tasks[name] = progress.add_task(name, total=total)
        progress.update(tasks[name], completed=done, total=total)

    return update


@data_app.command("fetch")
def fetch(
    name: Annotated[str, typer.Argument(help="Dataset to download (cwru).")],
    files: Annotated[list[int] | None, typer.Option("--files", help="File numbers (repeat the option); "
                                                    "default: every file of the set.")] = None,
    dest: Annotated[Path | None, typer.Option(help="Data root (default $FAULTDX_DATA).")] = None,
    base_url: Annotated[str | None, typer.Option(help="Base URL serving <number>.mat (default "
                                                 "$FAULTDX_CWRU_URL or the publisher).")] = None,
    set_name: Annotated[str, typer.Option("--set", help="CWRU set.")] = "12k_drive_end",
) -> None:
    """Download original files with progress, resume and sha256 verification (never half-written)."""
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

    from faultdx.data.catalogue import cwru_file
    from faultdx.data.cwru import CWRUDataset
    from faultdx.data.download import DownloadError, cwru_url, fetch_cwru
    from faultdx.paths import data_dir
    from faultdx.settings import current

    if name != "cwru":
        _fail(f"only 'cwru' can be fetched: the synthetic set is embedded and MFPT is published as one "
              f"archive (https://www.mfpt.org/fault-data-sets/); unpack its files into {data_dir() / 'mfpt'}")
    try:
        entries = [cwru_file(n) for n in files] if files else CWRUDataset(set=set_name).files()
    except ValueError as exc:
        _fail(str(exc))
    root = dest or data_dir()
    base_url = base_url or current().cwru_url  # the library reads no settings: the mirror is passed down
    console = _console()
    console.print(f"fetching {len(entries)} file(s) from {cwru_url(entries[0], base_url).rsplit('/', 1)[0]} "
                  f"into {root}")
    columns = (TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn())
    try:
        with Progress(*columns, console=console, transient=False) as progress:
            results = fetch_cwru(entries, root, base_url=base_url, progress=_progress_callback(progress))
    except DownloadError as exc:
        _fail(str(exc))
    for r in results:
        console.print(f"{r.path}: {r.status}, checksum {r.checksum}")


@data_app.command("verify")
def verify_dir(
    directory: Annotated[Path, typer.Argument(help="Folder to scan (e.g. $FAULTDX_DATA).")],
) -> None:
    """Check every catalogued file found under DIR against its checksum; exit 1 on any mismatch."""
    from rich.table import Table

    from faultdx.data.catalogue import cwru_files, mfpt_files
    from faultdx.data.checksum import check_file

    if not directory.is_dir():
        _fail(f"{directory} is not a folder")
    known = {f.filename: (f.sha256, f.git_sha1) for f in cwru_files()}
    known |= {f.file: (f.sha256, f.git_sha1) for f in mfpt_files()}
    table = Table(title=f"checksums under {directory}")
    for column in ("file", "size (bytes)", "status"):
        table.add_column(column)
    counts: dict[str, int] = {}
    for path in sorted(p for p in directory.rglob("*.mat") if p.is_file()):
        if path.name in known:
            result = check_file(path, sha256=known[path.name][0], git_sha1=known[path.name][1])
            status = result.status
            algorithm = f" ({result.algorithm})" if result.algorithm else ""
            cell = f"[{STATUS_STYLE[status]}]{status}[/]{algorithm}"
        else:
            status, cell = "not catalogued", "[yellow]not catalogued[/]"
        counts[status] = counts.get(status, 0) + 1
        table.add_row(str(path.relative_to(directory)), f"{path.stat().st_size:,}", cell)
    console = _console()
    console.print(table)
    console.print(", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "no .mat files found")
    if counts.get("mismatch"):
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add this module's commands to the main app."""
    app.add_typer(data_app, name="data")
