"""The app factory: one FastAPI app serving the JSON API, the pages and the live stream."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

from fastapi import APIRouter, FastAPI
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pitcrew import __version__, mailer, metrics, retention, sweeper
from pitcrew.config import Settings, get_settings
from pitcrew.db import Database
from pitcrew.schemas import Alive
from pitcrew.web import (
    admin,
    api,
    console_pages,
    docs,
    errors,
    media_routes,
    pages,
    reports,
    stream,
)
from pitcrew.web.request_log import RequestLog
from pitcrew.web.security import SecurityHeaders


class BodyLimit:
    """Refuse bodies over the limit with 413 before a route reads them (declared or streamed)."""

    def __init__(
        self,
        app: ASGIApp,
        max_bytes: int,
        uploads: tuple[re.Pattern[str], int, str] | None = None,
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        # POSTs to paths matching the pattern (photo uploads) may be larger, up to the
        # given size, and a refused one is told the given message.
        self.uploads = uploads

    def _limit(self, scope: Scope) -> tuple[int, str | None]:
        if self.uploads and scope.get("method") == "POST":
            pattern, max_bytes, message = self.uploads
            if pattern.fullmatch(scope.get("path", "")):
                return max_bytes, message
        return self.max_bytes, None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        max_bytes, words = self._limit(scope)
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > max_bytes:
            await self._refuse(send, max_bytes, words)
            return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > max_bytes:
                    raise _TooLarge(max_bytes, words)
            return message

        try:
            await self.app(scope, limited, send)
        except _TooLarge:
            await self._refuse(send, max_bytes, words)

    async def _refuse(self, send: Send, max_bytes: int, words: str | None) -> None:
        response = errors.error_response(413, "too_large", _TooLarge(max_bytes, words).detail)
        await response({"type": "http"}, _nothing, send)


class _TooLarge(StarletteHTTPException):
    """An HTTP error, not a bare exception: FastAPI turns any other error raised while it
    reads a body into "400 There was an error parsing the body"."""

    def __init__(self, max_bytes: int, words: str | None = None) -> None:
        super().__init__(413, words or f"The request body is over {max_bytes} bytes.")


async def _nothing() -> Message:
    return {"type": "http.disconnect"}


def _routers() -> list[APIRouter]:
    """Every router, in the order their routes are matched."""
    return [
        *api.ROUTERS,
        stream.router,
        admin.router,
        pages.router,
        console_pages.router,
        *media_routes.ROUTERS,
        reports.router,
        reports.page_router,
    ]


def create_app(settings: Settings | None = None, db: Database | None = None) -> FastAPI:
    settings = settings or get_settings()
    database = db or Database(settings.database_url)
    # Emails are queued only where this server's email sender will send them.
    database.email_enabled = bool(settings.smtp_url)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            for service in app.state.services:
                await stack.enter_async_context(service(app))
            yield
        if db is None:
            database.dispose()

    app = FastAPI(
        title="pitcrew",
        version=__version__,
        description="Connects drivers with remote mechanics.",
        lifespan=lifespan,
        docs_url=None,  # served by web.docs from installed files, not a CDN
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.db = database
    # Background work that lives as long as the server (live stream, sweeper, senders):
    # each entry is a callable taking the app and returning an async context manager.
    app.state.services = []
    errors.install(app)
    metrics.install(app)  # /metrics, request latency, invariant gauges, flow counters
    for router in _routers():
        app.include_router(router)
    docs.install(app)
    pages.mount_static(app)
    app.state.services.append(stream.live_events)
    app.state.services.append(sweeper.service)
    if settings.smtp_url:
        app.state.services.append(mailer.service)
    if settings.prune_interval_seconds > 0:
        app.state.services.append(retention.service)

    @app.get("/healthz", response_model=Alive, tags=["operator"])
    def healthz() -> Alive:
        return Alive(status="ok", version=__version__)

    upload_bytes, upload_words = media_routes.upload_limit(settings)
    app.add_middleware(
        BodyLimit,
        max_bytes=settings.max_body_bytes,
        uploads=(media_routes.UPLOAD_PATH, upload_bytes, upload_words),
    )
    app.add_middleware(SecurityHeaders)
    app.add_middleware(RequestLog)  # outermost: its id is in every response and error body
    return app
