"""`faultdx diagnose FILE...`: the verdict on signal files, with their machine context (rpm, bearing).

Files are read as the service reads uploads (:func:`faultdx.data.readers.read_signal`, within a sample budget;
a multi-channel file is read for the model's channel, or ``--channel``). Bad values exit with status 2 naming
the option.
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
    """``--bearing`` (a catalogue name) or ``--bearing-json`` (a geometry object), checked."""
    from faultdx.context import ContextError, check_bearing

    if name is not None and geometry is not None:
        raise _bad("give --bearing or --bearing-json, not both", "--bearing / --bearing-json")
    if geometry is not None:
        try:
            value: Any = json.loads(geometry)
        except ValueError as err:
            raise _bad(f"not a JSON object ({err})", "--bearing-json") from None
        option = "--bearing-json"
    else:
        value, option = name, "--bearing"
    if value is None:
        return None
    try:
        return check_bearing(value)
    except ContextError as err:
        raise _bad(f"{err} (field {err.field})", option) from None


def _rpm(rpm: float | None) -> float | None:
    from faultdx.context import ContextError, check_rpm

    try:
        return None if rpm is None else check_rpm(rpm)
    except ContextError as err:
        raise _bad(str(err), "--rpm") from None


def _read(diagnoser: Any, path: Path, rate: float | None, channel: str | None, max_samples: int) -> Any:
    """The file's signal (read once), for the model's channel when it has several."""
    from faultdx.data.readers import parse_channel, read_signal
    from faultdx.errors import InputError

    picked = parse_channel(channel)
    default = diagnoser.channels[0] if len(diagnoser.channels) == 1 else None
    try:
        signal_file = read_signal(path, sampling_rate=rate, channel=picked, default_channel=default,
                                  max_samples=max_samples)
    except InputError as err:
        raise _bad(str(err), "--channel" if err.field == "channel" else "FILE") from None
    if signal_file.sampling_rate is None:
        raise _bad(f"{path} does not state its sampling rate; give --rate", "--rate")
    if default is not None and picked is None and len(signal_file.channels) > 1:
        names = ", ".join(signal_file.channels)
        raise _bad(f"{path} has channels {names} and none is the model's {default!r}", "--channel")
    return signal_file


def verdict(
    diagnoser: Any, path: Path, rate: float | None, rpm: float | None, bearing: Any, *,
    channel: str | None = None, max_samples: int = MAX_SAMPLES,
) -> dict:
    """One file's verdict: fault type, confidence, class, severity, evidence, machine context."""
    from faultdx.diagnose import DiagnoseInputError

    signal_file = _read(diagnoser, path, rate, channel, max_samples)
    try:
        [d] = diagnoser.diagnose([signal_file.signal], signal_file.sampling_rate, rpm=rpm, bearing=bearing)
    except DiagnoseInputError as err:
        option = {"rpm": "--rpm", "sampling_rate": "--rate"}.get(str(err.field), "FILE")
        raise _bad(str(err), option) from None
    return {
        "file": str(path),
        "fault_type": d.fault_type,
        "confidence": round(d.confidence, 4),
        "unknown_score": None if d.unknown_score is None else round(d.unknown_score, 4),
        "closest_fault_type": d.closest_fault_type,
        "type_probabilities": {k: round(v, 4) for k, v in d.type_probabilities.items()},
        "label": d.label,
        "severity": d.severity,
        "evidence": d.evidence,
        "machine": None if d.machine is None else d.machine.describe(),
        "windows": len(d.start),
    }


def _line(v: dict) -> str:
    m, e = v["machine"], v["evidence"]
    name = "-" if m is None else m["bearing"]["name"] or "custom bearing"
    machine = "-" if m is None else (
        f"{m['rpm']:.0f} rpm ({m['rpm_source']}), {name} ({m['bearing_source']})"
    )
    evidence = "-" if e is None else f"{e['defect_frequency']} {e['hz']:.1f} Hz"
    unknown = "-" if v["unknown_score"] is None else f"{v['unknown_score']:.2f}"
    return (f"{Path(v['file']).name:<28} {v['fault_type']:<11} {100 * v['confidence']:5.1f} %  "
            f"{unknown:>7}  {v['severity'] or '-':<9} {evidence:<16} {machine}")


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
        verdicts = [verdict(diagnoser, f, rate, rpm_value, geometry, channel=channel, max_samples=max_samples)
                    for f in files]
        if as_json:
            typer.echo(json.dumps(verdicts, indent=1))
            return
        typer.echo(f"{'file':<28} {'fault type':<11} {'conf.':>7}  {'unknown':>7}  {'severity':<9} "
                   f"{'evidence':<16} machine")
        for v in verdicts:
            typer.echo(_line(v))
