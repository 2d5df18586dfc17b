"""Every error the service returns is JSON ``{"error": "<message naming the field>", "field": ...}``.

The ``error`` string is also what the Open Inference Protocol prescribes for its endpoints, so one shape
serves both APIs. The library's typed input errors (:class:`faultdx.errors.InputError`: bad signal files,
model directories, diagnose input, budgets) become their own 4xx status; any other exception is a bug and
becomes a JSON 500 that carries the request id (``X-Request-ID``, taken from the request or generated) and
no stack trace: the trace goes to the log line with the same id. A plain ``ValueError`` is such a bug, so
fuzzing finds it instead of reading it as a 422.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import uuid
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from faultdx.errors import InputError

log = logging.getLogger(__name__)
MAX_DETAILS = 20  # a list of 10^6 wrong numbers must not produce a 10^6-entry error
REQUEST_ID = "X-Request-ID"
_GIVEN_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")  # a caller's id is echoed only if it is this tame


class ApiError(HTTPException):
    """An HTTP error with a message and the request field it is about."""

    def __init__(
        self, status_code: int, message: str, field: str | None = None, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(status_code=status_code, detail=message, headers=headers)
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


async def _input_error(request: Request, exc: InputError) -> JSONResponse:
    return JSONResponse(status_code=exc.status, content=error_body(str(exc), exc.field))


def request_id(scope: Scope) -> str:
    """The id :class:`RequestIdMiddleware` gave this request (``-`` outside it)."""
    return scope.get("state", {}).get("request_id", "-")


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    rid = request_id(request.scope)
    log.error("unhandled error on %s %s (request %s)", request.method, request.url.path, rid,
              exc_info=exc, extra={"request_id": rid})
    return JSONResponse(
        status_code=500,
        content=error_body(f"internal error ({type(exc).__name__}); request id {rid}", request_id=rid),
        headers={REQUEST_ID: rid},
    )


class RequestIdMiddleware:
    """Give every request an id (the caller's ``X-Request-ID`` when it is tame, else a new one), keep it in
    ``scope["state"]["request_id"]`` and send it back as ``X-Request-ID``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = dict(scope.get("headers", ())).get(REQUEST_ID.lower().encode(), b"").decode("latin-1")
        rid = given if _GIVEN_ID.fullmatch(given) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = rid

        async def with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"x-request-id"]
                message = {**message, "headers": [*headers, (b"x-request-id", rid.encode())]}
            await send(message)

        await self.app(scope, receive, with_id)


class CancelledAnswerMiddleware:
    """A request still running when the server cancels it (uvicorn's graceful-shutdown timeout) is answered
    a JSON 503 with ``Retry-After``, instead of uvicorn's plain-text 500."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except asyncio.CancelledError:
            if not started:
                body = json.dumps(error_body("the service is shutting down; send the request again", None,
                                             request_id=request_id(scope))).encode()
                await send({"type": "http.response.start", "status": 503, "headers": [
                    (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                    (b"retry-after", b"1"), (b"connection", b"close")]})
                await send({"type": "http.response.body", "body": body})
            raise


def install_error_handlers(app: FastAPI) -> None:
    """Register the JSON error handlers on ``app``."""
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(InputError, _input_error)
    app.add_exception_handler(Exception, _unexpected)
