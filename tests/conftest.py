"""Session-wide test setup.

- Without the real recordings (and outside CI), FAULTDX_DATA points at a simulated stand-in in the publishers'
  layouts (tests/standin_data.py), so that the tests of layouts, splits, training and spectra still run.
- Services started by tests write their monitoring database to a throwaway file; the real PostgreSQL server
  starts once per session, only for the tests that ask for it.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

from faultdx import __version__
from tests.postgres_support import PostgresServer, require_pg_bin

STANDIN_ENV = "FAULTDX_TEST_STANDIN"


def pytest_configure(config) -> None:
    root = Path(os.environ.get("FAULTDX_DATA", "data")).expanduser()
    if (root / "cwru/12k_drive_end/105.mat").is_file() or os.environ.get("CI"):
        return
    from tests.standin_data import build

    standin = Path(tempfile.gettempdir()) / f"faultdx-standin-{__version__}"
    os.environ["FAULTDX_DATA"] = str(build(standin))
    os.environ[STANDIN_ENV] = "1"


def pytest_collection_modifyitems(session, config, items) -> None:
    """The container tests run last, and the image they need starts building now, in the background: its
    minutes overlap the rest of the session instead of adding to it (tests/image_build.py)."""
    container = [item for item in items if item.nodeid.startswith("tests/test_container.py")]
    if not container:
        return
    items[:] = [item for item in items if not item.nodeid.startswith("tests/test_container.py")] + container
    if config.option.collectonly:
        return
    from tests import image_build

    image_build.start()


def pytest_unconfigure(config) -> None:
    from tests import image_build

    image_build.stop()


def pytest_report_header(config) -> str | None:
    if os.environ.get(STANDIN_ENV):
        return (f"FAULTDX_DATA={os.environ['FAULTDX_DATA']}: a SIMULATED stand-in (no real recordings "
                "found); tests of the real files' contents skip")
    return None


@pytest.fixture(scope="session", autouse=True)
def _monitoring_database(tmp_path_factory):
    """Services started by tests write their monitoring database to a temporary file, never ./data."""
    mp = pytest.MonkeyPatch()
    mp.setenv("FAULTDX_DATABASE_URL", f"sqlite:///{tmp_path_factory.mktemp('monitor') / 'faultdx.sqlite'}")
    yield
    mp.undo()


SERVE_EXPORTS = (
    "FAULTDX_MODEL", "FAULTDX_HOST", "FAULTDX_PORT", "FAULTDX_WORKERS", "PROMETHEUS_MULTIPROC_DIR",
)


@pytest.fixture
def serve_exports_undone(monkeypatch):
    """`faultdx serve` exports its options into os.environ (its workers read them); run in-process by a test,
    they would leak into later tests (FAULTDX_PORT=1 once did). Set, then deleted: monkeypatch's undo removes
    whatever serve wrote (a delenv of an unset name records nothing to restore)."""
    for name in SERVE_EXPORTS:
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)


@pytest.fixture(scope="session", autouse=True)
def _one_torch_thread():
    """Torch on one thread in this process for the whole session, module fixtures included (the tests share
    2 cores with the servers they start, the image build and each other: two threads spinning on a busy core
    crawl; a suite subset beside a busy low-priority process ran 10 % faster). Servers and workers the tests
    start set their own threads, as they do in production."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path) -> str:
    """A fresh monitoring database for the test, once on SQLite and once on the real PostgreSQL server."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'monitor.sqlite'}"
    return request.getfixturevalue("postgres").create_database()


@pytest.fixture(scope="session")
def postgres():
    """A real PostgreSQL server for the session (see tests/postgres_support.py)."""
    server = PostgresServer(require_pg_bin())
    server.start()
    try:
        yield server
    finally:
        try:
            server.stop()
        finally:
            server.remove()
