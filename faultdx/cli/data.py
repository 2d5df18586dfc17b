"""`faultdx data` commands: list datasets, show a dataset's files, fetch CWRU files, verify a folder."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

data_app = typer.Typer(help="Datasets: list, inspect, download, verify.", no_args_is_help=True)

DESCRIPTIONS = {
    "synthetic": "physics-based bearing simulator (SKF 6205), CWRU classes, 0-3 HP; embedded, no download",
    "cwru": "CWRU Bearing Data Center, 12 kHz drive end + normal baseline (publisher .mat files)",
    "mfpt": "MFPT inner/outer-race faults, 7 loads, 48,828 Hz (CC BY-NC-SA 4.0, non-commercial)",
}
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
    for column in ("name", "description", "classes", "files present"):
        table.add_column(column)
    for name in dataset_names():
        dataset = get_dataset(name)
        if hasattr(dataset, "files"):
            files = dataset.files()
            present = f"{sum(dataset.path_of(f).is_file() for f in files)} / {len(files)}"
        else:
            present = "embedded"
        table.add_row(name, DESCRIPTIONS.get(name, ""), str(len(dataset.classes)), present)
    _console().print(table)


def _info_cwru(set_name: str, verify: bool) -> None:
    from rich.table import Table

    from faultdx.data.cwru import CWRUDataset

    dataset = CWRUDataset(set=set_name)
    files = dataset.files()
    present = sum(dataset.path_of(f).is_file() for f in files)
    table = Table(title=f"cwru {set_name} ({len(dataset.classes)} classes) under {dataset.root}")
    for column in ("file", "class", "fault", "dia. (in)", "OR", "load (HP)", "rpm", "rate (Hz)",
                   "present", "checksum"):
        table.add_column(column)
    for f in files:
        path = dataset.path_of(f)
        table.add_row(
            f.relpath, f.class_name, f.fault_type, f"{f.fault_diameter:.3f}" if f.fault_diameter else "-",
            f.or_position or "-", str(f.load_hp), f"{f.rpm:g}", f"{f.sampling_rate:g}",
            "[green]yes[/]" if path.is_file() else "[red]no[/]",
            _checksum_cell(path, f.sha256, f.git_sha1, verify),
        )
    console = _console()
    console.print(table)
    console.print(
        f"{present} of {len(files)} files present; classes: {', '.join(dataset.classes)}. Files at another "
        f"rate are resampled to {dataset.sampling_rate:g} Hz (anti-aliased polyphase)."
    )


def _info_mfpt(verify: bool) -> None:
    from rich.table import Table

    from faultdx.data.mfpt import MFPTDataset

    dataset = MFPTDataset()
    files = dataset.files()
    table = Table(title=f"mfpt ({len(dataset.classes)} classes) under {dataset.root}")
    for column in ("file", "class", "load (lbs)", "shaft (Hz)", "rate (Hz)", "present", "checksum"):
        table.add_column(column)
    for f in files:
        path = dataset.path_of(f)
        table.add_row(f.relpath, f.fault_type, f"{f.load_lbs:g}", f"{f.shaft_hz:g}", f"{f.sampling_rate:g}",
                      "[green]yes[/]" if path.is_file() else "[red]no[/]",
                      _checksum_cell(path, f.sha256, f.git_sha1, verify))
    console = _console()
    console.print(table)
    present = sum(dataset.path_of(f).is_file() for f in files)
    console.print(f"{present} of {len(files)} files present; classes: {', '.join(dataset.classes)}")


def _info_synthetic() -> None:
    from rich.table import Table

    from faultdx.data.bearing import SKF_6205, defect_frequencies
    from faultdx.data.synthetic import NOMINAL_RPM, SyntheticDataset

    dataset = SyntheticDataset()
    table = Table(title=f"synthetic: {len(dataset.classes)} classes x {len(NOMINAL_RPM)} loads, "
                        f"{dataset.duration_s:g} s each at {dataset.sampling_rate:g} Hz ({SKF_6205.name})")
    for column in ("load (HP)", "rpm", "shaft (Hz)", "BPFO (Hz)", "BPFI (Hz)", "BSF (Hz)", "FTF (Hz)"):
        table.add_column(column)
    for load, rpm in NOMINAL_RPM.items():
        f = defect_frequencies(SKF_6205, rpm / 60)
        table.add_row(str(load), f"{rpm:g}", *(f"{v:.2f}" for v in (f.shaft, f.bpfo, f.bpfi, f.bsf, f.ftf)))
    console = _console()
    console.print(table)
    console.print(f"classes: {', '.join(dataset.classes)}")


@data_app.command("info")
def info(
    name: Annotated[str, typer.Argument(help="Dataset name (see `faultdx data list`).")],
    set_name: Annotated[str, typer.Option("--set", help="CWRU set: 12k_drive_end, 12k_fan_end, "
                                                        "48k_drive_end.")] = "12k_drive_end",
    verify: Annotated[bool, typer.Option(help="Hash present files against the catalogue.")] = True,
) -> None:
    """Show a dataset's files: labels, loads, rates, presence and checksum status."""
    from faultdx.data.registry import dataset_names

    if name not in dataset_names():
        _fail(f"unknown dataset {name!r}; valid datasets: {', '.join(dataset_names())}")
    try:
        if name == "cwru":
            _info_cwru(set_name, verify)
        elif name == "mfpt":
            _info_mfpt(verify)
        else:
            _info_synthetic()
    except ValueError as exc:
        _fail(str(exc))


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

    if name != "cwru":
        _fail(f"only 'cwru' can be fetched: the synthetic set is embedded and MFPT is published as one "
              f"archive (https://www.mfpt.org/fault-data-sets/); unpack its files into {data_dir() / 'mfpt'}")
    try:
        entries = [cwru_file(n) for n in files] if files else CWRUDataset(set=set_name).files()
    except ValueError as exc:
        _fail(str(exc))
    root = dest or data_dir()
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
