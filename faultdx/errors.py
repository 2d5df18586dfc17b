"""Typed errors for bad user input. The service maps each to its HTTP status (``status``); anything else that
escapes a request is a bug and becomes a 500 with a request id, never a 4xx that hides it."""

from __future__ import annotations

MAX_MESSAGE = 300  # an error message never echoes a whole hostile input


class InputError(ValueError):
    """The caller's input is wrong (a file, a parameter, a model directory they named): HTTP ``status``."""

    status = 422

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(bounded(message))
        self.field = field


class TooLarge(InputError):
    """The input would take more samples, windows or memory than the request budget allows."""

    status = 413


class NotFound(InputError):
    """A named thing (model, asset, dataset file) does not exist."""

    status = 404


def bounded(message: str, limit: int = MAX_MESSAGE) -> str:
    """``message`` cut to ``limit`` characters, saying so."""
    return message if len(message) <= limit else message[: limit - 14] + " … (truncated)"
