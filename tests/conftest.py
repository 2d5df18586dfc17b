"""Fixtures every test module may use: a throwaway monitoring database for anything that starts the service,
and the real PostgreSQL server (started once per session, only by the tests that ask for it)."""

from __future__ import annotations

import pytest

from tests.postgres_support import PostgresServer, require_pg_bin


@pytest.fixture(scope="session", autouse=True)
def _monitoring_database(tmp_path_factory):
    """Services started by tests write their monitoring database to a temporary file, never ./data."""
    mp = pytest.MonkeyPatch()
    mp.setenv("FAULTDX_DATABASE_URL", f"sqlite:///{tmp_path_factory.mktemp('monitor') / 'faultdx.sqlite'}")
    yield
    mp.undo()


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
