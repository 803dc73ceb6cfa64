"""One log line per request, and a request id that ties the line to what the client saw.

The id is the client's (or the proxy's) ``X-Request-ID`` when it is a plain token, a fresh
one otherwise; it is returned in the ``X-Request-ID`` header and in every JSON error body,
so a person reporting "it said something went wrong" can quote the id an operator searches
for. The path is logged without its query string, which may carry tokens.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from contextvars import ContextVar

from starlette.datastructures import MutableHeaders
from starlette.types import Message, Receive, Scope, Send

from pitcrew.asgi import HttpMiddleware, on_response_start

log = logging.getLogger("pitcrew.request")

HEADER = "X-Request-ID"
# Letters, digits and a few separators, as proxies and tracing tools make them (nginx's
# $request_id, UUIDs): anything else could forge log lines or bloat them, and is replaced.
_SANE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")

_current: ContextVar[str | None] = ContextVar("request_id", default=None)


def current_request_id() -> str | None:
    """The id of the request being answered, if any (error bodies include it)."""
    return _current.get()


def request_id_from(headers: list[tuple[bytes, bytes]]) -> str:
    for name, value in headers:
        if name == b"x-request-id":
            text = value.decode("latin-1").strip()
            if _SANE.fullmatch(text):
                return text
            break
    return uuid.uuid4().hex


class RequestLog(HttpMiddleware):
    """Give each HTTP request its id, and log it once it is answered (a live stream: when it
    ends), with its status and how long it took."""

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        request_id = request_id_from(scope.get("headers") or [])
        scope.setdefault("state", {})["request_id"] = request_id
        token = _current.set(request_id)
        status = 500  # what the client gets if the app fails before answering
        started = time.perf_counter()

        def add_id(start: Message) -> None:
            nonlocal status
            status = start["status"]
            MutableHeaders(scope=start)[HEADER] = request_id

        try:
            await self.app(scope, receive, on_response_start(send, add_id))
        finally:
            _current.reset(token)
            millis = round((time.perf_counter() - started) * 1000, 1)
            client = scope.get("client")
            address = client[0] if client else "-"
            method, path = scope.get("method", "-"), scope.get("path", "-")
            log.info(
                "%s %s %d %.1fms client=%s id=%s",
                method,
                path,
                status,
                millis,
                address,
                request_id,
                extra={
                    "method": method,
                    "path": path,
                    "status": status,
                    "ms": millis,
                    "client": address,
                    "request_id": request_id,
                },
            )
