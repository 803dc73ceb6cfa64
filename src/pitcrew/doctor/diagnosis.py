"""Finding every problem of a database, and planning the repair of each that is certain.

The invariants' queries (``pitcrew.invariants``) say which rows break what; diagnosis turns
their rows into one problem per request (or per session no request points at), because a
person repairs a pair, not a query result. A request that lost its session is linked back
only when exactly one session fits (same customer and type, created within ``LINK_WINDOW``,
linked to no other request, and held by nobody or by the request's mechanic); otherwise the
candidates are shown to a person. The invariants themselves are described in
docs/ARCHITECTURE.md, section "Invariants".
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection, and_, exists, or_, select, text

from pitcrew import invariants
from pitcrew.doctor.problems import Change, Problem, Report, as_uuid, uuid_of
from pitcrew.doctor.rules import Fix, Unsure, certain_fix
from pitcrew.doctor.shape import GUARDS, REQUESTS, SESSIONS, Row, Shape, chunks, load
from pitcrew.doctor.words import change_words, names, request_words, session_words
from pitcrew.models import utcnow

# How far apart a request and the session it lost may have been created.
LINK_WINDOW = timedelta(minutes=10)

_NUMBER_OF = {inv.name: inv.number for inv in invariants.INVARIANTS}
# The invariants whose query may report a session with no request beside it.
_SESSION_ONLY_CHECKS = ("held_without_mechanic", "invisible_to_mechanic")


@dataclass
class _Survey:
    """What diagnosis learns, step by step: each step reads what the earlier ones found."""

    connection: Connection
    shape: Shape
    found: dict[str, list[tuple[str | None, str | None]]]
    unlinked: set[uuid.UUID] = field(default_factory=set)
    shared: defaultdict[uuid.UUID, set[uuid.UUID]] = field(default_factory=lambda: defaultdict(set))
    request_of: dict[uuid.UUID, uuid.UUID] = field(default_factory=dict)
    requests: dict[uuid.UUID, Row] = field(default_factory=dict)
    candidates: dict[uuid.UUID, list[uuid.UUID]] = field(default_factory=dict)
    links: dict[uuid.UUID, uuid.UUID] = field(default_factory=dict)
    pair_invariants: defaultdict[uuid.UUID, set[int]] = field(
        default_factory=lambda: defaultdict(set)
    )
    pair_session: dict[uuid.UUID, uuid.UUID | None] = field(default_factory=dict)
    session_only: defaultdict[uuid.UUID, set[int]] = field(default_factory=lambda: defaultdict(set))
    sessions: dict[uuid.UUID, Row] = field(default_factory=dict)


def diagnose(connection: Connection, *, now: datetime | None = None) -> Report:
    """Every problem of the database and its repair, read inside the caller's transaction."""
    shape = Shape.read(connection)
    survey = _Survey(connection, shape, invariants.violations(connection))
    _find_requests_without_session(survey)
    _find_requests_of_lonely_sessions(survey)
    _find_links(survey)
    _group_by_pair(survey)
    _load_pairs(survey)
    problems = [
        *_pair_problems(survey, now or utcnow()),
        *_session_problems(survey),
        *_shared_problems(survey),
        *_data_problems(connection, shape),
        *_report_problems(connection, shape),
    ]
    return Report(
        shape=shape,
        problems=problems,
        violations={name: len(rows) for name, rows in survey.found.items()},
    )


# --- the steps, in order ----------------------------------------------------------------


def _find_requests_without_session(survey: _Survey) -> None:
    """Invariant 1 in its two parts: a session missing, or shared with another request."""
    for request_id, _ in survey.connection.execute(text(invariants.UNLINKED_SQL)):
        survey.unlinked.add(uuid_of(request_id))
    for request_id, session_id in survey.connection.execute(text(invariants.SHARED_SQL)):
        survey.shared[uuid_of(session_id)].add(uuid_of(request_id))


def _find_requests_of_lonely_sessions(survey: _Survey) -> None:
    """For sessions reported without their request (5, 7), the request pointing at them."""
    lonely = {
        session_id
        for name in _SESSION_ONLY_CHECKS
        for request_id, session_text in survey.found[name]
        if (session_id := as_uuid(session_text)) is not None and request_id is None
    }
    parent = REQUESTS.c.parent_session_id
    for chunk in chunks(sorted(lonely)):
        stmt = select(REQUESTS.c.id, parent).where(parent.in_(chunk))
        for request_id, session_id in survey.connection.execute(stmt):
            known = survey.request_of.get(session_id)
            if known is not None and known != request_id:
                survey.shared[session_id].update({request_id, known})
            survey.request_of[session_id] = request_id


def _find_links(survey: _Survey) -> None:
    """The one session each request without one can be linked to, where there is one."""
    survey.requests = load(survey.connection, survey.shape, "session_requests", survey.unlinked)
    survey.candidates = _candidates(survey.connection, survey.requests)
    wanted_by: defaultdict[uuid.UUID, list[uuid.UUID]] = defaultdict(list)
    for request_id, session_ids in survey.candidates.items():
        if len(session_ids) == 1:
            wanted_by[session_ids[0]].append(request_id)
    survey.links = {
        request_id: session_ids[0]
        for request_id, session_ids in survey.candidates.items()
        if len(session_ids) == 1 and len(wanted_by[session_ids[0]]) == 1
    }
    for request_id, session_id in survey.links.items():
        survey.request_of[session_id] = request_id


def _group_by_pair(survey: _Survey) -> None:
    """Every pair that breaks something, keyed by request (or by session, when it has none)."""
    for name, rows in survey.found.items():
        if name == "request_without_session":
            continue
        for request_text, session_text in rows:
            session_id = uuid_of(session_text)
            if session_id in survey.shared:
                continue
            request_id = as_uuid(request_text) or survey.request_of.get(session_id)
            if request_id is None:
                survey.session_only[session_id].add(_NUMBER_OF[name])
                continue
            survey.pair_invariants[request_id].add(_NUMBER_OF[name])
            survey.pair_session[request_id] = session_id
    for request_id in survey.unlinked:
        survey.pair_invariants[request_id].add(1)
        survey.pair_session[request_id] = survey.links.get(request_id)


def _load_pairs(survey: _Survey) -> None:
    """Both rows of every pair found, read once each."""
    missing = set(survey.pair_invariants) - set(survey.requests)
    survey.requests.update(load(survey.connection, survey.shape, "session_requests", missing))
    wanted = {sid for sid in survey.pair_session.values() if sid is not None}
    wanted |= set(survey.session_only)
    for request_id, row in survey.requests.items():
        if request_id not in survey.unlinked and row["parent_session_id"] is not None:
            wanted.add(row["parent_session_id"])
    survey.sessions = load(survey.connection, survey.shape, "sessions", wanted)


def _candidates(
    connection: Connection, requests: dict[uuid.UUID, Row]
) -> dict[uuid.UUID, list[uuid.UUID]]:
    """For each request without a session, the sessions it could be linked to."""
    request, session, other = REQUESTS, SESSIONS, REQUESTS.alias("other")
    fits = and_(
        session.c.customer_user_id == request.c.customer_id,
        session.c.type == request.c.session_type,
        or_(session.c.mechanic_id.is_(None), session.c.mechanic_id == request.c.mechanic_id),
    )
    linked_elsewhere = exists().where(
        other.c.parent_session_id == session.c.id, other.c.id != request.c.id
    )
    found: dict[uuid.UUID, list[uuid.UUID]] = {request_id: [] for request_id in requests}
    for chunk in chunks(sorted(requests)):
        stmt = (
            select(
                request.c.id,
                session.c.id.label("session_id"),
                request.c.created_at,
                session.c.created_at.label("at"),
            )
            .select_from(request.join(session, fits))
            .where(request.c.id.in_(chunk), ~linked_elsewhere)
            .order_by(session.c.created_at)
        )
        for request_id, session_id, requested, created in connection.execute(stmt):
            if requested and created and abs(created - requested) <= LINK_WINDOW:
                found[request_id].append(session_id)
    return found


# --- the problems -----------------------------------------------------------------------


def _pair_problems(survey: _Survey, now: datetime) -> list[Problem]:
    problems = []
    for request_id in sorted(survey.pair_invariants, key=str):
        request = survey.requests[request_id]
        unlinked = request_id in survey.unlinked
        session_id = (
            survey.pair_session.get(request_id) if unlinked else request["parent_session_id"]
        )
        problem = _pair_problem(
            survey.shape,
            request,
            survey.sessions.get(session_id) if session_id is not None else None,
            tuple(sorted(survey.pair_invariants[request_id])),
            survey.candidates.get(request_id) if unlinked else None,
            now,
        )
        problems.append(problem)
    return problems


def _pair_problem(
    shape: Shape,
    request: Row,
    session: Row | None,
    broken: tuple[int, ...],
    candidates: list[uuid.UUID] | None,
    now: datetime,
) -> Problem:
    """One request's problem: a certain repair, or why a person must decide.

    ``candidates`` is given for a request that has no session (the sessions it could be
    linked to); ``session`` is then the one it will be linked to, if exactly one fits.
    """
    unlinked = candidates is not None
    problem = Problem(
        check=names(broken),
        invariants=broken,
        request_id=request["id"],
        session_id=session["id"] if session is not None else request["parent_session_id"],
        state=_pair_state(request, session, unlinked=unlinked),
        repair="",
        people=tuple(p for p in (request["customer_id"], request["mechanic_id"]) if p is not None),
    )
    if session is None:
        assert candidates is not None, "a linked request's session was read with it"
        problem.candidates = tuple(candidates)
        problem.repair = _no_single_link(candidates)
        return problem
    linked = {**request, "parent_session_id": session["id"]} if unlinked else dict(request)
    outcome = certain_fix(linked, session, now)
    if isinstance(outcome, Unsure):
        problem.repair = f"needs a person: {outcome.reason}"
        if unlinked:
            problem.repair += f" (session {session['id']} is the one to link it to)"
        return problem
    _plan(problem, shape, request, session, outcome, link=unlinked)
    return problem


def _pair_state(request: Row, session: Row | None, *, unlinked: bool) -> str:
    state = request_words(request)
    if unlinked:
        parent = request["parent_session_id"]
        state += (
            "; it has no session (parent_session_id is null)"
            if parent is None
            else f"; its session {parent} does not exist"
        )
    if session is not None:
        state += f"; {session_words(session)}"
    return state


def _no_single_link(candidates: list[uuid.UUID]) -> str:
    """Why a request without a session cannot be linked to one without a person."""
    if not candidates:
        minutes = int(LINK_WINDOW.total_seconds() // 60)
        return (
            "needs a person: no unlinked session of this customer and type was created"
            f" within {minutes} minutes of the request"
        )
    if len(candidates) > 1:
        listed = ", ".join(str(c) for c in candidates)
        return f"needs a person: {len(candidates)} sessions could be it: {listed}"
    return (
        f"needs a person: session {candidates[0]} fits, but it fits another"
        " request without a session too"
    )


def _plan(
    problem: Problem, shape: Shape, request: Row, session: Row, fix: Fix, *, link: bool
) -> None:
    """Turn a certain fix into guarded row changes (the link first, where there is one)."""
    request_after = {"parent_session_id": session["id"], **fix.request} if link else fix.request
    planned = (
        _change(shape, "session_requests", request, request_after),
        _change(shape, "sessions", session, fix.session),
    )
    changes = tuple(change for change in planned if change is not None)
    mechanics = [c.after["mechanic_id"] for c in changes if c.after.get("mechanic_id")]
    problem.changes = changes
    problem.people = tuple(dict.fromkeys([*problem.people, *mechanics]))
    problem.repair = "; ".join(change_words(c) for c in changes) or "nothing to change"


def _stored(value: Any) -> Any:
    """A value as the row holds it: a status as its text, on either kind of database."""
    return value.value if isinstance(value, StrEnum) else value


def _change(shape: Shape, table: str, row: Row, after: dict[str, Any]) -> Change | None:
    """The update that brings ``row`` to ``after``, guarded by what the row says now.

    Columns the database lacks are left out (a database of the replaced system may have no
    ``closed_at``); none when nothing would change.
    """
    written = {
        column: _stored(value)
        for column, value in after.items()
        if column in shape.columns[table] and row.get(column) != value
    }
    if not written:
        return None
    before = {column: row.get(column) for column in (*GUARDS[table], *written)}
    return Change(table, row["id"], before, written)


def _session_problems(survey: _Survey) -> list[Problem]:
    problems = []
    for session_id in sorted(survey.session_only, key=str):
        broken = tuple(sorted(survey.session_only[session_id]))
        session = survey.sessions[session_id]
        problem = Problem(
            check=names(broken),
            invariants=broken,
            request_id=None,
            session_id=session_id,
            state=f"{session_words(session)}; no request points at it",
            repair="needs a person: no request can be found for this session",
        )
        problems.append(problem)
    return problems


def _shared_problems(survey: _Survey) -> list[Problem]:
    problems = []
    for session_id, request_ids in sorted(survey.shared.items(), key=lambda item: str(item[0])):
        listed = ", ".join(sorted(str(r) for r in request_ids))
        problem = Problem(
            check="request_without_session",
            invariants=(1,),
            request_id=None,
            session_id=session_id,
            state=f"{len(request_ids)} requests share this session: {listed}",
            repair="needs a person: only one of them can keep the session",
            rows=tuple(sorted(request_ids, key=str)),
        )
        problems.append(problem)
    return problems


def _data_problems(connection: Connection, shape: Shape) -> list[Problem]:
    """The schema's other promises (known statuses, required values, unique ids)."""
    problems = []
    for check in invariants.DATA_CHECKS:
        if not all(shape.has(c) for c in check.needs):
            continue
        ids = [as_uuid(r[0]) for r in connection.execute(text(check.sql))]
        if not ids:
            continue
        rows = tuple(sorted({i for i in ids if i is not None}, key=str))
        nulls = " (some with no id)" if None in ids else ""
        problem = Problem(
            check=check.name,
            invariants=(),
            request_id=None,
            session_id=None,
            state=f"{len(ids)} row(s) of {check.table} break the rule: {check.rule}{nulls}",
            repair="needs a person: correct these rows (ids listed) by hand",
            rows=rows,
        )
        problems.append(problem)
    return problems


MISSING_REPORTS = (
    "SELECT s.id FROM sessions s LEFT JOIN session_reports r ON r.session_id = s.id"
    " WHERE s.status = 'completed' AND r.session_id IS NULL"
)


def _report_problems(connection: Connection, shape: Shape) -> list[Problem]:
    """Completed sessions without the report their completion writes: the driver has nothing
    to take away, and no later mechanic sees what was found."""
    if "session_reports" not in shape.tables:
        return []
    problems = []
    for (session_id,) in connection.execute(text(MISSING_REPORTS)):
        problem = Problem(
            check="report_missing",
            invariants=(),
            request_id=None,
            session_id=as_uuid(session_id),
            state="completed, but it has no report",
            repair="needs a person: ask its mechanic for the report, or write it by hand",
        )
        problems.append(problem)
    return problems
