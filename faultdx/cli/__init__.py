"""The ``faultdx`` command line: a thin typer app over the library.

Each sub-module owns one group of commands and registers it here; heavy imports (torch, scipy) happen inside
the commands so that ``faultdx --help`` stays instant.
"""

from __future__ import annotations

import typer

from faultdx import __version__
from faultdx.cli import data, demo, diagnose, listen, model, monitor, score, serve, train

app = typer.Typer(
    name="faultdx",
    help="Rolling-bearing fault diagnosis with APReLU residual networks.",
    no_args_is_help=True,
    add_completion=False,
)


@app.callback()
def _root() -> None:
    """Rolling-bearing fault diagnosis with APReLU residual networks."""


for _module in (demo, data, model, train, serve, listen, diagnose, score, monitor):
    _module.register(app)


@app.command()
def version() -> None:
    """Print the faultdx version."""
    typer.echo(__version__)


def main() -> None:
    """Console-script entry point."""
    app()
