"""JSON in and out through pydantic-core (Rust) instead of the stdlib ``json``, for the number-heavy routes.

A diagnose request is thousands of numbers, and an answer with slopes hundreds per window;
``pydantic_core.from_json`` / ``to_json`` handle them several times faster than ``json.loads`` / ``dumps``.
Requests still accept ``NaN`` / ``Infinity`` (refused later, by name, as non-finite samples); answers never
hold them (RFC 8259). Before parsing, a body is charged its count of numbers against the request's sample
budget (one comma per number: counting takes milliseconds, parsing 16 M numbers takes gigabytes), and a
large body is parsed in a worker thread so the event loop keeps answering. Nesting deeper than
pydantic-core's limit is a 4xx, not a ``RecursionError``. The request side uses FastAPI's documented custom
``Request`` / ``APIRoute`` extension point; nothing else changes.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from typing import Any

import pydantic_core
from fastapi import Request, Response
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from faultdx_service.errors import ApiError
from starlette.concurrency import run_in_threadpool

INLINE_BYTES = 1 << 20  # bodies up to this size are parsed on the event loop (about a millisecond)
SLACK_NUMBERS = 1024  # numbers a request may hold besides its samples (rpm, geometry, band, ...)


def check_numbers(body: bytes, max_samples: int, *, status: int = 413) -> None:
    """Refuse a JSON body that holds more numbers than the sample budget, before parsing it."""
    numbers = body.count(b",") + 1
    if numbers > max_samples + SLACK_NUMBERS:
        raise ApiError(
            status,
            f"body: about {numbers} numbers; the budget is {max_samples} samples per request"
            " (FAULTDX_MAX_SAMPLES): send less",
            "body",
        )


async def parse_json(body: bytes) -> Any:
    """``body`` parsed by pydantic-core (NaN / Infinity allowed), in a thread when it is large;
    ``ValueError`` for invalid JSON or nesting too deep."""
    if len(body) > INLINE_BYTES:
        return await run_in_threadpool(pydantic_core.from_json, body, allow_inf_nan=True)
    return pydantic_core.from_json(body, allow_inf_nan=True)


class FastJSONRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            body = await self.body()
            check_numbers(body, self.app.state.settings.max_samples)
            try:
                self._json = await parse_json(body)
            except ValueError as err:  # FastAPI turns JSONDecodeError into a 422 naming the body
                raise json.JSONDecodeError(str(err), body[:200].decode(errors="replace"), 0) from None
        return self._json


class FastJSONRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def parse_with_pydantic_core(request: Request) -> Response:
            return await handler(FastJSONRequest(request.scope, request.receive))

        return parse_with_pydantic_core


class FastJSONResponse(JSONResponse):
    def render(self, content: Any) -> bytes:
        # the Diagnoser refuses non-finite outputs; should one slip through it is null, never a bare NaN
        return pydantic_core.to_json(content, inf_nan_mode="null")
