"""The reads behind the mechanic's four tabs.

Active and Completed read ``mechanic_session_overview`` (the requests a mechanic holds,
with their sessions); Incoming reads the pending requests themselves, which name no
mechanic yet; History joins the view's held requests with the hand-backs from the events
log (docs/ARCHITECTURE.md, "Data model"). Every tab is one indexed query, newest first,
paged by keyset (a cursor of the last row's time and id), so a mechanic with years of
history pages as fast as a new one.
"""

from __future__ import annotations

import base64
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Integer,
    Select,
    SmallInteger,
    String,
    Uuid,
    cast,
    literal,
    null,
    or_,
    select,
    type_coerce,
    union_all,
)
from sqlalchemy.orm import InstrumentedAttribute, aliased
from sqlalchemy.orm import Session as DbSession

from pitcrew.errors import NotFound
from pitcrew.events import Kind
from pitcrew.models import (
    Event,
    RequestStatus,
    Session,
    SessionRequest,
    SessionStatus,
    UTCDateTime,
    overview,
)

AnySelect = Select[*tuple[Any, ...]]
Column = InstrumentedAttribute[Any] | Any

# The History status of a request the mechanic handed back (not a request status).
RELEASED = "released"

TABS = ("incoming", "active", "completed", "history")
PAGE_SIZE = 50

# A tab's row: the view's columns but the mechanic (the reader), the request's copy of the
# session id, and the intake's text (the session page shows that).
ROW_COLUMNS = tuple(
    column.name
    for column in overview.c
    if column.name not in {"mechanic_id", "parent_session_id", "vehicle_info", "issue_description"}
)


@dataclass(frozen=True)
class Page:
    rows: list[dict[str, Any]]
    next_cursor: str | None


def encode_cursor(at: datetime, row_id: uuid.UUID) -> str:
    return base64.urlsafe_b64encode(f"{at.isoformat()}|{row_id}".encode()).decode()


def decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        at, row_id = base64.urlsafe_b64decode(cursor.encode()).decode().split("|")
        moment = datetime.fromisoformat(at)
        if moment.tzinfo is None:  # ours always carry UTC; a naive one was made by hand
            raise ValueError(at)
        # Ours are UTC already; a far offset at the edge of the calendar cannot be stored.
        return moment.astimezone(UTC), uuid.UUID(row_id)
    except (ValueError, UnicodeDecodeError, OverflowError):
        # Like an unknown id: no page answers to a cursor we never gave out.
        raise NotFound("No page has that cursor.", code="invalid_cursor") from None


def _keyset(
    stmt: AnySelect,
    at: Column,
    row_id: Column,
    cursor: str | None,
    *,
    newest_first: bool = True,
) -> AnySelect:
    if cursor:
        c_at, c_id = decode_cursor(cursor)
        # "(at, id) after the cursor", with the bound on ``at`` spelt out on its own so that
        # an index on the time starts the scan at the cursor instead of filtering up to it.
        if newest_first:
            stmt = stmt.where(at <= c_at, or_(at < c_at, row_id < c_id))
        else:
            stmt = stmt.where(at >= c_at, or_(at > c_at, row_id > c_id))
    order = (at.desc(), row_id.desc()) if newest_first else (at.asc(), row_id.asc())
    return stmt.order_by(*order)


def _page(s: DbSession, stmt: AnySelect, time_key: str, limit: int) -> Page:
    rows = [dict(r._mapping) for r in s.execute(stmt.limit(limit + 1))]
    more = len(rows) > limit
    rows = rows[:limit]
    cursor = None
    if more and rows:
        last = rows[-1]
        cursor = encode_cursor(last[time_key], last["request_id"])
    return Page(rows=rows, next_cursor=cursor)


def incoming(s: DbSession, *, cursor: str | None = None, limit: int = PAGE_SIZE) -> Page:
    """Pending requests, longest-waiting first: the dispatch queue every mechanic sees."""
    r = SessionRequest
    stmt = select(
        r.id.label("request_id"),
        r.status.label("request_status"),
        r.parent_session_id.label("session_id"),
        r.customer_id,
        r.customer_name,
        r.session_type,
        r.plan_code,
        r.created_at.label("request_created_at"),
    ).where(r.status == RequestStatus.PENDING)
    stmt = _keyset(stmt, r.created_at, r.id, cursor, newest_first=False)
    return _page(s, stmt, "request_created_at", limit)


def _mine(mechanic_id: uuid.UUID) -> AnySelect:
    cols = [overview.c[name] for name in ROW_COLUMNS]
    # How long a completed session took: kept on the session, beside the view's columns.
    kept = aliased(Session)
    took = (
        select(kept.duration_seconds)
        .where(kept.id == overview.c.session_id)
        .correlate_except(kept)
        .scalar_subquery()
        .label("duration_seconds")
    )
    return select(*cols, took).where(overview.c.mechanic_id == mechanic_id)


def active(
    s: DbSession, mechanic_id: uuid.UUID, *, cursor: str | None = None, limit: int = PAGE_SIZE
) -> Page:
    """Sessions the mechanic holds and has not finished: waiting to join, or live."""
    v = overview.c
    stmt = _held(mechanic_id, SessionStatus.WAITING, SessionStatus.LIVE)
    return _page(s, _keyset(stmt, v.accepted_at, v.request_id, cursor), "accepted_at", limit)


def completed(
    s: DbSession, mechanic_id: uuid.UUID, *, cursor: str | None = None, limit: int = PAGE_SIZE
) -> Page:
    v = overview.c
    stmt = _held(mechanic_id, SessionStatus.COMPLETED)
    return _page(s, _keyset(stmt, Session.ended_at, v.request_id, cursor), "ended_at", limit)


def _held(mechanic_id: uuid.UUID, *statuses: SessionStatus) -> AnySelect:
    """The mechanic's rows of the view whose session is in one of ``statuses``.

    The view names the mechanic through the request, and a busy mechanic has years of
    requests; joining the session once more by id lets the planner start from the sessions
    index on (mechanic_id, status, ended_at), so a tab costs what it shows. Request and
    session always name the same mechanic (the schema's composite foreign key), so the
    join leaves out nothing the view would show.
    """
    return (
        _mine(mechanic_id)
        .join_from(overview, Session, Session.id == overview.c.session_id)
        .where(
            overview.c.session_status.in_(statuses),
            Session.mechanic_id == mechanic_id,
            Session.status.in_(statuses),
        )
    )


def history(
    s: DbSession, mechanic_id: uuid.UUID, *, cursor: str | None = None, limit: int = PAGE_SIZE
) -> Page:
    """Every request the mechanic accepted, including those later cancelled, and those they
    handed back: a hand-back shows as ``request_status`` "released" at ``released_at``.

    Held requests come from the view, hand-backs from the events log (its partial index of
    releases by actor); each branch is cut to one page by the same keyset before they merge,
    so a page costs the same for a mechanic with years of history as for a new one.
    """
    v = overview.c
    # One branch per status, so each reads (mechanic_id, status, accepted_at) in index order.
    held = [
        _keyset(
            _mine(mechanic_id)
            .add_columns(
                v.accepted_at.label("at"),
                cast(null(), UTCDateTime).label("released_at"),
                cast(null(), String).label("accepted_before"),
            )
            .where(v.request_status == status),
            v.accepted_at,
            v.request_id,
            cursor,
        ).limit(limit + 1)
        for status in (RequestStatus.ACCEPTED, RequestStatus.CANCELLED)
    ]
    released = _released(mechanic_id, cursor).limit(limit + 1)
    # UNION pairs columns by position: every branch lists them in the first one's order.
    subqueries = [branch.subquery() for branch in (*held, released)]
    names = subqueries[0].c.keys()
    branches = [select(*(sub.c[name] for name in names)) for sub in subqueries]
    both = union_all(*branches).subquery()
    # "released" is History's word, not a request status: the merged column is read as text.
    columns = [
        type_coerce(column, String).label(column.name)
        if column.name == "request_status"
        else column
        for column in both.c
    ]
    stmt = select(*columns).order_by(both.c.at.desc(), both.c.request_id.desc()).limit(limit + 1)
    rows = []
    for found in s.execute(stmt):
        row = dict(found._mapping)
        before = row.pop("accepted_before")
        if row["request_status"] == RELEASED and before:
            row["accepted_at"] = datetime.fromisoformat(before)
        rows.append(row)
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = encode_cursor(rows[-1]["at"], rows[-1]["request_id"]) if more else None
    for row in rows:
        del row["at"]
    return Page(rows=rows, next_cursor=next_cursor)


def _released(mechanic_id: uuid.UUID, cursor: str | None) -> AnySelect:
    """The mechanic's hand-backs as History rows, from the events log, newest first."""
    e, r = Event, SessionRequest
    released = (
        select(
            e.request_id.label("request_id"),
            literal(RELEASED, String).label("request_status"),
            e.session_id.label("session_id"),
            r.customer_id,
            r.customer_name,
            r.session_type,
            r.plan_code,
            literal(SessionStatus.PENDING, String).label("session_status"),
            r.created_at.label("request_created_at"),
            cast(null(), UTCDateTime).label("accepted_at"),
            cast(null(), UTCDateTime).label("started_at"),
            cast(null(), UTCDateTime).label("ended_at"),
            cast(null(), SmallInteger).label("rating"),
            cast(null(), Uuid).label("intake_id"),
            cast(null(), Integer).label("duration_seconds"),
            e.at.label("at"),
            e.at.label("released_at"),
            e.payload["accepted_at"].as_string().label("accepted_before"),
        )
        .join(r, r.id == e.request_id)
        .where(e.actor_id == mechanic_id, e.kind == Kind.REQUEST_RELEASED)
    )
    return _keyset(released, e.at, e.request_id, cursor)


def whole(s: DbSession, mechanic_id: uuid.UUID) -> dict[str, Page]:
    """The first page of every tab, as the dashboard opens."""
    return {
        "incoming": incoming(s),
        "active": active(s, mechanic_id),
        "completed": completed(s, mechanic_id),
        "history": history(s, mechanic_id),
    }
