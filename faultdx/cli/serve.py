"""`faultdx serve`: the diagnosis service (FastAPI app ``faultdx_service.main`` under uvicorn)."""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
import time
from pathlib import Path
from typing import Annotated

import typer

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
METRICS_PREFIX = "faultdx-metrics-"  # + the owning process id + "-" + a random part


def register(app: typer.Typer) -> None:
    """Add this module's commands to the main app."""

    @app.command()
    def serve(
        model: Annotated[
            list[str] | None,
            typer.Option(
                "--model", "-m", help="model name or directory; repeat for several (first = default)"
            ),
        ] = None,
        host: Annotated[
            str | None, typer.Option(help="address to listen on [FAULTDX_HOST, 127.0.0.1]")
        ] = None,
        port: Annotated[int | None, typer.Option(help="TCP port [FAULTDX_PORT, 8000]")] = None,
        workers: Annotated[
            int | None, typer.Option(help="worker processes, 0 = one per core [FAULTDX_WORKERS, 0]")
        ] = None,
    ) -> None:
        """Serve diagnoses over HTTP: /v1 JSON API, Open Inference Protocol (/v2), /metrics, the page at /.

        Every other setting comes from FAULTDX_* environment variables (see the README).
        """
        run(model=model, host=host, port=port, workers=workers)


def run(*, model: list[str] | None, host: str | None, port: int | None, workers: int | None) -> None:
    """Export the options as ``FAULTDX_*`` (workers read them), set up multiprocess metrics, start uvicorn
    (:mod:`faultdx_service.runtime`: workers, timeouts, connection cap, clean SIGTERM)."""
    from pydantic import ValidationError

    overrides = {"HOST": host, "PORT": port, "WORKERS": workers}
    if model:
        overrides["MODEL"] = ",".join(_absolute_if_path(m) for m in model)
    for key, value in overrides.items():
        if value is not None:
            os.environ[f"FAULTDX_{key}"] = str(value)

    metrics_dir, owned = _metrics_dir()  # before anything imports prometheus_client
    try:
        from faultdx_service.settings import Settings

        try:
            settings = Settings()
        except ValidationError as err:
            raise typer.BadParameter(_describe(err)) from err
        _check_models(settings)
        # uvicorn re-raises SIGTERM after its graceful shutdown; exiting instead lets `finally` remove the
        # metrics directory this command created
        signal.signal(signal.SIGTERM, _exit_after_shutdown)
        from faultdx_service.runtime import serve as serve_with_uvicorn

        try:
            serve_with_uvicorn(settings, _log_config(settings.log_level, settings.log_json))
        finally:
            _skip_collections_at_exit()
    finally:
        if owned:
            shutil.rmtree(metrics_dir, ignore_errors=True)


def _exit_after_shutdown(signum: int, frame: object) -> None:
    raise SystemExit(0)


def _skip_collections_at_exit() -> None:
    """Leave the heap out of the interpreter's exit: its full garbage collections at exit walk every object
    torch, scipy, pandas and the app hold (about 320,000; 3-4 s of exit after uvicorn finished, measured).
    Nothing there waits for a collection: uvicorn has finished, the app's shutdown closed the store
    (committed, connections closed), and logs are flushed by ``atexit``, which still runs; ``gc.freeze``
    only moves the objects out of the collector's reach, their memory goes with the process."""
    import gc

    gc.freeze()


def _absolute_if_path(entry: str) -> str:
    path = Path(entry).expanduser()
    return str(path.resolve()) if path.is_dir() else entry


def _check_models(settings) -> None:
    """Fail fast, with the checkpoint's own message, before any worker starts."""
    from faultdx.diagnose.models import is_built_in
    from faultdx.modeldir import CheckpointError, read_meta, resolve_model

    names: dict[str, str] = {}
    for entry in settings.model:
        where = settings.models / entry if (settings.models / entry).is_dir() else entry
        if is_built_in(entry) and not Path(where).is_dir():
            continue  # a model built in code (the envelope reference), not read from a directory
        try:
            name = read_meta(resolve_model(where)).name
        except CheckpointError as err:
            raise typer.BadParameter(str(err), param_hint="--model / FAULTDX_MODEL") from err
        if name in names:
            raise typer.BadParameter(f"{names[name]!r} and {entry!r} are both named {name!r}: serve one, or "
                                     "re-export one under another name", param_hint="--model / FAULTDX_MODEL")
        names[name] = entry


def _metrics_dir() -> tuple[Path, bool]:
    """A clean ``PROMETHEUS_MULTIPROC_DIR``: the user's (emptied of old samples) or a fresh one, named after
    this process so that a later start can tell it is stale."""
    remove_stale_metrics_dirs(Path(tempfile.gettempdir()))
    given = os.environ.get(MULTIPROC_ENV)
    if given:
        path = Path(given)
        path.mkdir(parents=True, exist_ok=True)
        for stale in path.glob("*.db"):  # samples of an earlier run would be summed in
            stale.unlink()
        return path, False
    path = Path(tempfile.mkdtemp(prefix=f"{METRICS_PREFIX}{os.getpid()}-"))
    os.environ[MULTIPROC_ENV] = str(path)
    return path, True


def remove_stale_metrics_dirs(folder: Path) -> list[Path]:
    """Remove the metrics folders that ``faultdx serve`` processes no longer running left in ``folder`` (a
    SIGKILL skips their cleanup); return them. A folder whose name holds no process id (older releases)
    counts as stale once it has not changed for an hour."""
    removed = []
    for path in folder.glob(METRICS_PREFIX + "*"):
        owner = path.name.removeprefix(METRICS_PREFIX).split("-", 1)[0]
        try:
            stale = not _alive(int(owner)) if owner.isdigit() else time.time() - path.stat().st_mtime > 3600
        except OSError:
            continue
        if stale and path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def _log_config(level: str, json_lines: bool) -> dict | None:
    from faultdx_service.logconfig import uvicorn_log_config

    return uvicorn_log_config(level, json_lines)


def _describe(err) -> str:
    return "; ".join(
        f"FAULTDX_{'_'.join(str(p) for p in e['loc']).upper()}: {e['msg']}" for e in err.errors()
    )
