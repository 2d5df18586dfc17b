"""`faultdx listen`: the plant listener without the HTTP server (MQTT in, diagnoses stored, answers out)."""

from __future__ import annotations

import logging
import os
import signal
import threading
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    """Add this module's commands to the main app."""

    @app.command()
    def listen(
        url: Annotated[
            str | None, typer.Option(help="broker, mqtt://host:port or mqtts://... [FAULTDX_MQTT_URL]")
        ] = None,
        model: Annotated[
            list[str] | None,
            typer.Option("--model", "-m", help="model name or directory; repeat (first = default)"),
        ] = None,
    ) -> None:
        """Subscribe to signals on an MQTT broker (faultdx/<asset>/signal), diagnose each for its asset, store
        it once and publish the answer on faultdx/<asset>/diagnosis (docs/plant.md).

        Every other setting comes from FAULTDX_MQTT_* and FAULTDX_* environment variables. Stops on
        SIGTERM or Ctrl-C; messages not yet acknowledged stay with the broker.
        """
        run(url=url, model=model)


def run(*, url: str | None, model: list[str] | None) -> None:
    """Load the models, then listen until SIGTERM / SIGINT."""
    from pydantic import ValidationError

    from faultdx.errors import InputError
    from faultdx.settings import Settings

    if url:
        os.environ["FAULTDX_MQTT_URL"] = url
    if model:
        os.environ["FAULTDX_MODEL"] = ",".join(model)
    try:
        settings = Settings()
    except ValidationError as err:
        raise typer.BadParameter(str(err)) from err
    if not settings.mqtt_url:
        raise typer.BadParameter("no broker: give --url or set FAULTDX_MQTT_URL", param_hint="--url")
    logging.basicConfig(level=settings.log_level.upper() if settings.log_level != "trace" else "DEBUG",
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from faultdx.ingest.runner import ListenerHandle, load_diagnosers, make_listener

    try:
        handle = ListenerHandle(make_listener(settings, load_diagnosers(settings)))
    except InputError as err:
        raise typer.BadParameter(str(err), param_hint=err.field) from err
    done = threading.Event()

    def _stop(signum: int, frame: object) -> None:
        done.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    handle.start()
    typer.echo(f"listening to {handle.listener.config.url} on {settings.mqtt_topic} (Ctrl-C stops)", err=True)
    while not done.wait(1.0):
        pass
    handle.stop()
