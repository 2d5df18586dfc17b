"""A non-editable install: the service's import name, the shipped default model as package data, settings
relative to the working directory."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from faultdx.settings import DEFAULT_MODEL, Settings

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """The wheel built from this checkout, unpacked into a folder of its own (no editable finder)."""
    wheels, target = tmp_path_factory.mktemp("wheels"), tmp_path_factory.mktemp("site")
    pip = [sys.executable, "-m", "pip", "-q", "--disable-pip-version-check"]
    subprocess.run([*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", wheels, ROOT], check=True,
                   capture_output=True, timeout=300)
    wheel = next(wheels.glob("faultdx-*.whl"))
    subprocess.run([*pip, "install", "--no-deps", "--target", target, wheel], check=True, capture_output=True,
                   timeout=300)
    return target


def _run(code: str, site: Path, cwd: Path) -> subprocess.CompletedProcess:
    env = {"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin", "HOME": str(cwd)}
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=120)


def test_the_default_model_is_found_after_a_plain_install(installed, tmp_path) -> None:
    code = f"from faultdx.modeldir import resolve_model, read_meta\np = resolve_model({DEFAULT_MODEL!r})\n"
    done = _run(code + "print(p); print(read_meta(p).name)", installed, tmp_path)
    assert done.returncode == 0, done.stderr
    where, name = done.stdout.split()
    assert Path(where).is_relative_to(installed) and name == DEFAULT_MODEL


def test_the_service_installs_as_faultdx_service_not_service(installed, tmp_path) -> None:
    assert (installed / "faultdx_service" / "static" / "index.html").is_file()
    assert not (installed / "service").exists()
    code = "import faultdx_service.main, faultdx_service.routes.page\nimport service"
    done = _run(code, installed, tmp_path)
    assert "No module named 'service'" in done.stderr


def test_paths_default_to_folders_of_the_working_directory(monkeypatch, tmp_path) -> None:
    for name in ("DATA", "MODELS", "RESULTS", "RUNS"):
        monkeypatch.delenv(f"FAULTDX_{name}", raising=False)
    monkeypatch.chdir(tmp_path)
    settings = Settings()
    assert [p.resolve() for p in (settings.data, settings.models, settings.results, settings.runs)] == [
        tmp_path / "data", tmp_path / "models", tmp_path / "results", tmp_path / "runs"]
    monkeypatch.setenv("FAULTDX_MODELS", "~/elsewhere")
    assert Settings().models == Path.home() / "elsewhere"


def test_the_monitoring_migrations_ship_and_run_from_the_installed_package(installed, tmp_path) -> None:
    code = ("from faultdx.monitor.store import Store\ns = Store()\nprint(s.count_diagnoses(), "
            "s.engine.url.database)")
    done = _run(code, installed, tmp_path)
    assert done.returncode == 0, done.stderr
    count, database = done.stdout.split()
    assert count == "0" and Path(database) == tmp_path / "data" / "faultdx.sqlite"  # under the working dir
