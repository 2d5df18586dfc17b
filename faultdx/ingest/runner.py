"""Start the plant listener from the settings: in ``faultdx serve`` (beside HTTP) or as ``faultdx listen``.

With several service workers (or a ``faultdx listen`` beside ``faultdx serve``) on one machine, only one
process may hold the broker session of a client id — a second connection with the same id would take the
session over, back and forth. The processes therefore race for an exclusive lock file per broker and client
id; the one that gets it listens, the others stand by and try again every few seconds (so a listener that
dies is replaced), answering ``/readyz`` from the status file the listening one writes.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from faultdx.diagnose import FORWARD_BATCH, Diagnoser
from faultdx.ingest.handle import MessageHandler, StoreOpener
from faultdx.ingest.mqtt import BrokerConfig, Listener
from faultdx.ingest.state import ListenerState, read_status, status_path

log = logging.getLogger(__name__)
STANDBY_RETRY_S = 5.0


def load_diagnosers(settings: Any) -> dict[str, Diagnoser]:
    """Every model ``FAULTDX_MODEL`` names (a name under ``FAULTDX_MODELS``, or a path), by name."""
    loaded: dict[str, Diagnoser] = {}
    for entry in settings.model:
        where = settings.models / entry if (settings.models / entry).is_dir() else entry
        diagnoser = Diagnoser.from_dir(where, batch_size=min(settings.max_batch, FORWARD_BATCH),
                                       trace=settings.trace)
        loaded.setdefault(diagnoser.name, diagnoser)
    return loaded


def make_listener(settings: Any, diagnosers: Mapping[str, Diagnoser], default: str | None = None) -> Listener:
    """A :class:`Listener` for ``settings.mqtt_url`` that diagnoses with ``diagnosers`` (first = default)."""
    config = BrokerConfig.from_settings(settings)
    store = StoreOpener(settings.database_url)
    handler = MessageHandler(diagnosers, default or next(iter(diagnosers)), store,
                             max_samples=settings.max_samples, max_windows=settings.max_windows,
                             max_bytes=settings.max_body_bytes)
    state = ListenerState(status_path(config.url, config.client_id), broker=config.url)
    return Listener(config, handler, state)


class ListenerHandle:
    """A listener that starts once this process holds the lock for its broker session; :meth:`stop` ends
    both the standby and the listener."""

    def __init__(self, listener: Listener) -> None:
        self.listener = listener
        config = listener.config
        self.lock_path = Path(str(status_path(config.url, config.client_id)).replace(".json", ".lock"))
        self._lock_fd: int | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._standby, name="mqtt-standby", daemon=True)

    @property
    def active(self) -> bool:
        """Whether this process is the one listening."""
        return self._lock_fd is not None

    def start(self) -> ListenerHandle:
        self._thread.start()
        return self

    def _standby(self) -> None:
        while not self._stop.is_set():
            if self._try_lock():
                log.info("MQTT listener: process %d listens to %s", os.getpid(), self.listener.config.url)
                self.listener.start()
                return
            self._stop.wait(STANDBY_RETRY_S)

    def _try_lock(self) -> bool:
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return False
        self._lock_fd = fd
        return True

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._thread.join(timeout)
        if self._lock_fd is not None:
            self.listener.stop(timeout)
            self.listener.handler.store.close()
            with contextlib.suppress(OSError):
                os.close(self._lock_fd)
            self._lock_fd = None

    def status(self) -> dict[str, Any]:
        """This listener's state (or the status the listening process wrote)."""
        if self.active:
            return self.listener.state.as_dict()
        return read_status(self.listener.state.status_file) or {"state": "standby",
                                                                "broker": self.listener.config.url}


def start_in_service(settings: Any, diagnosers: Mapping[str, Diagnoser], default: str | None = None
                     ) -> ListenerHandle | None:
    """For the service's lifespan: a started :class:`ListenerHandle` when ``FAULTDX_MQTT_URL`` is set."""
    if not settings.mqtt_url:
        return None
    return ListenerHandle(make_listener(settings, diagnosers, default)).start()
