"""A route class whose JSON request bodies are parsed by pydantic-core (Rust) instead of the stdlib ``json``.

A diagnose request is thousands of numbers; ``pydantic_core.from_json`` parses them about 6x faster than
``json.loads`` and, like it, accepts ``NaN`` / ``Infinity`` (refused later, by name, as non-finite samples).
This is FastAPI's documented custom ``Request`` / ``APIRoute`` extension point; nothing else changes.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from typing import Any

import pydantic_core
from fastapi import Request, Response
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
