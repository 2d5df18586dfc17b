"""Request body size limit, enforced before the body is read.

A declared ``Content-Length`` above the limit is answered 413 at once, without reading a byte of the body; a
body sent without a length (chunked) is counted as it streams in and cut off at the limit. Either way the
client gets JSON ``{"error": ..., "field": "body"}``.
"""

from __future__ import annotations

import json

from faultdx_service.errors import ApiError, error_body
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class BodyTooLarge(ApiError):
    """Raised from ``receive`` when a streamed body passes the limit; FastAPI passes HTTP errors through."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"body: request body is larger than the limit of {limit} bytes", "body")


class BodyLimitMiddleware:
    """Reject request bodies above ``max_bytes`` with 413 (checked from the headers, then while streaming)."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_bytes:
            await _reject(send, BodyTooLarge(self.max_bytes))
            return
        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge(self.max_bytes)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except BodyTooLarge as exc:  # raised where no handler turned it into a response
            if started:
                raise
            await _reject(send, exc)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _reject(send: Send, exc: BodyTooLarge) -> None:
    body = json.dumps(error_body(str(exc.detail), exc.field)).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
