"""Expires requests nobody accepted in time, from inside the server.

Every ``expiry_sweep_seconds`` one indexed query (the partial index of pending requests)
finds what is overdue, and ``flow.expire_due`` expires each in its own guarded transaction.
Several server processes may sweep at once: the guards let exactly one of them (or a
mechanic accepting at that moment) change a request.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import timedelta
from typing import Any

from pitcrew import flow
from pitcrew.db import Database

log = logging.getLogger(__name__)


class Sweeper:
    def __init__(self, db: Database, ttl: timedelta, *, every_seconds: float) -> None:
        self.db = db
        self.ttl = ttl
        self.every_seconds = every_seconds

    def sweep(self) -> int:
        """Expire what is overdue now; how many requests expired."""
        expired = flow.expire_due(self.db, self.ttl)
        if expired:
            log.info("expired %d request(s) nobody accepted within %s", expired, self.ttl)
        return expired

    @asynccontextmanager
    async def running(self) -> AsyncIterator[Sweeper]:
        stop = asyncio.Event()

        async def loop() -> None:
            while not stop.is_set():
                try:
                    await asyncio.to_thread(self.sweep)
                except Exception:
                    log.exception("expiry sweep failed; trying again next time")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.every_seconds)

        task = asyncio.create_task(loop(), name="pitcrew-expiry-sweeper")
        try:
            yield self
        finally:
            stop.set()
            await task  # a sweep in progress finishes its short transactions


def service(app: Any) -> AbstractAsyncContextManager[Any]:
    """The sweeper as one of ``app.state.services``."""
    settings = app.state.settings
    return Sweeper(
        app.state.db, settings.request_ttl, every_seconds=settings.expiry_sweep_seconds
    ).running()
