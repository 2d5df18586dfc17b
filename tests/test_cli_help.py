"""Every command's --help is plain text: no reStructuredText markup leaks from the docstrings."""

from __future__ import annotations

import typer
from typer.testing import CliRunner

from faultdx.cli import app


def command_paths(group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every command and sub-command of a (typer's own click) group."""
    paths = []
    for name in group.list_commands(None):
        command = group.get_command(None, name)
        paths.append((*prefix, name))
        if hasattr(command, "list_commands"):
            paths += command_paths(command, (*prefix, name))
    return paths


def test_every_help_is_plain_text() -> None:
    runner = CliRunner()
    paths = command_paths(typer.main.get_command(app))
    assert ("serve",) in paths and ("model", "info") in paths
    for path in paths:
        result = runner.invoke(app, [*path, "--help"], env={"COLUMNS": "200"})
        assert result.exit_code == 0, (path, result.output)
        command = " ".join(path)
        assert "``" not in result.output, f"faultdx {command} --help shows reStructuredText: {result.output}"


def test_the_test_client_builds_without_a_deprecation_warning() -> None:
    import subprocess
    import sys

    code = "from fastapi.testclient import TestClient"
    done = subprocess.run([sys.executable, "-W", "error::DeprecationWarning", "-c", code],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
