"""`faultdx diagnose FILE...`: the verdict on signal files, with their machine context (rpm, bearing).

Files are read as the service reads uploads (:func:`faultdx.diagnose.reading.read_for_model`, within a sample
budget; a multi-channel file is read for the model's channel, or ``--channel``) and printed through the
diagnosis' own forms (``--json``: ``as_dict`` without the windows; the table: ``as_row``). Bad values exit
with status 2 naming the option.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from faultdx.data.readers import MAX_SAMPLES
from faultdx.paths import DEFAULT_MODEL


def _bad(message: str, option: str) -> typer.BadParameter:
    return typer.BadParameter(message, param_hint=option)


def _bearing(name: str | None, geometry: str | None) -> Any:
    """``--bearing`` (a catalogue name) or ``--bearing-json`` (a geometry object), checked by the one bearing
    parser (:func:`faultdx.data.bearing.parse_bearing`)."""
    from faultdx.data.bearing import BearingError, parse_bearing

    if name is not None and geometry is not None:
        raise _bad("give --bearing or --bearing-json, not both", "--bearing / --bearing-json")
    option = "--bearing" if geometry is None else "--bearing-json"
    if geometry is not None and not geometry.lstrip().startswith("{"):
        raise _bad("not a JSON object: give the geometry as {...}", option)
    try:
        return parse_bearing(geometry if geometry is not None else name)
    except BearingError as err:
        raise _bad(f"{err} (field {err.field})", option) from None


def _rpm(rpm: float | None) -> float | None:
    from faultdx.context import ContextError, check_rpm

    try:
        return None if rpm is None else check_rpm(rpm)
    except ContextError as err:
        raise _bad(str(err), "--rpm") from None


# an error's field -> the option that fixes it
OPTIONS = {"channel": "--channel", "sampling_rate": "--rate", "rpm": "--rpm"}


def diagnosis(
    diagnoser: Any, path: Path, rate: float | None, rpm: float | None, bearing: Any, *,
    channel: str | None = None, max_samples: int = MAX_SAMPLES,
) -> Any:
    """One file's :class:`~faultdx.diagnose.Diagnosis`, read by
    :func:`~faultdx.diagnose.reading.read_for_model`; bad input exits 2 naming the option."""
    from faultdx.diagnose.reading import read_for_model
    from faultdx.errors import InputError

    try:
        read = read_for_model(path, diagnoser.channels, sampling_rate=rate, channel=channel,
                              max_samples=max_samples, hints=OPTIONS)
        [d] = diagnoser.diagnose([read.signal], read.sampling_rate, channels=read.row_names, rpm=rpm,
                                 bearing=bearing)
    except InputError as err:
        raise _bad(str(err), OPTIONS.get(str(err.field), "FILE")) from None
    return d


def _line(path: Path, row: dict) -> str:
    """A table line of :meth:`faultdx.diagnose.Diagnosis.as_row`."""
    bearing = "custom bearing" if row["bearing"] == "custom" else row["bearing"]
    machine = "-" if row["rpm"] is None else (
        f"{row['rpm']:.0f} rpm ({row['rpm_source']}), {bearing} ({row['bearing_source']})"
    )
    evidence = "-" if row["evidence"] is None else f"{row['evidence']} {row['evidence_hz']:.1f} Hz"
    unknown = "-" if row["unknown_score"] is None else f"{row['unknown_score']:.2f}"
    refused = f"  refused: {row['signal_problems']}" if row.get("signal_ok") is False else ""
    return (f"{path.name:<28} {row['fault_type']:<11} {100 * row['confidence']:5.1f} %  "
            f"{unknown:>7}  {row['severity'] or '-':<9} {evidence:<16} {machine}{refused}")


def register(app: typer.Typer) -> None:
    """Add this module's command to the main app."""

    @app.command()
    def diagnose(
        files: Annotated[
            list[Path], typer.Argument(metavar="FILE", help="signal files (.csv .npy .wav .mat .parquet)")
        ],
        model: Annotated[str, typer.Option("--model", "-m", help="model name or directory")] = DEFAULT_MODEL,
        rpm: Annotated[
            float | None, typer.Option(help="shaft speed; estimated from each signal if omitted")
        ] = None,
        bearing: Annotated[str | None, typer.Option(help="catalogue name, e.g. 'SKF 6205'")] = None,
        bearing_json: Annotated[
            str | None, typer.Option(help='geometry: {"balls": 8, "ball_diameter_mm": 7.94, ...}')
        ] = None,
        rate: Annotated[
            float | None, typer.Option(help="sampling rate in Hz, if the file does not say")
        ] = None,
        channel: Annotated[
            str | None, typer.Option(help="channel name or index in the files (default: the model's)")
        ] = None,
        max_samples: Annotated[
            int, typer.Option(min=1, help="refuse files that hold more samples (all channels read)")
        ] = MAX_SAMPLES,
        as_json: Annotated[bool, typer.Option("--json", help="print JSON instead of a table")] = False,
    ) -> None:
        """Diagnose signal files: fault type, confidence, unknown-condition score (above 1: the fault type is
        "unknown"), severity, evidence and the machine context used."""
        from faultdx.diagnose import Diagnoser

        rpm_value, geometry = _rpm(rpm), _bearing(bearing, bearing_json)
        try:
            diagnoser = Diagnoser.from_dir(model)
        except (OSError, ValueError) as err:
            raise _bad(str(err), "--model") from None
        diagnoses = [diagnosis(diagnoser, f, rate, rpm_value, geometry, channel=channel,
                               max_samples=max_samples) for f in files]
        if as_json:
            verdicts = [{"file": str(f), **d.as_dict(windows=False), "windows": len(d.start)}
                        for f, d in zip(files, diagnoses, strict=True)]
            typer.echo(json.dumps(verdicts, indent=1))
            return
        typer.echo(f"{'file':<28} {'fault type':<11} {'conf.':>7}  {'unknown':>7}  {'severity':<9} "
                   f"{'evidence':<16} machine")
        for f, d in zip(files, diagnoses, strict=True):
            typer.echo(_line(f, d.as_row()))
