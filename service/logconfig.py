"""Logging for ``faultdx serve``: one ``logging.config.dictConfig`` for uvicorn, the service and the library.

With ``json_lines=True`` every record goes to stdout as one JSON object per line (what container log
collectors — Docker, Kubernetes, Loki, CloudWatch — parse without a regex)::

    {"level": "INFO", "logger": "uvicorn.access",
     "message": "127.0.0.1:52110 - \\"GET /readyz HTTP/1.1\\" 200",
     "time": "2026-11-25T20:41:07.123456+00:00", "client": "127.0.0.1:52110", "method": "GET",
     "path": "/readyz", "http_version": "1.1", "status": 200}

Fields a caller passes with ``logger.info(..., extra={...})`` become keys of the object as well. With
``json_lines=False`` uvicorn's own human-readable formatters are kept, also on stdout.
"""

from __future__ import annotations

import copy
import logging
from typing import Any

from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.json import JsonFormatter
from uvicorn.config import LOGGING_CONFIG

LOG_LEVELS = ("critical", "error", "warning", "info", "debug", "trace")
# uvicorn registers TRACE (5) when it is imported; dictConfig needs numbers for levels it may not know yet.
_LEVEL_NUMBERS = {"critical": 50, "error": 40, "warning": 30, "info": 20, "debug": 10, "trace": 5}
_ACCESS_FIELDS = ("client", "method", "path", "http_version", "status")


class JsonLineFormatter(JsonFormatter):
    """A record as one JSON line: time, level, logger, message, extras; access records get named fields."""

    def __init__(self) -> None:
        super().__init__(
            "%(levelname)s %(name)s %(message)s",
            rename_fields={"levelname": "level", "name": "logger"},
            timestamp="time",
            # uvicorn attaches an ANSI-coloured copy of some messages; it is noise in a JSON line.
            reserved_attrs=[*RESERVED_ATTRS, "color_message", "taskName"],
        )

    def add_fields(self, log_data: dict[str, Any], record: logging.LogRecord, message_dict: dict) -> None:
        super().add_fields(log_data, record, message_dict)
        # uvicorn logs each request as '%s - "%s %s HTTP/%s" %d' with exactly these five arguments.
        if record.name == "uvicorn.access" and isinstance(record.args, tuple) and len(record.args) == 5:
            log_data.update(zip(_ACCESS_FIELDS, record.args, strict=True))


def uvicorn_log_config(level: str, json_lines: bool) -> dict:
    """A ``dictConfig`` for ``uvicorn.run(log_config=...)``: uvicorn, ``faultdx``, ``service`` → stdout.

    ``level`` is one of ``LOG_LEVELS`` (case-insensitive); anything else raises ``ValueError`` naming the
    valid ones. ``json_lines`` picks one JSON object per line (for containers) or uvicorn's plain text.
    """
    name = level.strip().lower()
    if name not in _LEVEL_NUMBERS:
        raise ValueError(f"unknown log level {level!r}; valid: {', '.join(LOG_LEVELS)}")
    number = _LEVEL_NUMBERS[name]
    if json_lines:
        formatters = {
            "default": {"()": f"{__name__}.JsonLineFormatter"},
            "access": {"()": f"{__name__}.JsonLineFormatter"},
        }
    else:
        formatters = copy.deepcopy(LOGGING_CONFIG["formatters"])
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": formatters,
        "handlers": {
            "default": {"class": "logging.StreamHandler", "formatter": "default", "stream": "ext://sys.stdout"},
            "access": {"class": "logging.StreamHandler", "formatter": "access", "stream": "ext://sys.stdout"},
        },
        "loggers": {
            "uvicorn": {"handlers": ["default"], "level": number, "propagate": False},
            "uvicorn.error": {"level": number},
            "uvicorn.access": {"handlers": ["access"], "level": number, "propagate": False},
        },
        # faultdx, service and anything else the app imports log through the root logger.
        "root": {"handlers": ["default"], "level": number},
    }
