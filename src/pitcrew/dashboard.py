"""The reads behind the mechanic's four tabs.

Active and Completed read ``mechanic_session_overview`` (the requests a mechanic holds,
with their sessions); Incoming reads the pending requests themselves, which name no
mechanic yet; History joins the view's held requests with the hand-backs from the events
log (docs/ARCHITECTURE.md, "Data model"). The held tabs' rows carry ``unread``, the messages
from the customer after the mechanic's read marker, counted within the same query
(``reads.unread``). Every tab is one indexed query (a search for words or a rating sends
two or three, below), newest first, paged by keyset (a cursor of the last row's time and id),
so a mechanic with years of history pages as fast as a new one.

Completed and History can be searched (:class:`Search`): words matched against the
customer's name, the car, its VIN, the issue and the summary, and filters on the day, the
rating and (History) the status. A search for a day range alone narrows the tab's own keyset
query. A search for words or a rating first picks the page's rows from the sessions and
requests alone, and joins only those to the rest of the row: it walks the tab's newest
:data:`SEARCH_WALK` rows (from the cursor, within the days asked) in index order, which
answers a common word in a few milliseconds; a search the walk finds in some rows but not a
page walks on, as far as the rate it found them at needs; any other reads the whole tab, where
the trigram index answers by the rarest of its words (see :func:`_searched`).
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import (
    Integer,
    Select,
    SmallInteger,
    String,
    Uuid,
    and_,
    case,
    cast,
    false,
    func,
    literal,
    null,
    or_,
    select,
    text,
    true,
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
# How many of the tab's newest rows a search reads first. A word in more than one row in
# twenty of a mechanic's recent sessions fills a page within them; a rarer one walks on or is
# found through the trigram index, at the cost of the rows it is in (see :func:`_searched`).
SEARCH_WALK = 1000
# A second walk is taken only when the trigram index would read at least this many rows for
# each it keeps, and only up to this many rows: beyond, a walk costs more than the index.
INDEX_WASTE = 4
SEARCH_WALK_LONGEST = 8 * SEARCH_WALK

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


def _text_matches(
    words: tuple[str, ...], text: Column = Session.search_text, indexed: Iterable[str] = ()
) -> list[Any]:
    """Every word somewhere in the session's search text (see ``models.search_text``).

    Only the ``indexed`` words are matched against the column itself, which the trigram
    index covers; the others against an expression it does not, so the planner looks up the
    rows through those words alone and checks the rest row by row among them. A word in every
    row (a customer's "History Customer") would otherwise make the index read every row it
    holds; and a read among the rows a walk bounded (see :func:`_searched`) checks those few
    rows one by one instead of reading every row the index holds for a common word.
    """
    looked_up = set(indexed)
    unindexed = text + ""
    return [
        (text if word in looked_up else unindexed).ilike(_like(word), escape="\\") for word in words
    ]


def _found(search: Search, text: Column, rating: Column, indexed: Iterable[str] = ()) -> list[Any]:
    """The words and the rating ``search`` asks for."""
    rated = [] if search.rating is None else [rating == search.rating]
    return [*_text_matches(search.words, text, indexed), *rated]


def _in_days(at: Column, search: Search) -> list[Any]:
    """The days ``search`` asks for."""
    bounds = []
    if search.since:
        bounds.append(at >= datetime.combine(search.since, time(), UTC))
    if search.until:
        bounds.append(at < datetime.combine(search.until + timedelta(days=1), time(), UTC))
    return bounds


def _searches(search: Search) -> bool:
    """Whether ``search`` looks at the rows themselves (words or a rating), not only their days."""
    return bool(search.words) or search.rating is not None


Key = tuple[datetime, uuid.UUID]  # a row's place in its tab or in a walk: (time, id)


@dataclass(frozen=True)
class Walked:
    """What a walk over a tab's rows found: its matches in its order (up to the ``wanted``-th,
    where it stopped), how many rows it read, the last of them (None when there were none)
    and how many held each word (both unknown when it stopped early)."""

    matches: tuple[Key, ...]
    rows: int = 0
    last: Key | None = None
    with_word: tuple[int, ...] = ()


@dataclass(frozen=True)
class Among:
    """Where a searched page's rows are: among the tab's rows at ``bound`` or later (all for
    None), the ``indexed`` words looked up through the trigram index (see
    :func:`_text_matches`); or, when a walk in the tab's own order found them, exactly the
    requests ``ids``."""

    bound: datetime | None
    indexed: tuple[str, ...] = ()
    ids: tuple[uuid.UUID, ...] | None = None


def _searched(
    s: DbSession, walk: AnySelect, search: Search, window: Window, *, exact: bool = False
) -> Among:
    """Where a searched page's rows are: first among the tab's newest rows, then, if need be,
    among all.

    ``walk`` lists the tab's rows as (time, id, text, rating) from one table's index in the
    tab's order by time, the id ordering rows of one time; ``exact`` when that id is the
    tab's own (the request's), so that the walk's order is the tab's. A walk reads up to
    :data:`SEARCH_WALK` of them after the cursor (strictly before its time, unless exact),
    within the days asked, checks each, and stops at the page's last row (the one that tells
    a next page exists): every row it left out comes after that one in the tab, so a read
    bounded there finds the page's rows, and so does a read over a walk that held every row.
    An exact walk's matches are the page's rows themselves. A common word costs a few hundred
    rows.

    A walk that found some matches but not a page tells how often the search matches. When
    its rarest word is in many more rows than the search (a common word with a rating, or two
    common words seldom together), the trigram index would read many rows for each it keeps:
    a second walk carries on from where the first stopped, long enough to hold the rest of
    the page twice over at that rate, up to :data:`SEARCH_WALK_LONGEST` rows. Any other search
    is read among all rows through the trigram index, which looks up only the words the walks
    found in fewest rows: a word in every row would cost the index every row, a rare one only
    the rows it is in. A search for a day range alone reads that range in the tab's index
    order, and needs no walk.
    """
    if not _searches(search):
        return Among(None)
    _without_parallel_workers(s)
    wanted = window.limit + 1
    at, row_id = walk.selected_columns[:2]
    walk = walk.where(*_in_days(at, search))
    first = _after_cursor(walk, window.cursor, exact=exact)

    def found(matches: tuple[Key, ...], last: Key | None) -> Among:
        """The page among the walks' ``matches``, a full page or all there are."""
        bound = matches[-1][0] if len(matches) == wanted else last[0] if last else None
        return Among(bound, ids=tuple(key[1] for key in matches) if exact else None)

    walked = _walk(s, first, search, SEARCH_WALK, wanted)
    matches, last = walked.matches, walked.last
    if len(matches) == wanted or walked.rows < SEARCH_WALK:  # a page, or every row
        return found(matches, last)
    with_word = walked.with_word
    if last and matches and min(with_word, default=0) >= INDEX_WASTE * len(matches):
        longer = SEARCH_WALK * 2 * (wanted - len(matches)) // len(matches)
        if longer <= SEARCH_WALK_LONGEST:
            rest = _keyset(walk, at, row_id, last)
            more = _walk(s, rest, search, longer, wanted - len(matches))
            if len(more.matches) == wanted - len(matches) or more.rows < longer:
                return found(matches + more.matches, more.last or last)
            with_word = tuple(a + b for a, b in zip(with_word, more.with_word, strict=True))
    fewest = min(with_word, default=0)
    rarest = (word for word, n in zip(search.words, with_word, strict=True) if n == fewest)
    return Among(None, tuple(rarest))


def _without_parallel_workers(s: DbSession) -> None:
    """A walk is a short read in index order: on PostgreSQL, starting parallel workers for it
    costs more than the walk itself, and they compete for the cores other requests need."""
    if s.get_bind().dialect.name == "postgresql":
        s.execute(text("SET LOCAL max_parallel_workers_per_gather = 0"))


def _after_cursor(walk: AnySelect, cursor: str | None, *, exact: bool) -> AnySelect:
    """The walk's rows after ``cursor``: by the tab's own keyset when the walk's order is the
    tab's (``exact``), else strictly before its time, since rows tied with the cursor may
    come before it in the tab (see :func:`_searched`)."""
    at, row_id = walk.selected_columns[:2]
    if exact:
        return _keyset(walk, at, row_id, cursor)
    return walk.where(at < decode_cursor(cursor)[0]) if cursor else walk


def _walk(s: DbSession, walk: AnySelect, search: Search, length: int, wanted: int) -> Walked:
    """Up to ``length`` of ``walk``'s rows in its order, each checked against ``search`` as it
    is read, stopping at the ``wanted``-th match.

    One statement: running counts over the rows as they are read say how many matched so far,
    and on the last row read, how many rows were read and held each word.
    """
    at, row_id, text, rating = walk.selected_columns
    # The text in lower case once per row, then each word and the rating checked once per row
    # (lower case on both sides, then LIKE: what ILIKE does in a UTF-8 database, and what it
    # is on SQLite): each limited in the walk's order, so that neither is folded into the next
    # and the window below reads them as they come, without sorting.
    lowered = (
        walk.with_only_columns(at, row_id, func.lower(text), rating, maintain_column_froms=True)
        .order_by(None)
        .order_by(at.desc(), row_id.desc())
        .limit(length)
        .subquery()
    )
    l_at, l_id, l_text, l_rating = lowered.c
    in_text = [l_text.like(func.lower(_like(word)), escape="\\") for word in search.words]
    rated = [] if search.rating is None else [l_rating == search.rating]
    checked = (
        select(l_at, l_id, *in_text, *rated)
        .order_by(l_at.desc(), l_id.desc())
        .limit(length)
        .subquery()
    )
    w_at, w_id, *w_checks = checked.c
    so_far: dict[str, Any] = {"order_by": (w_at.desc(), w_id.desc()), "rows": (None, 0)}

    def running(condition: Any) -> Any:
        return func.count(case((condition, 1))).over(**so_far)

    found = and_(true(), *w_checks)
    words = w_checks[: len(search.words)]
    numbered = select(
        w_at,
        w_id,
        found.label("found"),
        running(found).label("matched"),
        func.row_number().over(**so_far).label("walked"),
        func.lead(w_id).over(**so_far).is_(None).label("last"),
        *(running(word).label(f"word_{n}") for n, word in enumerate(words)),
    ).subquery()
    n = numbered.c
    kept = select(numbered).where(or_(and_(n.found, n.matched <= wanted), n.last))
    matches: list[Key] = []
    for row in s.execute(kept.limit(wanted)):
        if row.found:
            matches.append((row[0], row[1]))
        if row.last and len(matches) < wanted:
            counts = tuple(row._mapping[f"word_{n}"] for n in range(len(words)))
            return Walked(tuple(matches), row.walked, (row[0], row[1]), counts)
    return Walked(tuple(matches))


def _picked(
    tab: AnySelect, at: Column, row_id: Column, search: Search, among: Among, window: Window
) -> AnySelect:
    """The request ids of a searched page's rows (with the one that tells a next page
    exists), picked from ``tab``, the tab's sessions and requests alone, in the tab's order.

    Only the page's rows are then joined to their car, intake and unread count: a search
    matching thousands of rows sorts thousands of ids, not thousands of whole rows.
    """
    bound = [] if among.bound is None else [at >= among.bound]
    stmt = tab.where(
        *_found(search, Session.search_text, Session.rating, among.indexed),
        *_in_days(at, search),
        *bound,
    )
    return _keyset(stmt, at, row_id, window.cursor).limit(window.limit + 1)


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
    cursor: str | Key | None,
    *,
    newest_first: bool = True,
) -> AnySelect:
    if cursor:
        c_at, c_id = decode_cursor(cursor) if isinstance(cursor, str) else cursor
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
    held = _held(mechanic_id, SessionStatus.COMPLETED)
    if _searches(search):
        r = SessionRequest
        # Completed's sessions in the order of their index, each once with its time.
        walk = select(Session.ended_at, Session.id, Session.search_text, Session.rating).where(
            Session.mechanic_id == mechanic_id, Session.status == SessionStatus.COMPLETED
        )
        among = _searched(s, walk, search, at)
        tab = (
            select(r.id)
            .join_from(Session, r, r.parent_session_id == Session.id)
            .where(
                Session.mechanic_id == mechanic_id,
                Session.status == SessionStatus.COMPLETED,
                r.mechanic_id == mechanic_id,
            )
        )
        picked = _picked(tab, Session.ended_at, r.id, search, among, at)
        stmt = _keyset(held.where(v.request_id.in_(picked)), Session.ended_at, v.request_id, None)
    else:
        held = held.where(*_in_days(Session.ended_at, search))
        stmt = _keyset(held, Session.ended_at, v.request_id, at.cursor)
    return _page(s, stmt, "ended_at", at.limit)


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
    held = _held_branches(s, mechanic_id, at, search)
    # Hand-backs are not in the walk: a few, read through the events log.
    released = _released(mechanic_id, at.cursor, search).limit(at.limit + 1)
    return _merged_page(s, mechanic_id, [*held, released], at.limit)


def _held_branches(
    s: DbSession, mechanic_id: uuid.UUID, at: Window, search: Search
) -> list[AnySelect]:
    """History's held requests after the window's cursor, each branch cut to one page."""
    v, limit = overview.c, at.limit
    statuses = [
        status
        for status in (RequestStatus.ACCEPTED, RequestStatus.CANCELLED)
        if search.status in (None, status)
    ]
    if not statuses:
        return []
    if not _searches(search):
        # One branch per status, so each reads (mechanic_id, status, accepted_at) in index order.
        return [
            _keyset(
                _held_in_history(mechanic_id).where(
                    v.request_status == status, *_in_days(v.accepted_at, search)
                ),
                v.accepted_at,
                v.request_id,
                at.cursor,
            ).limit(limit + 1)
            for status in statuses
        ]
    r = SessionRequest
    # The session names the request's mechanic (the composite foreign key): naming them
    # here lets the words be looked up among that mechanic's sessions only.
    tab = (
        select(r.accepted_at, r.id, Session.search_text, Session.rating)
        .join_from(r, Session, Session.id == r.parent_session_id)
        .where(
            r.mechanic_id == mechanic_id,
            r.status.in_(statuses),
            Session.mechanic_id == mechanic_id,
        )
    )
    among = _searched(s, tab, search, at, exact=True)
    if among.ids is None:
        ids = tab.with_only_columns(r.id, maintain_column_froms=True)
        picked = _picked(ids, r.accepted_at, r.id, search, among, at)
        mine = _held_in_history(mechanic_id).where(v.request_id.in_(picked))
    else:
        mine = _held_in_history(mechanic_id).where(v.request_id.in_(among.ids))
    return [_keyset(mine, v.accepted_at, v.request_id, None).limit(limit + 1)]


def _merged_page(
    s: DbSession, mechanic_id: uuid.UUID, branches: list[AnySelect], limit: int
) -> Page:
    """History's page: its branches merged, newest first, with the unread counts."""
    # UNION pairs columns by position: every branch lists them in the first one's order.
    subqueries = [branch.subquery() for branch in branches]
    names = subqueries[0].c.keys()
    both = union_all(*(select(*(sub.c[name] for name in names)) for sub in subqueries)).subquery()
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


def _held_in_history(mechanic_id: uuid.UUID) -> AnySelect:
    """History's held requests, with the columns its hand-backs carry too."""
    v = overview.c
    return _mine(mechanic_id).add_columns(
        v.accepted_at.label("at"),
        cast(null(), UTCDateTime).label("released_at"),
        cast(null(), String).label("accepted_before"),
    )


def _released(mechanic_id: uuid.UUID, cursor: str | None, search: Search) -> AnySelect:
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
    # Checked row by row among the mechanic's few hand-backs, never looked up by the index.
    released = released.where(*_text_matches(search.words))
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
