"""The reads behind the mechanic's four tabs, through ``mechanic_session_overview``.

Every tab is one indexed query, newest first, paged by keyset (a cursor of the last row's
time and id), so a mechanic with years of history pages as fast as a new one.
"""

from __future__ import annotations

import base64
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, or_, select
from sqlalchemy.orm import InstrumentedAttribute
from sqlalchemy.orm import Session as DbSession

from pitcrew.errors import Invalid
from pitcrew.models import RequestStatus, SessionRequest, SessionStatus, overview

AnySelect = Select[*tuple[Any, ...]]
Column = InstrumentedAttribute[Any] | Any

TABS = ("incoming", "active", "completed", "history")
PAGE_SIZE = 50

ROW_COLUMNS = (
    "request_id",
    "request_status",
    "session_id",
    "customer_id",
    "customer_name",
    "session_type",
    "plan_code",
    "session_status",
    "request_created_at",
    "accepted_at",
    "started_at",
    "ended_at",
    "rating",
    "intake_id",
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
        return datetime.fromisoformat(at), uuid.UUID(row_id)
    except (ValueError, UnicodeDecodeError):
        raise Invalid("That page cursor is not valid.", code="invalid_cursor") from None


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
        if newest_first:
            stmt = stmt.where(or_(at < c_at, and_(at == c_at, row_id < c_id)))
        else:
            stmt = stmt.where(or_(at > c_at, and_(at == c_at, row_id > c_id)))
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
    ).where(r.status == RequestStatus.PENDING.value)
    stmt = _keyset(stmt, r.created_at, r.id, cursor, newest_first=False)
    return _page(s, stmt, "request_created_at", limit)


def _mine(mechanic_id: uuid.UUID) -> AnySelect:
    cols = [overview.c[name] for name in ROW_COLUMNS]
    return select(*cols).where(overview.c.mechanic_id == mechanic_id)


def active(
    s: DbSession, mechanic_id: uuid.UUID, *, cursor: str | None = None, limit: int = PAGE_SIZE
) -> Page:
    """Sessions the mechanic holds and has not finished: waiting to join, or live."""
    v = overview.c
    stmt = _mine(mechanic_id).where(
        v.session_status.in_([SessionStatus.WAITING.value, SessionStatus.LIVE.value])
    )
    return _page(s, _keyset(stmt, v.accepted_at, v.request_id, cursor), "accepted_at", limit)


def completed(
    s: DbSession, mechanic_id: uuid.UUID, *, cursor: str | None = None, limit: int = PAGE_SIZE
) -> Page:
    v = overview.c
    stmt = _mine(mechanic_id).where(v.session_status == SessionStatus.COMPLETED.value)
    return _page(s, _keyset(stmt, v.ended_at, v.request_id, cursor), "ended_at", limit)


def history(
    s: DbSession, mechanic_id: uuid.UUID, *, cursor: str | None = None, limit: int = PAGE_SIZE
) -> Page:
    """Every request the mechanic accepted, including those later cancelled."""
    v = overview.c
    stmt = _mine(mechanic_id).where(
        v.request_status.in_([RequestStatus.ACCEPTED.value, RequestStatus.CANCELLED.value])
    )
    return _page(s, _keyset(stmt, v.accepted_at, v.request_id, cursor), "accepted_at", limit)


def whole(s: DbSession, mechanic_id: uuid.UUID) -> dict[str, Page]:
    """The first page of every tab, as the dashboard opens."""
    return {
        "incoming": incoming(s),
        "active": active(s, mechanic_id),
        "completed": completed(s, mechanic_id),
        "history": history(s, mechanic_id),
    }
