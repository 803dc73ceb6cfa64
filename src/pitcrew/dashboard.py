"""The reads behind the mechanic's four tabs.

Active and Completed read ``mechanic_session_overview`` (the requests a mechanic holds,
with their sessions); Incoming reads the pending requests themselves, which name no
mechanic yet; History joins the view's held requests with the hand-backs from the events
log (docs/ARCHITECTURE.md, "Data model"). The held tabs' rows carry ``unread``, the messages
from the customer after the mechanic's read marker, counted within the same query
(``reads.unread``). Every tab is one indexed query, newest first,
paged by keyset (a cursor of the last row's time and id), so a mechanic with years of
history pages as fast as a new one.

Completed and History can be searched (:class:`Search`): words matched against the
customer's name, the car, its VIN, the issue and the summary, and filters on the day, the
rating and (History) the status. The filters narrow the same keyset query, so a search pages
like the tab itself. A search for words or a rating first reads only the tab's newest
:data:`SEARCH_WALK` rows (from the cursor, within the days asked), which answers a common word
in a few milliseconds; only when those hold less than a page does it read the whole tab, where
the trigram index answers a rare word by the rows it is in (see :func:`_searched`).
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import (
    Integer,
    Select,
    SmallInteger,
    String,
    Uuid,
    cast,
    false,
    func,
    literal,
    null,
    or_,
    select,
    type_coerce,
    union_all,
)
from sqlalchemy.orm import InstrumentedAttribute, aliased
from sqlalchemy.orm import Session as DbSession

from pitcrew import reads
from pitcrew.errors import Invalid, NotFound
from pitcrew.events import Kind
from pitcrew.models import (
    Event,
    Intake,
    RequestStatus,
    Session,
    SessionRequest,
    SessionStatus,
    UTCDateTime,
    overview,
)
from pitcrew.schemas import DashboardQuery

AnySelect = Select[*tuple[Any, ...]]
Column = InstrumentedAttribute[Any] | Any

# The History status of a request the mechanic handed back (not a request status).
RELEASED = "released"

TABS = ("incoming", "active", "completed", "history")
PAGE_SIZE = 50
# How many of the tab's newest rows a search reads before it reads the whole tab. A word in
# more than one row in forty of a mechanic's recent sessions fills a page within them; a
# rarer one is found through the trigram index, at the cost of the rows it is in.
SEARCH_WALK = 2000

# A tab's row: the view's columns but the mechanic (the reader), the request's copy of the
# session id, and the intake's text (the session page shows that); the car comes as ``vehicle``.
ROW_COLUMNS = tuple(
    column.name
    for column in overview.c
    if column.name not in {"mechanic_id", "parent_session_id", "vehicle_info", "issue_description"}
)


# What History's status filter takes: the request's status, or "released" for a hand-back.
HISTORY_STATUSES = (RequestStatus.ACCEPTED, RequestStatus.CANCELLED, RELEASED)


@dataclass(frozen=True)
class Search:
    """What a mechanic looks for in Completed or History.

    Every word must appear (in any letter case) in the customer's name, the car, its VIN,
    the issue or the summary; ``since`` and ``until`` are whole days in UTC, both included,
    on the tab's own time (completed at, or accepted or handed back at); ``rating`` is the
    customer's stars; ``status`` is History's (accepted, cancelled or released).
    """

    words: tuple[str, ...] = ()
    since: date | None = None
    until: date | None = None
    rating: int | None = None
    status: str | None = None

    @classmethod
    def of(
        cls,
        text: str | None = None,
        since: date | None = None,
        until: date | None = None,
        rating: int | None = None,
        status: str | None = None,
    ) -> Search:
        if since and until and until < since:
            raise Invalid("The end of the date range is before its start.", code="invalid_range")
        return cls(tuple((text or "").split()), since, until, rating, status or None)

    def __bool__(self) -> bool:
        return bool(self.words) or any(
            value is not None for value in (self.since, self.until, self.rating, self.status)
        )


NO_SEARCH = Search()


def search_for(query: DashboardQuery) -> Search:
    """The search a tab's query parameters ask for."""
    return Search.of(query.q, query.since, query.until, query.rating, query.status)


def _like(word: str) -> str:
    """A LIKE pattern finding ``word`` anywhere, with LIKE's own wildcards taken literally."""
    escaped = word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _text_matches(words: tuple[str, ...], text: Column = Session.search_text) -> list[Any]:
    """Every word somewhere in the session's search text (see ``models.search_text``)."""
    return [text.ilike(_like(word), escape="\\") for word in words]


def _found(search: Search, text: Column, rating: Column) -> list[Any]:
    """The words and the rating ``search`` asks for."""
    rated = [] if search.rating is None else [rating == search.rating]
    return [*_text_matches(search.words, text), *rated]


def _in_days(at: Column, search: Search, walked_to: datetime | None = None) -> list[Any]:
    """The days ``search`` asks for, and no further back than ``walked_to`` (see
    :func:`_searched`)."""
    bounds = []
    if search.since:
        bounds.append(at >= datetime.combine(search.since, time(), UTC))
    if search.until:
        bounds.append(at < datetime.combine(search.until + timedelta(days=1), time(), UTC))
    if walked_to is not None:
        bounds.append(at >= walked_to)
    return bounds


def _searched_text(walked_to: datetime | None) -> Column:
    """The session's text as a page reads it: within a walk (see :func:`_searched`) as an
    expression the trigram index does not cover, so that the planner checks the walk's few
    rows one by one instead of reading every row the index holds for a common word."""
    return Session.search_text if walked_to is None else Session.search_text + ""


def _narrowed(stmt: AnySelect, at: Column, search: Search, walked_to: datetime | None) -> AnySelect:
    """A held-rows query (the view joined to its session) cut to what ``search`` asks for."""
    found = _found(search, _searched_text(walked_to), overview.c.rating)
    return stmt.where(*found, *_in_days(at, search, walked_to))


def _searched(
    s: DbSession,
    read: Callable[[datetime | None], Page],
    walk: AnySelect,
    search: Search,
    window: Window,
) -> Page:
    """A page of a searched tab: first among the tab's newest rows, then, if need be, among all.

    ``walk`` lists the rows a search would read as (time, text, rating), newest first by the
    tab's keyset time; ``read(walked_to)`` reads the page among the rows the walk lists at
    ``walked_to`` or later, and every other row of the tab (among all for None). The walk
    reads up to :data:`SEARCH_WALK` of them in index order and stops at the page's last row
    (the one that tells a next page exists): every row it left out comes after that one in the
    tab, so a read bounded there finds the page's rows, and so does a read over a walk that
    held every row. A word in few of the mechanic's sessions fills no page in the walk; it is
    found among all rows through the trigram index. A search for a day range alone reads that
    range in the tab's index order, and needs no walk.
    """
    if not search.words and search.rating is None:
        return read(None)
    at = walk.selected_columns[0]
    bounds = _in_days(at, search)
    if window.cursor:  # strictly before it: rows tied with the cursor may come before it
        bounds.append(at < decode_cursor(window.cursor)[0])
    newest = walk.where(*bounds).limit(SEARCH_WALK).subquery()
    w_at, w_text, w_rating = newest.c
    in_walk = (
        select(w_at)
        .where(*_found(search, w_text, w_rating))
        .order_by(w_at.desc())
        .offset(window.limit)
    )
    page_from = s.execute(in_walk.limit(1)).scalar()
    if page_from is not None:
        return read(page_from)
    walked, oldest = s.execute(select(func.count(), func.min(w_at))).one()
    return read(oldest if walked < SEARCH_WALK else None)


@dataclass(frozen=True)
class Page:
    rows: list[dict[str, Any]]
    next_cursor: str | None


@dataclass(frozen=True)
class Window:
    """Which page of a tab to read: the rows after ``cursor`` (from the top without one), at
    most ``limit`` of them."""

    cursor: str | None = None
    limit: int = PAGE_SIZE


FIRST = Window()


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


def incoming(s: DbSession, at: Window = FIRST) -> Page:
    """Pending requests, longest-waiting first: the dispatch queue every mechanic sees.

    Each row carries the car (``vehicle``, the intake's object) and the whole ``issue``, so a
    mechanic picks the requests they are good at before accepting; never the customer's
    contact details.
    """
    r = SessionRequest
    stmt = (
        select(
            r.id.label("request_id"),
            r.status.label("request_status"),
            r.parent_session_id.label("session_id"),
            r.customer_id,
            r.customer_name,
            r.session_type,
            r.plan_code,
            r.created_at.label("request_created_at"),
            Intake.vehicle_info.label("vehicle"),
            Intake.issue_description.label("issue"),
        )
        .join(Session, Session.id == r.parent_session_id)
        .outerjoin(Intake, Intake.id == Session.intake_id)
        .where(r.status == RequestStatus.PENDING)
    )
    stmt = _keyset(stmt, r.created_at, r.id, at.cursor, newest_first=False)
    return _page(s, stmt, "request_created_at", at.limit)


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
    vehicle = overview.c.vehicle_info.label("vehicle")
    return select(*cols, vehicle, took).where(overview.c.mechanic_id == mechanic_id)


def active(s: DbSession, mechanic_id: uuid.UUID, at: Window = FIRST) -> Page:
    """Sessions the mechanic holds and has not finished: waiting to join, or live."""
    v = overview.c
    stmt = _held(mechanic_id, SessionStatus.WAITING, SessionStatus.LIVE)
    return _page(s, _keyset(stmt, v.accepted_at, v.request_id, at.cursor), "accepted_at", at.limit)


def completed(
    s: DbSession, mechanic_id: uuid.UUID, at: Window = FIRST, search: Search = NO_SEARCH
) -> Page:
    v = overview.c
    if search.status is not None:
        raise Invalid("Completed lists completed sessions only: filter by status in History.")

    def read(walked_to: datetime | None) -> Page:
        held = _held(mechanic_id, SessionStatus.COMPLETED)
        stmt = _narrowed(held, Session.ended_at, search, walked_to)
        return _page(
            s, _keyset(stmt, Session.ended_at, v.request_id, at.cursor), "ended_at", at.limit
        )

    walk = (
        select(Session.ended_at, Session.search_text, Session.rating)
        .where(Session.mechanic_id == mechanic_id, Session.status == SessionStatus.COMPLETED)
        .order_by(Session.ended_at.desc())
    )
    return _searched(s, read, walk, search, at)


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
        .add_columns(reads.unread(overview.c.session_id, mechanic_id).label("unread"))
        .join_from(overview, Session, Session.id == overview.c.session_id)
        .where(
            overview.c.session_status.in_(statuses),
            Session.mechanic_id == mechanic_id,
            Session.status.in_(statuses),
        )
    )


def history(
    s: DbSession, mechanic_id: uuid.UUID, at: Window = FIRST, search: Search = NO_SEARCH
) -> Page:
    """Every request the mechanic accepted, including those later cancelled, and those they
    handed back: a hand-back shows as ``request_status`` "released" at ``released_at``.

    Held requests come from the view, hand-backs from the events log (its partial index of
    releases by actor); each branch is cut to one page by the same keyset before they merge,
    so a page costs the same for a mechanic with years of history as for a new one.
    """

    def read(walked_to: datetime | None) -> Page:
        return _history_page(s, mechanic_id, at, search, walked_to)

    if search.status == RELEASED:  # hand-backs only: a few, read whole
        return read(None)
    r = SessionRequest
    # The held requests by the time History orders them by (accepted or cancelled alike).
    # Every request has its session: the outer join lets a count of the walk leave it out.
    walk = (
        select(r.accepted_at, Session.search_text, Session.rating)
        .outerjoin(Session, Session.id == r.parent_session_id)
        .where(r.mechanic_id == mechanic_id)
    )
    if search.status is not None:
        walk = walk.where(r.status == search.status)
    return _searched(s, read, walk.order_by(r.accepted_at.desc()), search, at)


def _history_page(
    s: DbSession,
    mechanic_id: uuid.UUID,
    at: Window,
    search: Search,
    walked_to: datetime | None,
) -> Page:
    """History's page after the window's cursor, among the rows at ``walked_to`` or later."""
    v, cursor, limit = overview.c, at.cursor, at.limit
    # One branch per status, so each reads (mechanic_id, status, accepted_at) in index order.
    held = [
        _keyset(
            _held_in_history(mechanic_id, status, search, walked_to),
            v.accepted_at,
            v.request_id,
            cursor,
        ).limit(limit + 1)
        for status in (RequestStatus.ACCEPTED, RequestStatus.CANCELLED)
        if search.status in (None, status)
    ]
    # Hand-backs are not in the walk (a few, read through the events log): never bounded.
    released = _released(mechanic_id, cursor, search, walked_to).limit(limit + 1)
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
    unread = reads.unread(both.c.session_id, mechanic_id).label("unread")
    stmt = (
        select(*columns, unread)
        .order_by(both.c.at.desc(), both.c.request_id.desc())
        .limit(limit + 1)
    )
    rows = [_history_row(dict(found._mapping)) for found in s.execute(stmt)]
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = encode_cursor(rows[-1]["at"], rows[-1]["request_id"]) if more else None
    for row in rows:
        del row["at"]
    return Page(rows=rows, next_cursor=next_cursor)


def _history_row(row: dict[str, Any]) -> dict[str, Any]:
    """A hand-back shows when it had been accepted, and no unread: it is not theirs now."""
    before = row.pop("accepted_before")
    if row["request_status"] == RELEASED:
        row["unread"] = 0
        if before:
            row["accepted_at"] = datetime.fromisoformat(before)
    return row


def _held_in_history(
    mechanic_id: uuid.UUID, status: RequestStatus, search: Search, walked_to: datetime | None
) -> AnySelect:
    """One branch of History's held requests: those in ``status``, cut to ``search``."""
    v = overview.c
    stmt = (
        _mine(mechanic_id)
        .add_columns(
            v.accepted_at.label("at"),
            cast(null(), UTCDateTime).label("released_at"),
            cast(null(), String).label("accepted_before"),
        )
        .where(v.request_status == status)
    )
    if search.words:  # the summary is the session's own
        # The session names the request's mechanic (the composite foreign key): naming them
        # here lets the words be looked up among that mechanic's sessions only.
        stmt = stmt.join_from(overview, Session, Session.id == v.session_id).where(
            Session.mechanic_id == mechanic_id
        )
    return _narrowed(stmt, v.accepted_at, search, walked_to)


def _released(
    mechanic_id: uuid.UUID, cursor: str | None, search: Search, walked_to: datetime | None
) -> AnySelect:
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
            Intake.vehicle_info.label("vehicle"),
        )
        .join(r, r.id == e.request_id)
        .join(Session, Session.id == r.parent_session_id)
        .outerjoin(Intake, Intake.id == Session.intake_id)
        .where(e.actor_id == mechanic_id, e.kind == Kind.REQUEST_RELEASED)
    )
    if search.status not in (None, RELEASED) or search.rating is not None:
        released = released.where(false())  # a hand-back has no other status and no rating
    if search.words:
        released = released.where(*_text_matches(search.words, _searched_text(walked_to)))
    return _keyset(released.where(*_in_days(e.at, search)), e.at, e.request_id, cursor)


def tab_page(
    s: DbSession,
    mechanic_id: uuid.UUID,
    tab: str,
    cursor: str | None = None,
    search: Search = NO_SEARCH,
    *,
    limit: int = PAGE_SIZE,
) -> Page:
    """One page of the tab named ``tab``: its first, or the one after ``cursor``."""
    if tab not in TABS:
        raise NotFound(f"No tab named {tab!r}.")
    if search and tab in ("incoming", "active"):
        raise Invalid("Search works in Completed and History.", code="not_searchable")
    at = Window(cursor, limit)
    if tab == "incoming":
        return incoming(s, at)
    if tab == "active":
        return active(s, mechanic_id, at)
    read = completed if tab == "completed" else history
    return read(s, mechanic_id, at, search)


def whole(s: DbSession, mechanic_id: uuid.UUID) -> dict[str, Page]:
    """The first page of every tab, as the dashboard opens."""
    return {
        "incoming": incoming(s),
        "active": active(s, mechanic_id),
        "completed": completed(s, mechanic_id),
        "history": history(s, mechanic_id),
    }
