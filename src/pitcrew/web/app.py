"""The app factory: one FastAPI app serving the JSON API, the pages and the live stream."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pitcrew import __version__
from pitcrew.config import Settings, get_settings
from pitcrew.db import Database
from pitcrew.web import api, errors


class BodyLimit:
    """Refuse bodies over the limit with 413 before a route reads them (declared or streamed)."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(send)
            return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise _TooLarge
            return message

        try:
            await self.app(scope, limited, send)
        except _TooLarge:
            await self._refuse(send)

    async def _refuse(self, send: Send) -> None:
        response = errors.error_response(
            413, "too_large", f"The request body is over {self.max_bytes} bytes."
        )
        await response({"type": "http"}, _nothing, send)


class _TooLarge(Exception):
    pass


async def _nothing() -> Message:
    return {"type": "http.disconnect"}


def create_app(settings: Settings | None = None, db: Database | None = None) -> FastAPI:
    settings = settings or get_settings()
    database = db or Database(settings.database_url)

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
    )
    app.state.settings = settings
    app.state.db = database
    # Background work that lives as long as the server (live stream, sweeper, senders):
    # each entry is a callable taking the app and returning an async context manager.
    app.state.services = []
    errors.install(app)
    app.include_router(api.router)

    @app.get("/healthz", tags=["operator"])
    def healthz() -> dict[str, Any]:
        return {"status": "ok", "version": __version__}

    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    return app
