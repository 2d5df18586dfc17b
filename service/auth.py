"""The API key: the one place it is checked, with the one list of routes that do without it.

With ``FAULTDX_API_KEY`` set, a request to any path outside :data:`PUBLIC_PATHS` / :data:`PUBLIC_PREFIXES`
without the right ``X-API-Key`` header is answered 401 from its headers alone (a 32 MB body of an
unauthenticated caller is never parsed). The list is deny-by-default: a new route needs the key unless it is
added here, and ``docs/service.md`` names exactly these paths (a test compares them). The OpenAPI description
marks the same routes as needing the key (:func:`document_api_key`), from the same list; no route checks it
again.
"""

from __future__ import annotations

import json
import secrets
from typing import Any

from fastapi import FastAPI
from faultdx_service.errors import error_body
from starlette.types import ASGIApp, Receive, Scope, Send

API_KEY_HEADER = "X-API-Key"
PUBLIC_PATHS = frozenset({
    "/", "/assets",  # the pages (they ask the user for the key and send it with their API calls)
    "/docs", "/openapi.json",  # the API's description (Swagger UI from /static/swagger)
    "/healthz", "/readyz", "/v2/health/live", "/v2/health/ready",  # probes
})
PUBLIC_PREFIXES = ("/static/",)  # the pages' scripts and styles


def is_public(path: str) -> bool:
    """Whether ``path`` is answered without the API key."""
    return path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES)


class ApiKeyMiddleware:
    """401 JSON, from the headers alone, for a protected path without the right ``X-API-Key``."""

    def __init__(self, app: ASGIApp, api_key: str | None) -> None:
        self.app = app
        self.expected = None if api_key is None else api_key.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.expected is None or scope["type"] != "http" or is_public(scope["path"]):
            await self.app(scope, receive, send)
            return
        given = dict(scope.get("headers", ())).get(API_KEY_HEADER.lower().encode())
        if given is not None and secrets.compare_digest(given, self.expected):
            await self.app(scope, receive, send)
            return
        body = json.dumps(error_body(f"{API_KEY_HEADER}: missing or wrong API key", API_KEY_HEADER)).encode()
        await send({
            "type": "http.response.start",
            "status": 401,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                        (b"connection", b"close")],
        })
        await send({"type": "http.response.body", "body": body})


def document_api_key(app: FastAPI) -> None:
    """Mark every operation outside the public list as needing ``X-API-Key`` in the app's OpenAPI schema.

    Only the description changes (Swagger UI then offers "Authorize"); :class:`ApiKeyMiddleware` alone checks.
    """
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = build()
        schemes = schema.setdefault("components", {}).setdefault("securitySchemes", {})
        schemes["APIKeyHeader"] = {
            "type": "apiKey",
            "in": "header",
            "name": API_KEY_HEADER,
            "description": "needed when FAULTDX_API_KEY is set",
        }
        for path, operations in schema.get("paths", {}).items():
            if not is_public(path):
                for operation in operations.values():
                    operation["security"] = [{"APIKeyHeader": []}]
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
