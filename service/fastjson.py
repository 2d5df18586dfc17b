"""JSON in and out through pydantic-core (Rust) instead of the stdlib ``json``, for the number-heavy routes.

A diagnose request is thousands of numbers, and an answer with slopes hundreds per window;
``pydantic_core.from_json`` / ``to_json`` handle them several times faster than ``json.loads`` / ``dumps``.
Requests still accept ``NaN`` / ``Infinity`` (refused later, by name, as non-finite samples). The request side
uses FastAPI's documented custom ``Request`` / ``APIRoute`` extension point; nothing else changes.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from typing import Any

import pydantic_core
from fastapi import Request, Response
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute


class FastJSONRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            body = await self.body()
            try:
                self._json = pydantic_core.from_json(body, allow_inf_nan=True)
            except ValueError as err:  # FastAPI turns JSONDecodeError into a 422 naming the body
                raise json.JSONDecodeError(str(err), body.decode(errors="replace"), 0) from None
        return self._json


class FastJSONRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def parse_with_pydantic_core(request: Request) -> Response:
            return await handler(FastJSONRequest(request.scope, request.receive))

        return parse_with_pydantic_core


class FastJSONResponse(JSONResponse):
    def render(self, content: Any) -> bytes:
        return pydantic_core.to_json(content)
