"""``pitcrew doctor``: find where requests and sessions disagree, and repair what is certain.

It works on a pitcrew database and on one of the system pitcrew replaces (the three tables
with DESIGN's columns, no constraints, no ``users``), because that is where orphaned
sessions were born. A dry run only reads. ``--apply`` repairs in one transaction: each
change is guarded by the state it was planned from, and each repair is recorded with its
before and after (in ``events``, or in ``pitcrew_repairs`` where there is no ``events``).

A request that lost its session is linked back only when exactly one session fits (same
customer and type, created within ``LINK_WINDOW``, linked to no other request, and held by
nobody or by the request's mechanic); otherwise the candidates are shown to a person.
Where a request and its session disagree, the request is the record of what mechanics did
(it is what they accept), so the session is brought in line with it, except where the
session has already moved on (cancelled, live or completed), which only a person can judge.
"""

from __future__ import annotations

import json
import shutil
import textwrap
import uuid
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Integer,
    MetaData,
    String,
    Table,
    Uuid,
    and_,
    bindparam,
    exists,
    insert,
    inspect,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.orm import Session as DbSession

from pitcrew import events, invariants
from pitcrew.db import Database
from pitcrew.events import Audience, Kind
from pitcrew.models import (
    JSONType,
    RequestStatus,
    Session,
    SessionRequest,
    SessionStatus,
    UTCDateTime,
    utcnow,
)

LINK_WINDOW = timedelta(minutes=10)
CHUNK = 500

S = SessionStatus
R = RequestStatus
HELD = frozenset({S.WAITING, S.LIVE, S.COMPLETED})
SESSION_STATUSES = frozenset(s.value for s in SessionStatus)
REQUEST_STATUSES = frozenset(r.value for r in RequestStatus)

REQUESTS = cast(Table, SessionRequest.__table__)
SESSIONS = cast(Table, Session.__table__)

# The columns the checks cannot do without, on either kind of database.
REQUIRED = {
    "session_requests": (
        "id",
        "customer_id",
        "session_type",
        "status",
        "mechanic_id",
        "parent_session_id",
        "created_at",
    ),
    "sessions": ("id", "customer_user_id", "type", "status", "mechanic_id", "created_at"),
    "intakes": ("id",),
}
# Read and written when present; a database of the replaced system may lack them.
OPTIONAL = {
    "session_requests": ("accepted_at", "closed_at"),
    "sessions": ("started_at", "ended_at"),
}
# What a planned change is guarded by: the row must still say this when it is written.
GUARDS = {
    "session_requests": ("status", "mechanic_id", "parent_session_id"),
    "sessions": ("status", "mechanic_id"),
}

_repairs_metadata = MetaData()
# The audit trail on a database that has no ``events`` table: the same columns as events.
REPAIRS = Table(
    "pitcrew_repairs",
    _repairs_metadata,
    Column("id", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True),
    Column("at", UTCDateTime, nullable=False),
    Column("actor_id", Uuid),
    Column("kind", String(64), nullable=False),
    Column("session_id", Uuid),
    Column("request_id", Uuid),
    Column("payload", JSONType, nullable=False),
)


class Unrecognized(Exception):
    """The database is neither pitcrew's nor one of the system it replaces."""


# --- what the database looks like -------------------------------------------------------


@dataclass(frozen=True)
class Shape:
    """Which of the tables and columns the doctor reads are there."""

    tables: frozenset[str]
    columns: dict[str, frozenset[str]]

    @property
    def is_pitcrew(self) -> bool:
        return "alembic_version" in self.tables and "users" in self.tables

    @property
    def kind(self) -> str:
        return "pitcrew" if self.is_pitcrew else "replaced system"

    @property
    def has_events(self) -> bool:
        return "events" in self.tables

    def has(self, qualified: str) -> bool:
        table, column = qualified.split(".")
        return column in self.columns.get(table, frozenset())

    def readable(self, table: str) -> list[str]:
        present = self.columns[table]
        return [c for c in (*REQUIRED[table], *OPTIONAL.get(table, ())) if c in present]

    @classmethod
    def read(cls, connection: Connection) -> Shape:
        inspector = inspect(connection)
        tables = frozenset(inspector.get_table_names())
        missing = [t for t in REQUIRED if t not in tables]
        if missing:
            raise Unrecognized(
                f"This database has no {', '.join(missing)} table: it is neither a pitcrew "
                "database nor one of the system pitcrew replaces."
            )
        columns = {t: frozenset(c["name"] for c in inspector.get_columns(t)) for t in REQUIRED}
        for table, needed in REQUIRED.items():
            absent = [c for c in needed if c not in columns[table]]
            if absent:
                raise Unrecognized(f"The {table} table has no column {', '.join(absent)}.")
        return cls(tables=tables, columns=columns)


# --- problems and their repairs ---------------------------------------------------------


@dataclass(frozen=True)
class Change:
    """One row's planned update: the values it must still have, and the values it gets."""

    table: str
    id: uuid.UUID
    before: dict[str, Any]
    after: dict[str, Any]

    def as_json(self) -> dict[str, Any]:
        return {
            "table": self.table,
            "id": str(self.id),
            "before": {k: _plain(v) for k, v in self.before.items()},
            "after": {k: _plain(v) for k, v in self.after.items()},
        }


@dataclass
class Problem:
    """One thing wrong, where, and the repair (no changes: a person must decide)."""

    check: str
    invariants: tuple[int, ...]
    request_id: uuid.UUID | None
    session_id: uuid.UUID | None
    state: str
    repair: str
    changes: tuple[Change, ...] = ()
    candidates: tuple[uuid.UUID, ...] = ()
    rows: tuple[uuid.UUID, ...] = ()  # data checks: every offending row
    people: tuple[uuid.UUID, ...] = ()  # whom a repair concerns (customer, mechanics)

    @property
    def repairable(self) -> bool:
        return bool(self.changes)

    def as_json(self) -> dict[str, Any]:
        return {
            "check": self.check,
            "invariants": list(self.invariants),
            "request_id": _plain(self.request_id),
            "session_id": _plain(self.session_id),
            "problem": self.state,
            "repair": self.repair,
            "repairable": self.repairable,
            "changes": [c.as_json() for c in self.changes],
            "candidates": [str(c) for c in self.candidates],
            "rows": [str(r) for r in self.rows],
        }


@dataclass
class Report:
    shape: Shape
    problems: list[Problem]
    violations: dict[str, int]
    applied: bool = False

    @property
    def database(self) -> str:
        return self.shape.kind

    @property
    def clean(self) -> bool:
        return not self.problems

    @property
    def repairable(self) -> list[Problem]:
        return [p for p in self.problems if p.repairable]

    @property
    def for_a_person(self) -> list[Problem]:
        return [p for p in self.problems if not p.repairable]

    def as_json(self) -> dict[str, Any]:
        return {
            "database": self.database,
            "applied": self.applied,
            "clean": self.clean,
            "problems": [p.as_json() for p in self.problems],
            "summary": {
                "problems": len(self.problems),
                "repairable": len(self.repairable),
                "needs_a_person": len(self.for_a_person),
                "violations": self.violations,
            },
        }


@dataclass
class _Fix:
    request: dict[str, Any] = field(default_factory=dict)
    session: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class _Unsure:
    reason: str


def _short(value: Any) -> str:
    return str(value)[:8] if value is not None else "none"


def _plain(value: Any) -> Any:
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def _as_uuid(value: Any) -> uuid.UUID | None:
    if value is None or isinstance(value, uuid.UUID):
        return value
    return uuid.UUID(str(value))


def _uuid(value: Any) -> uuid.UUID:
    found = _as_uuid(value)
    assert found is not None
    return found


def _chunks(items: Sequence[uuid.UUID]) -> Iterator[Sequence[uuid.UUID]]:
    for start in range(0, len(items), CHUNK):
        yield items[start : start + CHUNK]


# --- agreement of one request and its session -------------------------------------------


def breaks(request: dict[str, Any] | None, session: dict[str, Any]) -> set[int]:
    """The pair invariants (2 to 7) that a request and its session break, in Python.

    The same rules as ``invariants.INVARIANTS``, for checking a planned repair before it
    is written.
    """
    found: set[int] = set()
    ss, sm = session["status"], session["mechanic_id"]
    if ss in HELD and sm is None:
        found.add(5)
    if request is None:
        if sm is not None:
            found.add(7)
        return found
    rs, rm = request["status"], request["mechanic_id"]
    if rm != sm:
        found.add(2)
    if (rs == R.PENDING) != (ss == S.PENDING) or (rs == R.PENDING and (rm or sm)):
        found.add(3)
    if rs == R.ACCEPTED and ss not in HELD:
        found.add(4)
    if rs in (R.CANCELLED, R.EXPIRED) and ss != S.CANCELLED:
        found.add(6)
    if sm is not None and (
        rm != sm
        or ss not in (*HELD, S.CANCELLED)
        or (ss == S.CANCELLED and rs not in (R.ACCEPTED, R.CANCELLED))
    ):
        found.add(7)
    return found


def agree(request: dict[str, Any], session: dict[str, Any], now: datetime) -> _Fix | _Unsure:
    """The changes that make a request and its session agree, when they are certain."""
    rs, ss = request["status"], session["status"]
    if rs not in REQUEST_STATUSES:
        return _Unsure(f"the request's status {rs!r} is not one pitcrew knows")
    if ss not in SESSION_STATUSES:
        return _Unsure(f"the session's status {ss!r} is not one pitcrew knows")
    rm, sm = request["mechanic_id"], session["mechanic_id"]
    fix = _Fix()
    closed = request.get("closed_at") or session.get("ended_at") or now
    ended = session.get("ended_at") or request.get("closed_at") or now
    if rs == R.ACCEPTED:
        mechanic = rm or sm
        if mechanic is None:
            return _Unsure("the request is accepted but neither row names a mechanic")
        if rm is None:
            fix.request["mechanic_id"] = mechanic
        if sm != mechanic:
            fix.session["mechanic_id"] = mechanic
        if ss == S.PENDING:
            fix.session["status"] = S.LIVE if session.get("started_at") else S.WAITING
        elif ss == S.CANCELLED:
            # Cancelling a session cancels its request; the request missed that step.
            fix.request.update(status=R.CANCELLED, closed_at=closed)
    elif rs == R.PENDING:
        if rm is None and sm is None:
            if ss == S.WAITING:
                fix.session["status"] = S.PENDING
            elif ss == S.CANCELLED:
                fix.request.update(status=R.CANCELLED, closed_at=closed)
            elif ss != S.PENDING:
                return _Unsure(f"the session is {ss} but nobody accepted its request")
        elif rm is None:
            if ss in HELD:
                fix.request.update(
                    status=R.ACCEPTED,
                    mechanic_id=sm,
                    accepted_at=request.get("accepted_at")
                    or session.get("started_at")
                    or session["created_at"],
                )
            elif ss == S.PENDING:
                fix.session["mechanic_id"] = None
            else:
                return _Unsure(f"the session is {ss}, held by {_short(sm)}, its request pending")
        elif sm == rm and ss in HELD:
            fix.request.update(
                status=R.ACCEPTED,
                accepted_at=request.get("accepted_at")
                or session.get("started_at")
                or session["created_at"],
            )
        else:
            return _Unsure(f"the request is pending yet names mechanic {_short(rm)}")
    elif rs == R.CANCELLED:
        mechanic = rm or sm
        if rm is None and mechanic is not None:
            fix.request["mechanic_id"] = mechanic
        if sm != mechanic:
            fix.session["mechanic_id"] = mechanic
        if ss in (S.PENDING, S.WAITING):
            fix.session.update(status=S.CANCELLED, ended_at=ended)
        elif ss != S.CANCELLED:
            return _Unsure(f"the request is cancelled but its session is {ss}")
    else:  # expired: nobody accepted it in time
        if rm is None and sm is None:
            if ss in (S.PENDING, S.WAITING):
                fix.session.update(status=S.CANCELLED, ended_at=ended)
            elif ss != S.CANCELLED:
                return _Unsure(f"the request expired but its session is {ss}")
        elif ss == S.CANCELLED and (rm is None or sm is None or rm == sm):
            # A mechanic held it before it was cancelled: it was accepted, not expired.
            mechanic = rm or sm
            fix.request.update(status=R.CANCELLED, mechanic_id=mechanic, closed_at=closed)
            if sm != mechanic:
                fix.session["mechanic_id"] = mechanic
        else:
            return _Unsure("the request expired yet a mechanic is named on it or its session")
    return fix


# --- finding the problems ---------------------------------------------------------------


def _request_words(row: dict[str, Any]) -> str:
    by = f" by {_short(row['mechanic_id'])}" if row["mechanic_id"] else ""
    return f"request {row['status']}{by}"


def _session_words(row: dict[str, Any]) -> str:
    held = f"held by {_short(row['mechanic_id'])}" if row["mechanic_id"] else "no mechanic"
    return f"session {row['status']}, {held}"


def _change_words(change: Change) -> str:
    what = "request" if change.table == "session_requests" else "session"
    parts = []
    for column, value in change.after.items():
        if column == "parent_session_id":
            parts.append(f"link to session {_short(value)}")
        elif column in ("mechanic_id", "status"):
            parts.append(f"{column} {_short(change.before.get(column))} → {_short(value)}")
        else:
            parts.append(f"{column} set")
    return f"{what}: {', '.join(parts)}"


def _load(
    connection: Connection, shape: Shape, table: str, ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, dict[str, Any]]:
    source = REQUESTS if table == "session_requests" else SESSIONS
    columns = [source.c[name] for name in shape.readable(table)]
    found: dict[uuid.UUID, dict[str, Any]] = {}
    for chunk in _chunks(sorted(set(ids))):
        for row in connection.execute(select(*columns).where(source.c.id.in_(chunk))):
            values = dict(row._mapping)
            found[values["id"]] = values
    return found


def _candidates(
    connection: Connection, requests: dict[uuid.UUID, dict[str, Any]]
) -> dict[uuid.UUID, list[uuid.UUID]]:
    """For each request without a session, the sessions it could be linked to."""
    r, s, other = REQUESTS, SESSIONS, REQUESTS.alias("other")
    fits = and_(
        s.c.customer_user_id == r.c.customer_id,
        s.c.type == r.c.session_type,
        or_(s.c.mechanic_id.is_(None), s.c.mechanic_id == r.c.mechanic_id),
    )
    linked_elsewhere = exists().where(other.c.parent_session_id == s.c.id, other.c.id != r.c.id)
    found: dict[uuid.UUID, list[uuid.UUID]] = {rid: [] for rid in requests}
    for chunk in _chunks(sorted(requests)):
        stmt = (
            select(r.c.id, s.c.id.label("session_id"), r.c.created_at, s.c.created_at.label("at"))
            .select_from(r.join(s, fits))
            .where(r.c.id.in_(chunk), ~linked_elsewhere)
            .order_by(s.c.created_at)
        )
        for rid, sid, requested, created in connection.execute(stmt):
            if requested and created and abs(created - requested) <= LINK_WINDOW:
                found[rid].append(sid)
    return found


def diagnose(connection: Connection, *, now: datetime | None = None) -> Report:
    """Every problem of the database and its repair, read inside the caller's transaction."""
    now = now or utcnow()
    shape = Shape.read(connection)
    found = invariants.violations(connection)
    numbers = {inv.name: inv.number for inv in invariants.INVARIANTS}
    problems: list[Problem] = []

    # Requests without a session (1): missing, or sharing their session with another.
    unlinked: set[uuid.UUID] = set()
    shared: dict[uuid.UUID, set[uuid.UUID]] = defaultdict(set)
    for rid_s, _ in connection.execute(text(invariants.UNLINKED_SQL)):
        unlinked.add(_uuid(rid_s))
    for rid_s, sid_s in connection.execute(text(invariants.SHARED_SQL)):
        shared[_uuid(sid_s)].add(_uuid(rid_s))

    # Sessions reported without their request (5, 7): find the request that points at them.
    lonely = {
        sid
        for name in ("held_without_mechanic", "invisible_to_mechanic")
        for rid_s, sid_s in found[name]
        if (sid := _as_uuid(sid_s)) is not None and rid_s is None
    }
    request_of: dict[uuid.UUID, uuid.UUID] = {}
    for chunk in _chunks(sorted(lonely)):
        stmt = select(REQUESTS.c.id, REQUESTS.c.parent_session_id).where(
            REQUESTS.c.parent_session_id.in_(chunk)
        )
        for rid, sid in connection.execute(stmt):
            if sid in request_of and request_of[sid] != rid:
                shared[sid].update({rid, request_of[sid]})
            request_of[sid] = rid

    requests = _load(connection, shape, "session_requests", unlinked)
    candidates = _candidates(connection, requests)
    wanted_by: dict[uuid.UUID, list[uuid.UUID]] = defaultdict(list)
    for rid, sids in candidates.items():
        if len(sids) == 1:
            wanted_by[sids[0]].append(rid)
    links = {
        rid: sids[0]
        for rid, sids in candidates.items()
        if len(sids) == 1 and len(wanted_by[sids[0]]) == 1
    }
    for rid, sid in links.items():
        request_of[sid] = rid

    # Every pair that breaks something, keyed by request (or by session, when it has none).
    pair_invariants: dict[uuid.UUID, set[int]] = defaultdict(set)
    pair_session: dict[uuid.UUID, uuid.UUID | None] = {}
    session_only: dict[uuid.UUID, set[int]] = defaultdict(set)
    for name, rows in found.items():
        if name == "request_without_session":
            continue
        for rid_s, sid_s in rows:
            rid, sid = _as_uuid(rid_s), _as_uuid(sid_s)
            assert sid is not None
            if sid in shared:
                continue
            rid = rid or request_of.get(sid)
            if rid is None:
                session_only[sid].add(numbers[name])
            else:
                pair_invariants[rid].add(numbers[name])
                pair_session[rid] = sid
    for rid in unlinked:
        pair_invariants[rid].add(1)
        pair_session[rid] = links.get(rid)

    requests.update(
        _load(connection, shape, "session_requests", set(pair_invariants) - set(requests))
    )
    wanted_sessions = {sid for sid in pair_session.values() if sid is not None}
    wanted_sessions |= set(session_only)
    for rid, row in requests.items():
        if rid not in unlinked and row["parent_session_id"] is not None:
            wanted_sessions.add(row["parent_session_id"])
    sessions = _load(connection, shape, "sessions", wanted_sessions)

    for rid in sorted(pair_invariants, key=str):
        request = requests[rid]
        sid = pair_session.get(rid) if rid in unlinked else request["parent_session_id"]
        problem = _pair_problem(
            shape,
            request,
            sessions.get(sid) if sid is not None else None,
            tuple(sorted(pair_invariants[rid])),
            candidates.get(rid) if rid in unlinked else None,
            now,
        )
        problems.append(problem)
    for sid in sorted(session_only, key=str):
        session = sessions[sid]
        numbers_broken = tuple(sorted(session_only[sid]))
        problems.append(
            Problem(
                check=_names(numbers_broken),
                invariants=numbers_broken,
                request_id=None,
                session_id=sid,
                state=f"{_session_words(session)}; no request points at it",
                repair="needs a person: no request can be found for this session",
            )
        )
    for sid, rids in sorted(shared.items(), key=lambda item: str(item[0])):
        problems.append(
            Problem(
                check="request_without_session",
                invariants=(1,),
                request_id=None,
                session_id=sid,
                state=f"{len(rids)} requests share this session: "
                + ", ".join(sorted(str(r) for r in rids)),
                repair="needs a person: only one of them can keep the session",
                rows=tuple(sorted(rids, key=str)),
            )
        )
    problems.extend(_data_problems(connection, shape))
    return Report(
        shape=shape,
        problems=problems,
        violations={name: len(rows) for name, rows in found.items()},
    )


def _names(numbers: Iterable[int]) -> str:
    by_number = {inv.number: inv.name for inv in invariants.INVARIANTS}
    return ", ".join(by_number[n] for n in numbers)


def _pair_problem(
    shape: Shape,
    request: dict[str, Any],
    session: dict[str, Any] | None,
    broken: tuple[int, ...],
    candidates: list[uuid.UUID] | None,
    now: datetime,
) -> Problem:
    rid = request["id"]
    unlinked = candidates is not None
    state = _request_words(request)
    if unlinked:
        parent = request["parent_session_id"]
        state += (
            "; it has no session (parent_session_id is null)"
            if parent is None
            else f"; its session {parent} does not exist"
        )
    if session is not None:
        state += f"; {_session_words(session)}"
    base = Problem(
        check=_names(broken),
        invariants=broken,
        request_id=rid,
        session_id=session["id"] if session is not None else request["parent_session_id"],
        state=state,
        repair="",
        people=tuple(p for p in (request["customer_id"], request["mechanic_id"]) if p is not None),
    )
    if unlinked and session is None:
        assert candidates is not None
        base.candidates = tuple(candidates)
        minutes = int(LINK_WINDOW.total_seconds() // 60)
        if not candidates:
            base.repair = (
                "needs a person: no unlinked session of this customer and type was created"
                f" within {minutes} minutes of the request"
            )
        elif len(candidates) > 1:
            listed = ", ".join(str(c) for c in candidates)
            base.repair = f"needs a person: {len(candidates)} sessions could be it: {listed}"
        else:
            base.repair = (
                f"needs a person: session {candidates[0]} fits, but it fits another"
                " request without a session too"
            )
        return base
    assert session is not None
    linked = dict(request)
    if unlinked:
        linked["parent_session_id"] = session["id"]
    outcome = agree(linked, session, now)
    if isinstance(outcome, _Fix):
        after_request = {**linked, **outcome.request}
        after_session = {**session, **outcome.session}
        if breaks(after_request, after_session):
            outcome = _Unsure("no single change makes this request and session agree")
    if isinstance(outcome, _Unsure):
        base.repair = f"needs a person: {outcome.reason}"
        if unlinked:
            base.repair += f" (session {session['id']} is the one to link it to)"
        return base
    request_after = dict(outcome.request)
    if unlinked:
        request_after = {"parent_session_id": session["id"], **request_after}
    changes = []
    for table, row, after in (
        ("session_requests", request, request_after),
        ("sessions", session, outcome.session),
    ):
        after = {
            k: (v.value if isinstance(v, RequestStatus | SessionStatus) else v)
            for k, v in after.items()
            if k in shape.columns[table] and row.get(k) != v
        }
        if after:
            before = {k: row.get(k) for k in (*GUARDS[table], *after)}
            changes.append(Change(table, row["id"], before, after))
    base.changes = tuple(changes)
    base.people = tuple(
        dict.fromkeys(
            [*base.people, *(c.after["mechanic_id"] for c in changes if c.after.get("mechanic_id"))]
        )
    )
    base.repair = "; ".join(_change_words(c) for c in changes) or "nothing to change"
    return base


def _data_problems(connection: Connection, shape: Shape) -> list[Problem]:
    problems = []
    for check in invariants.DATA_CHECKS:
        if not all(shape.has(c) for c in check.needs):
            continue
        ids = [_as_uuid(r[0]) for r in connection.execute(text(check.sql))]
        if not ids:
            continue
        rows = tuple(sorted({i for i in ids if i is not None}, key=str))
        nulls = " (some with no id)" if None in ids else ""
        problems.append(
            Problem(
                check=check.name,
                invariants=(),
                request_id=None,
                session_id=None,
                state=f"{len(ids)} row(s) of {check.table} break the rule: {check.rule}{nulls}",
                repair="needs a person: correct these rows (ids listed) by hand",
                rows=rows,
            )
        )
    return problems


# --- the two entry points ---------------------------------------------------------------


def check(db: Database) -> Report:
    """The dry run: read-only (on PostgreSQL the transaction is declared READ ONLY)."""
    with db.engine.connect() as connection, connection.begin():
        if db.is_postgres:
            connection.execute(text("SET TRANSACTION READ ONLY"))
        return diagnose(connection)


def apply(db: Database) -> Report:
    """Repair everything certain, in one transaction, with an audit row per repair.

    Writers are held off for the length of the repair (on PostgreSQL by an EXCLUSIVE table
    lock, on SQLite by the write lock every transaction takes), and each update is guarded by
    the values it was planned from, so a repair never lands on a row that changed meanwhile.
    """

    def work(s: DbSession) -> Report:
        connection = s.connection()
        if db.is_postgres:
            connection.execute(text("LOCK TABLE session_requests, sessions IN EXCLUSIVE MODE"))
        report = diagnose(connection)
        _write_all(connection, [c for p in report.repairable for c in p.changes])
        _record_all(s, connection, report.shape, report.repairable)
        report.applied = True
        return report

    return db.run(work)


class RepairRaced(Exception):
    """A row changed between planning a repair and writing it; nothing was written."""


def _write_all(connection: Connection, changes: list[Change]) -> None:
    """Write the changes, grouped into one guarded UPDATE per shape, each run for many rows."""
    groups: dict[tuple[Any, ...], list[Change]] = defaultdict(list)
    for change in changes:
        guards = tuple(
            (column, change.before[column] is None)
            for column in GUARDS[change.table]
            if column in change.before
        )
        groups[(change.table, tuple(change.after), guards)].append(change)
    for (name, columns, guards), group in groups.items():
        table = REQUESTS if name == "session_requests" else SESSIONS
        where = [table.c.id == bindparam("_id")]
        for column, was_null in guards:
            where.append(
                table.c[column].is_(None)
                if was_null
                else table.c[column] == bindparam(f"_was_{column}")
            )
        stmt = update(table).where(*where).values({c: bindparam(f"_new_{c}") for c in columns})
        rows = [
            {
                "_id": change.id,
                **{f"_was_{c}": change.before[c] for c, was_null in guards if not was_null},
                **{f"_new_{c}": change.after[c] for c in columns},
            }
            for change in group
        ]
        if connection.execute(stmt, rows).rowcount != len(rows):
            raise RepairRaced(f"{name} rows changed while they were being repaired; run again")


def _record_all(
    s: DbSession, connection: Connection, shape: Shape, problems: list[Problem]
) -> None:
    """One audit row per repair: in events on pitcrew, else in pitcrew_repairs."""
    if not problems:
        return
    rows = []
    for problem in problems:
        audience = Audience(users=problem.people)
        payload: dict[str, Any] = {
            "check": problem.check,
            "invariants": list(problem.invariants),
            "problem": problem.state,
            "repair": problem.repair,
            "changes": [c.as_json() for c in problem.changes],
        }
        if shape.has_events:
            events.record(
                s,
                Kind.REPAIR,
                actor_id=None,
                audience=audience,
                session_id=problem.session_id,
                request_id=problem.request_id,
                payload=payload,
            )
            continue
        rows.append(
            {
                "at": utcnow(),
                "actor_id": None,
                "kind": Kind.REPAIR.value,
                "session_id": problem.session_id,
                "request_id": problem.request_id,
                "payload": {**payload, "audience": audience.as_payload()},
            }
        )
    if rows:
        REPAIRS.create(connection, checkfirst=True)
        connection.execute(insert(REPAIRS), rows)


# --- output -----------------------------------------------------------------------------


def as_json(report: Report, after: Report | None = None) -> str:
    """The report as JSON; after a repair, ``after`` summarises what is left."""
    out = report.as_json()
    if after is not None:
        out["after"] = after.as_json()["summary"]
    return json.dumps(out, indent=2)


def summary(report: Report) -> str:
    if report.clean:
        return "No problems: every invariant holds."
    broken = ", ".join(f"{n} {name}" for name, n in report.violations.items() if n)
    people = len(report.for_a_person)
    if report.applied:
        line = f"Repaired {len(report.repairable)} problem(s); {people} need(s) a person."
        return f"{line}{f' Violations found: {broken}.' if broken else ''}"
    line = f"{len(report.problems)} problem(s): {len(report.repairable)} repairable"
    if report.repairable:
        line += " (pitcrew doctor --apply)"
    line += f", {people} need(s) a person."
    return f"{line}{f' Violations: {broken}.' if broken else ''}"


def render(report: Report, *, width: int | None = None) -> str:
    """A plain table of every problem, the invariants involved, and a summary line."""
    width = width or max(100, shutil.get_terminal_size((140, 24)).columns)
    lines = [f"Database: {report.database}"]
    if report.problems:
        rows = [("#", "breaks", "rows", "problem", "repair")]
        for number, p in enumerate(report.problems, 1):
            ids = []
            if p.request_id:
                ids.append(f"request {p.request_id}")
            if p.session_id:
                ids.append(f"session {p.session_id}")
            shown = p.rows[:5]
            ids.extend(str(r) for r in shown)
            if len(p.rows) > len(shown):
                ids.append(f"… {len(p.rows) - len(shown)} more (--json)")
            breaks_text = ",".join(str(n) for n in p.invariants) or "data"
            rows.append((str(number), breaks_text, "\n".join(ids), p.state, p.repair))
        lines.append(_table(rows, width))
        used = sorted({n for p in report.problems for n in p.invariants})
        for inv in invariants.INVARIANTS:
            if inv.number in used:
                lines.append(f"  {inv.number}: {inv.rule}")
    lines.append(summary(report))
    return "\n".join(lines)


def _table(rows: Sequence[Sequence[str]], width: int) -> str:
    fixed = [
        max(len(line) for row in rows for line in row[i].splitlines() or [""]) for i in range(3)
    ]
    rest = max(40, width - sum(fixed) - 2 * 4)
    widths = [*fixed, rest * 9 // 20, rest - rest * 9 // 20]
    out = []
    for index, row in enumerate(rows):
        cells = [
            [piece for line in cell.splitlines() for piece in textwrap.wrap(line, w) or [""]]
            for cell, w in zip(row, widths, strict=True)
        ]
        height = max(len(c) for c in cells)
        for i in range(height):
            parts = [
                (c[i] if i < len(c) else "").ljust(w) for c, w in zip(cells, widths, strict=True)
            ]
            out.append("  ".join(parts).rstrip())
        if index == 0:
            out.append("  ".join("-" * w for w in widths))
    return "\n".join(out)
