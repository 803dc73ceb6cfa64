"""Prometheus metrics on ``/metrics``: invariant violations, the flow's counts, latency.

The invariant gauges are refreshed by a background service every
``METRICS_REFRESH_SECONDS`` with one COUNT query per invariant, so a scrape never touches
the database. The flow's counters are read off the events it records: listeners on the
app's database count each event by kind when its transaction commits, so ``flow`` carries
no metrics code and a rolled-back attempt counts nothing. Accept conflicts are the 409
``request_taken`` answers.

Counters live in the process: with several workers, each reports its own (sum them in
Prometheus); the gauges are the database's and agree across workers.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.responses import PlainTextResponse
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from sqlalchemy import event, text
from sqlalchemy.orm import Session as OrmSession
from sqlalchemy.orm import UOWTransaction
from starlette.types import Message, Receive, Scope, Send

from pitcrew import invariants, payloads
from pitcrew.asgi import HttpMiddleware, on_response_start
from pitcrew.db import Database
from pitcrew.errors import Conflict, DomainError
from pitcrew.events import Kind
from pitcrew.models import Event, SessionStatus
from pitcrew.payloads import RequestAccepted, RequestExpired, RequestReleased, SessionUpdated
from pitcrew.periodic import Periodic, in_thread

REGISTRY = CollectorRegistry()

VIOLATIONS = Gauge(
    "pitcrew_invariant_violations",
    "Rows breaking each invariant (docs/ARCHITECTURE.md), at the last check.",
    ["invariant", "name"],
    registry=REGISTRY,
)
CHECKED_AT = Gauge(
    "pitcrew_invariants_checked_at_seconds",
    "When the invariants were last counted (Unix time).",
    registry=REGISTRY,
)
CHECK_SECONDS = Gauge(
    "pitcrew_invariants_check_seconds",
    "How long the last count of invariant violations took.",
    registry=REGISTRY,
)
INTAKES = Counter(
    "pitcrew_intakes", "Intakes started (session and request created).", registry=REGISTRY
)
ACCEPTS = Counter("pitcrew_accepts", "Requests accepted by a mechanic.", registry=REGISTRY)
ACCEPT_CONFLICTS = Counter(
    "pitcrew_accept_conflicts",
    "Accepts refused because another mechanic accepted first (409 request_taken).",
    registry=REGISTRY,
)
TRANSITIONS = Counter(
    "pitcrew_session_transitions",
    "Session status changes.",
    ["from_status", "to_status"],
    registry=REGISTRY,
)
LATENCY = Histogram(
    "pitcrew_http_request_duration_seconds",
    "Time from a request's arrival to its response's first byte, by route template.",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
    registry=REGISTRY,
)

_SEEN = "pitcrew.metrics.events"


def install(app: FastAPI) -> None:
    """Serve /metrics, time every request, count the flow, and keep the gauges fresh.

    Independent of the order of installation: the accept conflicts are counted before the
    app's own answer to domain errors, looked up when a conflict happens.
    """
    listen_to_events(app.state.db)
    app.add_middleware(Latency)
    _count_accept_conflicts(app)
    app.state.services.append(keep_gauges_fresh)
    app.add_api_route(
        "/metrics", scrape, methods=["GET"], tags=["operator"], response_class=PlainTextResponse
    )


def scrape() -> Response:
    """Prometheus metrics: invariant violations, flow counters, request latency."""
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)


# --- invariant gauges -------------------------------------------------------------------


def refresh(db: Database) -> dict[str, int]:
    """Count every invariant's violations now and publish them."""
    started = time.perf_counter()
    with db.engine.connect() as connection, connection.begin():
        if db.is_postgres:
            connection.execute(text("SET TRANSACTION READ ONLY"))
            connection.execute(text("SET LOCAL statement_timeout = '30s'"))
        found = invariants.counts(connection)
    for inv in invariants.INVARIANTS:
        VIOLATIONS.labels(str(inv.number), inv.name).set(found[inv.name])
    CHECK_SECONDS.set(time.perf_counter() - started)
    CHECKED_AT.set_to_current_time()
    return found


def keep_gauges_fresh(app: FastAPI) -> AbstractAsyncContextManager[Periodic]:
    """The service: count at start-up, then every ``metrics_refresh_seconds``."""
    db: Database = app.state.db
    return Periodic(
        "count of invariant violations",
        in_thread(lambda: refresh(db)),
        every_seconds=float(app.state.settings.metrics_refresh_seconds),
    ).running()


# --- counters from committed events -----------------------------------------------------


def listen_to_events(db: Database) -> Callable[[], None]:
    """Count the events committed through ``db`` from now on; the returned callable stops.

    The listeners belong to ``db``'s sessions only, and are added once however many apps
    share the database.
    """
    listeners = (
        ("after_flush", _seen_events),
        ("after_commit", _count_committed),
        ("after_rollback", _forget),
    )

    def stop() -> None:
        for name, listener in listeners:
            if event.contains(db.sessions, name, listener):
                event.remove(db.sessions, name, listener)

    for name, listener in listeners:
        if not event.contains(db.sessions, name, listener):
            event.listen(db.sessions, name, listener)
    return stop


def _seen_events(session: OrmSession, _flush: UOWTransaction) -> None:
    # After a flush the session still lists what it just inserted as new.
    seen = session.info.setdefault(_SEEN, [])
    seen.extend((e.kind, dict(e.payload or {})) for e in session.new if isinstance(e, Event))


def _forget(session: OrmSession) -> None:
    session.info.pop(_SEEN, None)


def _count_committed(session: OrmSession) -> None:
    for kind, payload in session.info.pop(_SEEN, ()):
        count(kind, payload)


def count(kind: str, payload: dict[str, Any]) -> None:
    """Count one committed event of the flow."""
    if kind == Kind.REQUEST_CREATED:
        INTAKES.inc()
    elif kind == Kind.REQUEST_ACCEPTED:
        ACCEPTS.inc()
        _moved(SessionStatus.PENDING, payloads.read(RequestAccepted, payload)["session_status"])
    elif kind == Kind.REQUEST_EXPIRED:
        _moved(SessionStatus.PENDING, payloads.read(RequestExpired, payload)["session_status"])
    elif kind == Kind.REQUEST_RELEASED:
        _moved(SessionStatus.WAITING, payloads.read(RequestReleased, payload)["session_status"])
    elif kind == Kind.SESSION_UPDATED:
        updated = payloads.read(SessionUpdated, payload)
        if updated["previous_status"] != updated["session_status"]:
            _moved(updated["previous_status"], updated["session_status"])


def _moved(before: str, after: str) -> None:
    TRANSITIONS.labels(str(before), str(after)).inc()


def _count_accept_conflicts(app: FastAPI) -> None:
    """A 409 ``request_taken`` is a lost accept race: count it, then answer as the app
    answers every domain error (that handler is looked up at the time, so it may be
    installed before or after this one)."""

    async def counted(request: Request, exc: Exception) -> Response:
        if isinstance(exc, DomainError) and exc.code == "request_taken":
            ACCEPT_CONFLICTS.inc()
        answer = request.app.exception_handlers.get(DomainError)
        if answer is None:
            raise exc
        response: Response = await answer(request, exc)
        return response

    app.add_exception_handler(Conflict, counted)


# --- latency ----------------------------------------------------------------------------


class Latency(HttpMiddleware):
    """Time to the first byte of each response, labelled by the route's template."""

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()

        def timed(_start: Message) -> None:
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            LATENCY.labels(scope["method"], route).observe(time.perf_counter() - started)

        await self.app(scope, receive, on_response_start(send, timed))
