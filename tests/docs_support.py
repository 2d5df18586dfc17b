"""How the README's and docs/' code blocks run in the tests (collected through Sybil by the root conftest.py).

Each fenced ``bash`` block runs with ``bash -euo pipefail`` and each ``python`` block in one namespace per
document, all in a throwaway working directory with the project's virtual environment first on the PATH, the
recordings of ``FAULTDX_DATA`` (made absolute), and a real ``faultdx serve`` of the default model started once
for the session. Blocks address a server as ``127.0.0.1:8000`` (the documented default); that address is
pointed at the session's server, which listens on a free port. A block that cannot run in a test is preceded
by Sybil's own skip comment with its reason: the reason is printed with the skip (``-rs``) and
``tests/test_docs_markers.py`` lists every marker and refuses one without a reason.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import traceback
from pathlib import Path

from sybil.example import SybilFailure

from faultdx.paths import PROJECT_ROOT

DOCUMENTED_HOST = re.compile(r"(127\.0\.0\.1|localhost):8000")
BLOCK_TIMEOUT_S = 300


class DocsSession:
    """The working directory, environment and served model shared by every block of a test session."""

    def __init__(self) -> None:
        self.workdir = Path(tempfile.mkdtemp(prefix="faultdx-docs-"))
        self.start_dir = Path.cwd()  # a relative FAULTDX_DATA (the README's ../shared/data) is relative to it
        self._server = None
        self.address: str | None = None

    def env(self) -> dict[str, str]:
        venv_bin = str(Path(sys.executable).parent)
        data = self.start_dir / Path(os.environ.get("FAULTDX_DATA", "data")).expanduser()
        env = {**os.environ, "PATH": f"{venv_bin}{os.pathsep}{os.environ.get('PATH', '')}",
               "FAULTDX_DATA": str(data.resolve()),
               # the checkout's results/ (blocks run in a throwaway directory, not the checkout)
               "FAULTDX_RESULTS": str(PROJECT_ROOT / "results"),
               "FAULTDX_LOG_LEVEL": "warning", "PYTHONWARNINGS": "ignore"}
        env.pop("PROMETHEUS_MULTIPROC_DIR", None)
        return env

    def served(self) -> str:
        """``host:port`` of the session's server (started on first use)."""
        if self.address is None:
            from tests.service_support import running_server

            self._server = running_server(
                PROJECT_ROOT / "models" / "hybrid-aprelu", env={"FAULTDX_DATABASE_URL": "sqlite:///" + str(
                    self.workdir / "docs-monitor.db")})
            url = self._server.__enter__()
            self.address = url.removeprefix("http://")
        return self.address

    def point_at_server(self, source: str) -> str:
        if not DOCUMENTED_HOST.search(source):
            return source
        return DOCUMENTED_HOST.sub(self.served(), source)

    def close(self) -> None:
        if self._server is not None:
            self._server.__exit__(None, None, None)


SESSION = DocsSession()


def run_bash(example) -> None:
    """Evaluate a ``bash`` block; a non-zero exit fails the test with the block's output."""
    source = SESSION.point_at_server(example.parsed)
    done = subprocess.run(["bash", "-euo", "pipefail", "-c", source], cwd=SESSION.workdir, env=SESSION.env(),
                          capture_output=True, text=True, timeout=BLOCK_TIMEOUT_S)
    if done.returncode != 0:
        raise SybilFailure(example, f"bash block exited {done.returncode}\n--- stdout ---\n"
                                    f"{done.stdout[-4000:]}\n--- stderr ---\n{done.stderr[-4000:]}")


def run_python(example) -> None:
    """Evaluate a ``python`` block in its document's namespace, from the session's working directory."""
    source = SESSION.point_at_server(example.parsed)
    code = compile(source, f"{example.path}:{example.line}", "exec")
    old_cwd, old_env = Path.cwd(), dict(os.environ)
    os.chdir(SESSION.workdir)
    # the block sees what a bash block sees: absolute FAULTDX_DATA, the checkout's results/
    os.environ.update({k: SESSION.env()[k] for k in ("FAULTDX_DATA", "FAULTDX_RESULTS")})
    try:
        exec(code, example.namespace)
    except Exception:  # reported as the block's failure (Sybil's own traceback filter cannot cut exec'd code)
        raise SybilFailure(example, traceback.format_exc(limit=-12)) from None
    finally:
        os.chdir(old_cwd)
        os.environ.clear()
        os.environ.update(old_env)
