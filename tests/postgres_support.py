"""A real PostgreSQL server for the tests, started and stopped by them (no service of the machine's).

``initdb`` and ``pg_ctl`` from ``$FAULTDX_PG_BIN``, ``PATH``, ``/usr/local/bin`` or Debian's
``/usr/lib/postgresql/<version>/bin``. PostgreSQL refuses to run as root, so as root the server runs as
``nobody`` (``runuser``) in a temporary folder owned by it, on 127.0.0.1 and a free port, with trust
authentication and no fsync (a throwaway cluster). Missing binaries fail the tests when ``CI`` is set, and
skip them with the reason otherwise.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path

import pytest

from tests.service_support import free_port

RUN_AS = "nobody"


def pg_bin() -> Path | None:
    """The folder with ``initdb`` and ``pg_ctl``, or None."""
    candidates = [os.environ.get("FAULTDX_PG_BIN")]
    found = shutil.which("pg_ctl")
    candidates += [str(Path(found).resolve().parent) if found else None, "/usr/local/bin"]
    candidates += sorted((str(p) for p in Path("/usr/lib/postgresql").glob("*/bin")), reverse=True)
    for folder in filter(None, candidates):
        if (Path(folder) / "initdb").is_file() and (Path(folder) / "pg_ctl").is_file():
            return Path(folder)
    return None


def require_pg_bin() -> Path:
    folder = pg_bin()
    if folder is None:
        message = ("PostgreSQL binaries (initdb, pg_ctl) not found: install postgresql-15 or set "
                   "FAULTDX_PG_BIN; the PostgreSQL store tests need a real server")
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return folder


class PostgresServer:
    """One throwaway PostgreSQL cluster: :meth:`start`, :meth:`stop`, :meth:`create_database`."""

    def __init__(self, bin_dir: Path) -> None:
        self.bin = bin_dir
        self.root = Path(tempfile.mkdtemp(prefix="faultdx-pg-"))
        self.port = free_port()
        self.prefix: list[str] = []
        if os.geteuid() == 0:
            user = pwd.getpwnam(RUN_AS)
            os.chown(self.root, user.pw_uid, user.pw_gid)
            self.prefix = ["runuser", "-u", RUN_AS, "--"]
        self._run("initdb", "-D", str(self.root / "db"), "-U", "postgres", "-A", "trust", "-E", "UTF8",
                  "--no-sync", "--locale=C")

    def _run(self, tool: str, *args: str) -> None:
        done = subprocess.run([*self.prefix, str(self.bin / tool), *args], capture_output=True, text=True,
                              timeout=60, cwd=self.root)
        if done.returncode != 0:
            log = self.root / "log"
            tail = log.read_text()[-2000:] if log.is_file() else ""
            raise RuntimeError(f"{tool} failed ({done.returncode}): {done.stderr[-2000:]}\n{tail}")

    def start(self) -> None:
        options = f"-h 127.0.0.1 -p {self.port} -k {self.root} -F -c max_connections=200"
        self._run("pg_ctl", "-D", str(self.root / "db"), "-o", options, "-l", str(self.root / "log"), "-w",
                  "-t", "30", "start")

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.root / "db"), "-m", "fast", "-w", "-t", "30", "stop")

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self) -> str:
        """A fresh, empty database; its URL."""
        import psycopg

        name = "t_" + uuid.uuid4().hex[:12]
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        return self.url(name)

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)
