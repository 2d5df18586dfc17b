"""`faultdx assets` (create, list, show, update, delete) and `faultdx history` (list, trend, export): the
monitoring store from the command line, the same database the service writes (``FAULTDX_DATABASE_URL``, else
``./data/faultdx.sqlite``)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

T = TypeVar("T")
assets_app = typer.Typer(help="Monitored assets (machines and measurement points).", no_args_is_help=True)
history_app = typer.Typer(help="Stored diagnoses of an asset: list, trend, export.", no_args_is_help=True)

DatabaseUrl = Annotated[str | None, typer.Option(
    "--database-url", envvar="FAULTDX_DATABASE_URL", help="default: sqlite file ./data/faultdx.sqlite"
)]
Ref = Annotated[str, typer.Argument(help="asset id or name")]
AsJson = Annotated[bool, typer.Option("--json", help="print JSON instead of text")]
Start = Annotated[datetime | None, typer.Option(help="first measurement time (UTC unless a zone is given)")]
End = Annotated[datetime | None, typer.Option(help="last measurement time (exclusive)")]

Machine = Annotated[str | None, typer.Option(help="machine name or tag number")]
Location = Annotated[str | None, typer.Option(help="where the machine is")]
Sensor = Annotated[str | None, typer.Option("--sensor-position", help="e.g. 'drive end, horizontal'")]
Bearing = Annotated[str | None, typer.Option(help="catalogue name, or a geometry as a JSON object")]
Rpm = Annotated[float | None, typer.Option(help="nominal shaft speed (rpm)")]
Rate = Annotated[float | None, typer.Option("--sampling-rate", help="Hz of this sensor's signals")]
Group = Annotated[int | None, typer.Option("--iso-group", help="ISO 20816-3 machine group (1 or 2)")]
Support = Annotated[str | None, typer.Option(help="ISO 20816-3 support: rigid or flexible")]
Limits = Annotated[str | None, typer.Option("--limits", help="own zone limits A/B,B/C,C/D mm/s, e.g. 2,4,6")]
Tags = Annotated[list[str] | None, typer.Option("--tag", help="a tag; repeat for several")]
AlarmN = Annotated[int | None, typer.Option("--alarm-n", help="fault alarm: the same fault in N ...")]
AlarmM = Annotated[int | None, typer.Option("--alarm-m", help="... of the last M measurements")]


def register(app: typer.Typer) -> None:
    """Add ``assets`` and ``history`` to the main app."""
    app.add_typer(assets_app, name="assets")
    app.add_typer(history_app, name="history")


def _run(url: str | None, action: Callable[[Any], T]) -> T:
    """``action(store)``; bad input and a missing asset exit 2 with the message, not a traceback."""
    from pydantic import ValidationError

    from faultdx.errors import InputError
    from faultdx.monitor.store import Store

    store = Store(url)
    try:
        return action(store)
    except (InputError, ValidationError) as err:
        typer.echo(f"error: {_message(err)}", err=True)
        raise typer.Exit(2) from None
    finally:
        store.close()


def _message(err: Exception) -> str:
    from pydantic import ValidationError

    if isinstance(err, ValidationError):
        first = err.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "asset"
        message = first["msg"].removeprefix("Value error, ")
        return message if message.startswith(field) else f"{field}: {message}"
    return str(err)


def _fields(**options: Any) -> dict[str, Any]:
    """The options given, as asset fields (``--limits 2,4,6`` → zone_limits, ``--bearing '{...}'`` → dict)."""
    out = {k: v for k, v in options.items() if v is not None}
    if "bearing" in out and out["bearing"].lstrip().startswith("{"):
        try:
            out["bearing"] = json.loads(out["bearing"])
        except ValueError as err:
            raise typer.BadParameter(f"--bearing: not a JSON object ({err})") from None
    if "zone_limits" in out:
        try:
            ab, bc, cd = (float(v) for v in out["zone_limits"].split(","))
        except ValueError:
            raise typer.BadParameter("--limits: three numbers A/B,B/C,C/D in mm/s, e.g. 2,4,6") from None
        out["zone_limits"] = {"ab": ab, "bc": bc, "cd": cd}
    return out


def _echo_json(value: Any) -> None:
    if hasattr(value, "model_dump"):
        value = value.model_dump(mode="json")
    elif isinstance(value, list):
        value = [v.model_dump(mode="json") for v in value]
    typer.echo(json.dumps(value, indent=1, default=str))


def _describe(asset: Any) -> str:
    status, limits = asset.status, asset.limits
    zone = (status and status.zone) or "-"
    alarms, count = (status.open_alarms, status.diagnoses) if status else (0, 0)
    return (f"{asset.id:>4}  {asset.name:<24} zone {zone}  open alarms {alarms}  diagnoses {count}  limits "
            f"{'-' if limits is None else f'{limits.ab:g}/{limits.bc:g}/{limits.cd:g}'} mm/s")


def _all_assets(store: Any) -> list[Any]:
    """Every asset, page by page."""
    assets, cursor = [], None
    while True:
        page = store.list_assets(limit=1000, cursor=cursor)
        assets += page.assets
        if page.next_cursor is None:
            return assets
        cursor = page.next_cursor


@assets_app.command("create")
def create(
    name: Annotated[str, typer.Argument(help="unique name (not all digits)")],
    machine: Machine = None, location: Location = None, sensor_position: Sensor = None,
    bearing: Bearing = None, rpm: Rpm = None, sampling_rate: Rate = None, iso_group: Group = None,
    support: Support = None,
    limits: Limits = None, tag: Tags = None, alarm_n: AlarmN = None, alarm_m: AlarmM = None,
    database_url: DatabaseUrl = None, as_json: AsJson = False,
) -> None:
    """Create an asset."""
    from faultdx.monitor.assets import AssetSpec

    values = _fields(name=name, machine=machine, location=location, sensor_position=sensor_position,
                     bearing=bearing, rpm=rpm, sampling_rate=sampling_rate, iso_group=iso_group,
                     support=support, zone_limits=limits, tags=tag, alarm_repeat_n=alarm_n,
                     alarm_repeat_m=alarm_m)
    asset = _run(database_url, lambda s: s.create_asset(AssetSpec.model_validate(values)))
    _echo_json(asset) if as_json else typer.echo(f"created asset {asset.id} {asset.name!r}")


@assets_app.command("list")
def list_assets(database_url: DatabaseUrl = None, as_json: AsJson = False) -> None:
    """List the assets with their latest zone and open alarms."""
    assets = _run(database_url, _all_assets)
    if as_json:
        _echo_json(assets)
        return
    for asset in assets:
        typer.echo(_describe(asset))
    if not assets:
        typer.echo("no assets (create one with `faultdx assets create NAME`)")


@assets_app.command("show")
def show(ref: Ref, database_url: DatabaseUrl = None) -> None:
    """Print one asset (JSON) with its status."""
    _echo_json(_run(database_url, lambda s: s.get_asset(ref)))


@assets_app.command("update")
def update(
    ref: Ref,
    name: Annotated[str | None, typer.Option(help="new name")] = None,
    machine: Machine = None, location: Location = None, sensor_position: Sensor = None,
    bearing: Bearing = None, rpm: Rpm = None, sampling_rate: Rate = None, iso_group: Group = None,
    support: Support = None,
    limits: Limits = None, tag: Tags = None, alarm_n: AlarmN = None, alarm_m: AlarmM = None,
    clear: Annotated[list[str] | None, typer.Option(help="a field to clear (e.g. rpm); repeat")] = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Change an asset's fields (only those given)."""
    from faultdx.monitor.assets import AssetFields

    values = _fields(name=name, machine=machine, location=location, sensor_position=sensor_position,
                     bearing=bearing, rpm=rpm, sampling_rate=sampling_rate, iso_group=iso_group,
                     support=support, zone_limits=limits, tags=tag, alarm_repeat_n=alarm_n,
                     alarm_repeat_m=alarm_m)
    values.update({field: None for field in clear or []})
    asset = _run(database_url, lambda s: s.update_asset(ref, AssetFields.model_validate(values)))
    typer.echo(f"updated asset {asset.id} {asset.name!r}")


@assets_app.command("baseline")
def baseline(
    ref: Ref,
    files: Annotated[list[Path] | None, typer.Argument(help="healthy recordings of this asset")] = None,
    model: Annotated[str | None, typer.Option("--model", "-m", help="model name or directory (default: "
                                              "the service's default)")] = None,
    rate: Annotated[float | None, typer.Option("--rate", help="Hz, when a file does not say")] = None,
    rpm: Rpm = None, bearing: Bearing = None,
    clear: Annotated[bool, typer.Option("--clear", help="remove the asset's baseline first")] = False,
    database_url: DatabaseUrl = None, as_json: AsJson = False,
) -> None:
    """Add healthy recordings (one per FILE) to an asset's baseline, which later diagnoses of the asset are
    judged against; without FILE, show the baseline. The asset's rate, rpm and bearing fill in."""
    from faultdx.paths import DEFAULT_MODEL

    def run(store: Any) -> Any:
        if clear:
            store.clear_baseline(ref)
        if files:
            _add_baseline(store, ref, files, model or DEFAULT_MODEL, rate, rpm, bearing)
        return store.baseline(ref)

    out = _run(database_url, run)
    if as_json:
        _echo_json(out)
        return
    summary = out.summary
    speeds = ", ".join("unknown" if r is None else f"{r:g}" for r in summary.speeds_rpm) or "-"
    typer.echo(f"{out.asset.name}: baseline of {summary.recordings} recordings, {summary.windows} windows, "
               f"speeds {speeds} rpm")


def _add_baseline(store: Any, ref: str, files: list[Path], model: str, rate: float | None,
                  rpm: float | None, bearing: str | None) -> None:
    """Read each file for the model and store its features in one transaction (bad input: exit 2)."""
    from faultdx.data.bearing import parse_bearing
    from faultdx.diagnose import Diagnoser
    from faultdx.diagnose.reading import read_for_model
    from faultdx.monitor.recording import baseline_recordings

    asset = store.asset(ref)
    diagnoser = Diagnoser.from_dir(model)
    items = []
    for path in files:
        read = read_for_model(path, diagnoser.channels, sampling_rate=rate or asset.sampling_rate)
        items += baseline_recordings(diagnoser, [read.signal], read.sampling_rate,
                                     rpm=rpm if rpm is not None else asset.rpm,
                                     bearing=parse_bearing(bearing if bearing is not None else asset.bearing))
    store.add_baseline(asset.id, items)


@assets_app.command("delete")
def delete(
    ref: Ref,
    yes: Annotated[bool, typer.Option("--yes", help="do not ask")] = False,
    database_url: DatabaseUrl = None,
) -> None:
    """Delete an asset with its stored diagnoses and alarms."""
    if not yes:
        typer.confirm(f"delete asset {ref!r} with its history?", abort=True)
    _run(database_url, lambda s: s.delete_asset(ref))
    typer.echo(f"deleted asset {ref!r}")


@history_app.command("list")
def history_list(
    ref: Ref, start: Start = None, end: End = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 20,
    offset: Annotated[int, typer.Option(min=0)] = 0,
    database_url: DatabaseUrl = None, as_json: AsJson = False,
) -> None:
    """An asset's stored diagnoses, newest first."""
    page = _run(database_url, lambda s: s.diagnoses(ref, start=start, end=end, limit=limit, offset=offset))
    if as_json:
        _echo_json(page)
        return
    typer.echo(f"{page.asset.name}: {page.total} diagnoses, showing {offset + 1}-{offset + len(page.items)}")
    for d in page.items:
        ind = d.indicators
        typer.echo(f"{d.id:>6}  {d.measured_at:%Y-%m-%d %H:%M:%S}  {d.fault_type:<10} "
                   f"{100 * d.confidence:5.1f} %  zone {d.zone or '-'}  "
                   f"v {ind.velocity_rms:.2f} mm/s  kurtosis {ind.kurtosis:.1f}")


@history_app.command("trend")
def history_trend(
    ref: Ref, start: Start = None, end: End = None, database_url: DatabaseUrl = None, as_json: AsJson = False,
) -> None:
    """Daily aggregates of an asset's diagnoses: count, velocity RMS, worst zone, verdicts."""
    trend = _run(database_url, lambda s: s.trend(ref, start=start, end=end))
    if as_json:
        _echo_json(trend)
        return
    for day in trend.daily:
        verdicts = ", ".join(f"{k} {v}" for k, v in day.fault_types.items())
        typer.echo(f"{day.day}  n={day.count:<3} v mean {day.velocity_rms_mean:.2f} max "
                   f"{day.velocity_rms_max:.2f} mm/s  worst zone {day.zone_worst or '-'}  {verdicts}")
    for alarm in trend.alarms:
        typer.echo(f"alarm {alarm.id} {alarm.state}: {alarm.message} (opened {alarm.opened_at:%Y-%m-%d})")


@history_app.command("export")
def history_export(
    ref: Ref,
    out: Annotated[Path, typer.Option("--out", "-o", help="a .csv or .parquet file")],
    start: Start = None, end: End = None, database_url: DatabaseUrl = None,
) -> None:
    """Write an asset's diagnoses as one flat table (CSV or Parquet by the file's suffix)."""
    if out.suffix not in (".csv", ".parquet"):
        raise typer.BadParameter("--out: a .csv or .parquet file")
    from faultdx.atomic import write_bytes_atomic
    from faultdx.monitor.export import to_csv

    frame = _run(database_url, lambda s: s.frame(ref, start=start, end=end))
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix == ".parquet":
        frame.to_parquet(out, index=False)
    else:
        write_bytes_atomic(out, to_csv(frame))  # formula-like text escaped, as the API's export
    typer.echo(f"wrote {len(frame)} diagnoses to {out}")
