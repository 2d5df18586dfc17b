"""Every error the service returns is JSON ``{"error": "<message naming the field>", "field": ...}``.

The ``error`` string is also what the Open Inference Protocol prescribes for its endpoints, so one shape
serves both APIs. Library ``ValueError``s (bad signal files, bad model directories, bad diagnose input)
become 4xx; any other exception becomes a JSON 500 with no stack trace (the trace goes to the log).
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from faultdx.diagnose import DiagnoseInputError

log = logging.getLogger(__name__)
MAX_DETAILS = 20  # a list of 10^6 wrong numbers must not produce a 10^6-entry error


class ApiError(HTTPException):
    """An HTTP error with a message and the request field it is about."""

    def __init__(self, status_code: int, message: str, field: str | None = None) -> None:
        super().__init__(status_code=status_code, detail=message)
        self.field = field


def error_body(message: str, field: str | None = None, **extra: Any) -> dict[str, Any]:
    return {"error": message, "field": field, **extra}


def _loc_to_field(loc: tuple | list) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header", "form")] or [str(loc[-1])]
    return ".".join(parts)


async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    errors = exc.errors()
    details = [_detail(e) for e in errors[:MAX_DETAILS]]
    first = details[0] if details else {"field": "body", "message": "body: invalid request"}
    more = f" (and {len(errors) - 1} more problem(s))" if len(errors) > 1 else ""
    return JSONResponse(
        status_code=422, content=error_body(first["message"] + more, first["field"], details=details)
    )


def _detail(error: dict[str, Any]) -> dict[str, str]:
    """``{"field": "signals", "message": "signals: ..."}``: each message starts with its field."""
    if error.get("type") == "json_invalid":
        return {"field": "body", "message": f"body: not valid JSON ({error.get('ctx', {}).get('error', '')})"}
    field = _loc_to_field(error.get("loc", ()))
    message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
    if not message.startswith(field):
        message = f"{field}: {message}"
    return {"field": field, "message": message}


async def _http_error(request: Request, exc: HTTPException) -> JSONResponse:
    field = getattr(exc, "field", None)
    return JSONResponse(
        status_code=exc.status_code,
        content=error_body(str(exc.detail), field),
        headers=getattr(exc, "headers", None),
    )


async def _input_error(request: Request, exc: DiagnoseInputError) -> JSONResponse:
    return JSONResponse(status_code=422, content=error_body(str(exc), exc.field))


async def _value_error(request: Request, exc: ValueError) -> JSONResponse:
    # Library ValueErrors (SignalFileError, CheckpointError, …) describe bad input in their message.
    return JSONResponse(status_code=422, content=error_body(str(exc)))


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return JSONResponse(status_code=500, content=error_body(f"internal error ({type(exc).__name__})"))


def install_error_handlers(app: FastAPI) -> None:
    """Register the JSON error handlers on ``app``."""
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(DiagnoseInputError, _input_error)
    app.add_exception_handler(ValueError, _value_error)
    app.add_exception_handler(Exception, _unexpected)
