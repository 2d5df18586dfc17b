"""The monitoring database's engine and sessions: URL handling, SQLite set-up, migrations, and the check that
the database file being written is still the one that was opened.

An embedded SQLite file is the default (``./data/faultdx.sqlite`` under the working directory), in WAL mode
with a busy timeout: readers never block the writer, nor it them. A read runs in a deferred ``BEGIN`` (it
never takes the write lock); a write starts ``BEGIN IMMEDIATE`` so that writers of several processes (uvicorn
workers, the CLI) queue for the lock instead of failing on a lock upgrade, and keeps its transaction short.
PostgreSQL is used when ``FAULTDX_DATABASE_URL`` says so (``postgresql://...``, driven by psycopg 3).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url

from faultdx.errors import InputError

MIGRATIONS = Path(__file__).with_name("migrations")
DEFAULT_FILE = Path("data") / "faultdx.sqlite"
BUSY_TIMEOUT_S = 30.0  # how long a SQLite writer waits for the lock before giving up
CONNECT_TIMEOUT_S = 5  # PostgreSQL: an unreachable server is reported quickly, not after the OS's minutes
MIGRATION_LOCK = 20816  # PostgreSQL advisory-lock key: one process migrates, the others wait
WRITE = "faultdx_write"  # execution option of the engine that write transactions use


class DatabaseGone(InputError):
    """The SQLite file the store opened was deleted or replaced: nothing is written into a new, empty one."""

    status = 503


def default_url() -> str:
    """``$FAULTDX_DATABASE_URL``, else the SQLite file ``data/faultdx.sqlite`` under the working directory."""
    from faultdx.settings import current

    return current().database_url or f"sqlite:///{Path.cwd() / DEFAULT_FILE}"


def normalise_url(url: str) -> str:
    """``postgres://`` and ``postgresql://`` → ``postgresql+psycopg://`` (psycopg 3, not psycopg2)."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def redact(url: str) -> str:
    """The URL without its password (for logs and error messages)."""
    return make_url(normalise_url(url)).render_as_string(hide_password=True)


def sqlite_file(url: str) -> Path | None:
    """The database file of a SQLite URL (None for other backends and in-memory databases)."""
    parsed = make_url(normalise_url(url))
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:":
        return None
    return Path(parsed.database)


def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None  # SQLAlchemy's begin event below emits BEGIN itself
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")  # readers never block the writer, nor it them
    cursor.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_S * 1000)}")
    cursor.execute("PRAGMA synchronous=NORMAL")  # durable at every checkpoint; WAL keeps it consistent
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _sqlite_begin(connection: Any) -> None:
    # a deferred BEGIN that later writes can fail with "database is locked" at once (the busy timeout does
    # not apply to a lock upgrade): writers take the lock up front and queue; readers never take it
    write = connection.get_execution_options().get(WRITE, False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def make_engine(url: str | None = None) -> Engine:
    """An engine for ``url`` (default: :func:`default_url`) set up for several reading and writing processes;
    ``engine.execution_options(faultdx_write=True)`` is the one to write with."""
    parsed = make_url(normalise_url(url or default_url()))
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(parsed, connect_args={"timeout": BUSY_TIMEOUT_S})
        event.listen(engine, "connect", _sqlite_connect)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    connect_args = {"connect_timeout": CONNECT_TIMEOUT_S} if parsed.get_backend_name() == "postgresql" else {}
    return create_engine(parsed, pool_pre_ping=True, connect_args=connect_args)


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Run the shipped Alembic migrations up to ``revision``, one process at a time."""
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.execution_options(**{WRITE: True}).begin() as connection:  # SQLite: BEGIN IMMEDIATE
        if engine.dialect.name == "postgresql":
            connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK})")
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


class FileIdentity:
    """The (device, inode) of a SQLite database file when it was opened; :meth:`check` raises
    :class:`DatabaseGone` once the file at that path is missing or another one (deleted, restored from a
    copy, moved away): SQLite would otherwise create a new empty database there, or keep writing into an
    unlinked inode, and every later measurement would be lost."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.identity = None if path is None else _identity(path)

    def check(self) -> None:
        if self.path is None:
            return
        now = _identity(self.path)
        if now is None or now != self.identity:
            what = "was deleted" if now is None else "was replaced by another file"
            raise DatabaseGone(f"database: the SQLite file {self.path} {what} while the service was running; "
                               "nothing was stored (restore it, or restart to start a new one)", "database")


def _identity(path: Path) -> tuple[int, int] | None:
    try:
        stat = os.stat(path)
    except FileNotFoundError:
        return None
    return stat.st_dev, stat.st_ino
