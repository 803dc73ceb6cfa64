"""The shape of pitcrew's own middleware: plain ASGI, looking at HTTP requests only.

Plain ASGI rather than Starlette's ``BaseHTTPMiddleware``, so the live pages' streams pass
through unbuffered; WebSocket and lifespan messages are handed on untouched.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class HttpMiddleware:
    """Hands every HTTP request to :meth:`http`, and everything else straight to the app."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        await self.http(scope, receive, send)

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        raise NotImplementedError


def on_response_start(send: Send, start: Callable[[Message], None]) -> Send:
    """``send``, calling ``start`` with the response's first message (status and headers)
    before it leaves, while its headers can still change."""

    async def sending(message: Message) -> None:
        if message["type"] == "http.response.start":
            start(message)
        await send(message)

    return sending
