"""Request body limits, in size and in time, enforced before and while the body is read.

A declared ``Content-Length`` above the size limit is answered 413 at once, without reading a byte of the
body; a body sent without a length (chunked) is counted as it streams in and cut off at the limit. A body that
has not fully arrived ``timeout_s`` after the request's headers (a client that declares 1,000 bytes and sends
11) is answered 408 and its connection closed. Either way the client gets JSON ``{"error": ..., "field":
"body"}``.
"""

from __future__ import annotations

import asyncio
import json

from faultdx_service.errors import ApiError, error_body
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class BodyTooLarge(ApiError):
    """Raised from ``receive`` when a streamed body passes the limit; FastAPI passes HTTP errors through."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"body: request body is larger than the limit of {limit} bytes", "body")


class BodyTimeout(ApiError):
    """Raised from ``receive`` when the body is still incomplete at the deadline."""

    def __init__(self, timeout_s: float) -> None:
        super().__init__(
            408, f"body: the request body did not arrive within {timeout_s:g} s (FAULTDX_BODY_TIMEOUT_S)",
            "body", headers={"Connection": "close"},
        )


class BodyLimitMiddleware:
    """Reject request bodies above ``max_bytes`` with 413 (checked from the headers, then while streaming),
    and bodies not received within ``timeout_s`` of the headers with 408."""

    def __init__(self, app: ASGIApp, max_bytes: int, timeout_s: float = 30.0) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.timeout_s = timeout_s

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
        complete = False
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout_s

        async def counting_receive() -> Message:
            nonlocal received, complete
            if complete:  # after the body only a disconnect can come: no deadline
                return await receive()
            try:
                message = await asyncio.wait_for(receive(), max(deadline - loop.time(), 0.0))
            except asyncio.TimeoutError:
                raise BodyTimeout(self.timeout_s) from None
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge(self.max_bytes)
                complete = not message.get("more_body", False)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except (BodyTooLarge, BodyTimeout) as exc:  # raised where no handler turned it into a response
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


async def _reject(send: Send, exc: ApiError) -> None:
    body = json.dumps(error_body(str(exc.detail), exc.field)).encode()
    await send(
        {
            "type": "http.response.start",
            "status": exc.status_code,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
