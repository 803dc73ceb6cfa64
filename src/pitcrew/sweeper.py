"""Expires requests nobody accepted in time, from inside the server.

Every ``expiry_sweep_seconds`` one indexed query (the partial index of pending requests)
finds what is overdue, and ``flow.expire_due`` expires each in its own guarded transaction.
Several server processes may sweep at once: the guards let exactly one of them (or a
mechanic accepting at that moment) change a request.
"""

from __future__ import annotations

import logging
from contextlib import AbstractAsyncContextManager
from datetime import timedelta
from typing import Any

from pitcrew import flow
from pitcrew.db import Database
from pitcrew.periodic import Periodic, in_thread

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

    def running(self) -> AbstractAsyncContextManager[Periodic]:
        """Sweep every ``every_seconds`` while inside; a sweep in progress at the stop
        finishes its short transactions."""
        return Periodic(
            "expiry sweep", in_thread(self.sweep), every_seconds=self.every_seconds
        ).running()


def service(app: Any) -> AbstractAsyncContextManager[Any]:
    """The sweeper as one of ``app.state.services``."""
    settings = app.state.settings
    return Sweeper(
        app.state.db, settings.request_ttl, every_seconds=settings.expiry_sweep_seconds
    ).running()
