"""How the service runs under uvicorn: worker processes, a clean SIGTERM, connection timeouts and a cap.

- **Workers.** ``FAULTDX_WORKERS=0`` (the default) is one process per CPU core, at most
  :data:`MAX_AUTO_WORKERS`: the event loop (HTTP, JSON, windowing) of one process cannot keep a second core's
  forward passes fed.
- **SIGTERM with several workers.** uvicorn's supervisor keeps its copy of the listening socket open until
  every worker has finished, so the kernel went on accepting connections nobody would answer. Here the
  supervisor closes its copy and signals the workers at the signal itself; each worker closes its own copy at
  once and answers what it had already accepted (up to ``FAULTDX_SHUTDOWN_TIMEOUT_S``). The port refuses
  connections within a fraction of a second.
- **Timeouts.** A request's headers must be complete ``FAULTDX_HEADER_TIMEOUT_S`` after its first byte (for
  the first request of a connection: after the connection opened); an idle keep-alive connection is closed
  after ``FAULTDX_KEEP_ALIVE_S`` (uvicorn's ``timeout_keep_alive``). The body has its own timeout
  (``FAULTDX_BODY_TIMEOUT_S``, :mod:`faultdx_service.limits`).
- **Connection cap.** Each worker holds at most ``FAULTDX_MAX_CONNECTIONS`` connections (and never more than
  its file-descriptor limit allows). A connection past the cap makes room by closing the connection that has
  waited longest without a request in progress (an idle keep-alive one, or one still sending its headers),
  as nginx reuses idle connections when it runs short: a flood of idle sockets cannot stop ``/healthz``, and
  a request being answered is never cut.
"""

from __future__ import annotations

import asyncio
import functools
import os
import resource
import signal
import sys
from collections import OrderedDict
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.supervisors import Multiprocess
from uvicorn.supervisors.multiprocess import Process

from faultdx.settings import Settings

MAX_AUTO_WORKERS = 4
STARTUP_FAILURE = 3  # uvicorn's exit code of a worker whose app could not start
HEALTHCHECK_S = 30.0  # a worker loading models on a busy machine may answer uvicorn's ping late
FD_RESERVE = 64  # descriptors a worker keeps for its own files, the database, the model, logging


def worker_count(settings: Settings) -> int:
    """``FAULTDX_WORKERS``, or with 0 one per CPU core this process may run on (at most 4)."""
    if settings.workers:
        return settings.workers
    return max(1, min(MAX_AUTO_WORKERS, len(os.sched_getaffinity(0))))


def connection_cap(settings: Settings) -> int:
    """``FAULTDX_MAX_CONNECTIONS``, lowered to what this process's open-file limit leaves room for."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return settings.max_connections
    return max(1, min(settings.max_connections, soft - FD_RESERVE))


class GuardedHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a header timeout and a per-worker connection cap (see the module)."""

    def __init__(self, *args: Any, header_timeout_s: float, max_connections: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.header_timeout_s = header_timeout_s
        self.max_connections = max_connections
        self.header_timer: asyncio.TimerHandle | None = None
        # Connections without a request in progress, longest-waiting first; one per worker (server state).
        if not hasattr(self.server_state, "waiting"):
            self.server_state.waiting = OrderedDict()  # type: ignore[attr-defined]
        self.waiting: OrderedDict[GuardedHttpProtocol, None] = self.server_state.waiting  # type: ignore[attr-defined]

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_header_timer()
        self.waiting[self] = None
        if len(self.connections) > self.max_connections:
            self._make_room()

    def _make_room(self) -> None:
        """Close the longest-waiting connection without a request in progress (this one if it is the only)."""
        oldest = next(iter(self.waiting))
        self.waiting.pop(oldest)
        oldest.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_header_timer()
        self.waiting.pop(self, None)
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self.header_timer is None:  # the first byte of a request after an idle keep-alive gap
            self._arm_header_timer()

    def on_headers_complete(self) -> None:
        self._disarm_header_timer()
        self.waiting.pop(self, None)
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing() and not self.pipeline:
            self.waiting[self] = None  # idle again: the newest of the waiting ones

    def _arm_header_timer(self) -> None:
        self._disarm_header_timer()
        self.header_timer = self.loop.call_later(self.header_timeout_s, self._headers_too_slow)

    def _disarm_header_timer(self) -> None:
        if self.header_timer is not None:
            self.header_timer.cancel()
            self.header_timer = None

    def _headers_too_slow(self) -> None:
        self.header_timer = None
        if self.cycle is None or self.cycle.response_complete:  # no request in progress: headers pending
            self.transport.close()


class PromptStopServer(uvicorn.Server):
    """uvicorn's server, except that a stop signal closes the listening sockets at once (uvicorn closes them
    on its next tick, a tenth of a second later or, on a busy machine, much later)."""

    async def startup(self, sockets: list | None = None) -> None:
        self.loop = asyncio.get_running_loop()
        await super().startup(sockets)

    def handle_exit(self, sig: int, frame: object) -> None:
        super().handle_exit(sig, frame)  # type: ignore[arg-type]
        loop = getattr(self, "loop", None)
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._stop_listening)

    def _stop_listening(self) -> None:
        for server in getattr(self, "servers", []):
            server.close()


class Worker(Process):
    """One worker process of :class:`CleanStopSupervisor`, running a :class:`PromptStopServer`."""

    @property
    def server(self) -> uvicorn.Server:
        if self._server is None:
            self._server = PromptStopServer(config=self.config)
        return self._server


class CleanStopSupervisor(Multiprocess):
    """uvicorn's worker supervisor, except that SIGTERM / SIGINT stop the port accepting at once."""

    def __init__(self, config: uvicorn.Config, sockets: list) -> None:
        super().__init__(config, sockets)
        self.stopping = False
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._stop_accepting)

    def init_processes(self) -> None:
        for _ in range(self.processes_num):
            process = Worker(self.config, self.sockets)
            process.start()
            self.processes.append(process)

    def _stop_accepting(self, sig: int, frame: object) -> None:
        """Close this process's copy of the listening socket and tell every worker to stop; the loop of
        :meth:`run` then waits for them (they finish the requests they hold)."""
        if not self.stopping:
            self.stopping = True
            for sock in self.sockets:
                sock.close()
            for process in self.processes:
                process.terminate()
        self.signal_queue.append(sig)

    def keep_subprocess_alive(self) -> None:
        """uvicorn's check (a worker that dies or hangs is replaced), except while stopping: the signal may
        come during the check (whose pipe it closes), and a worker spawned then would get a closed socket."""
        for idx, process in enumerate(self.processes):
            if self.stopping or self.should_exit.is_set():
                return
            if process.is_alive(timeout=self.config.timeout_worker_healthcheck) or self.stopping:
                continue
            process.kill()  # dead or hung
            process.join()
            if process.exitcode == STARTUP_FAILURE:  # the app cannot start: restarting would fail alike
                self.should_exit.set()
                return
            replacement = Worker(self.config, self.sockets)
            replacement.start()
            self.processes[idx] = replacement

    def terminate_all(self) -> None:
        if not self.stopping:
            self.stopping = True
            for sock in self.sockets:
                sock.close()
            super().terminate_all()


def uvicorn_config(settings: Settings, log_config: dict | None, app: Any = None) -> uvicorn.Config:
    """The uvicorn configuration of ``faultdx serve``: by default each worker builds the app with its
    factory; ``app`` (an ASGI app) serves that one instead, in this process."""
    protocol = functools.partial(
        GuardedHttpProtocol,
        header_timeout_s=settings.header_timeout_s,
        max_connections=connection_cap(settings),
    )
    return uvicorn.Config(
        app or "faultdx_service.main:create_app",
        factory=app is None,
        host=settings.host,
        port=settings.port,
        workers=worker_count(settings),
        http=protocol,  # type: ignore[arg-type]
        timeout_keep_alive=settings.keep_alive_s,  # type: ignore[arg-type]
        timeout_graceful_shutdown=settings.shutdown_timeout_s,  # type: ignore[arg-type]
        timeout_worker_healthcheck=HEALTHCHECK_S,  # type: ignore[arg-type]
        log_config=log_config,
        access_log=True,
    )


def serve(settings: Settings, log_config: dict | None) -> None:
    """Run the service in this process (one worker) or under :class:`CleanStopSupervisor` (several)."""
    config = uvicorn_config(settings, log_config)
    if config.workers > 1:
        CleanStopSupervisor(config, sockets=[config.bind_socket()]).run()
        return
    server = PromptStopServer(config)
    server.run()
    if not server.started:
        sys.exit(STARTUP_FAILURE)
