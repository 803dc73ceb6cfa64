"""The invariants (docs/ARCHITECTURE.md, "Invariants") as SQL: each returns the rows breaking one.

Written against the table and column names alone (no constraints, no ``users``), so the same
queries check a pitcrew database and one of the system pitcrew replaces. ``doctor`` reports
and repairs what they find; ``/metrics`` exports their counts; the tests run them after
every test.

``DATA_CHECKS`` are the other promises pitcrew's schema makes (known statuses, required
values, unique ids). A pitcrew database keeps them by construction; a database of the
replaced system must keep them before ``pitcrew migrate`` can adopt it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import Connection, text

from pitcrew.models import HELD_STATUSES, RequestStatus, SessionStatus, SessionType

S = SessionStatus
R = RequestStatus


@dataclass(frozen=True)
class Invariant:
    number: int
    name: str
    rule: str
    sql: str  # selects request_id, session_id of every violation


def _differs(a: str, b: str) -> str:
    """Null-safe inequality that PostgreSQL and SQLite both understand."""
    return f"({a} <> {b} OR ({a} IS NULL) <> ({b} IS NULL))"


def _q(value: StrEnum) -> str:
    """A status as an SQL literal."""
    return repr(str(value))


def _one_of(column: str, values: Iterable[StrEnum]) -> str:
    return f"{column} IN ({', '.join(_q(v) for v in values)})"


PAIR = "FROM session_requests r JOIN sessions s ON s.id = r.parent_session_id"
# In the enum's order, so each query's text is stable from run to run.
HELD = tuple(status for status in SessionStatus if status in HELD_STATUSES)

# Invariant 1 in its two parts: requests whose session is missing (no link, or a link to
# nothing), and requests that share an existing session with another request.
UNLINKED_SQL = (
    "SELECT r.id AS request_id, r.parent_session_id AS session_id FROM session_requests r"
    " LEFT JOIN sessions s ON s.id = r.parent_session_id WHERE s.id IS NULL"
)
SHARED_SQL = (
    "SELECT r.id, r.parent_session_id FROM session_requests r JOIN sessions s"
    " ON s.id = r.parent_session_id WHERE r.parent_session_id IN (SELECT parent_session_id"
    " FROM session_requests GROUP BY parent_session_id HAVING COUNT(*) > 1)"
)

INVARIANTS: tuple[Invariant, ...] = (
    Invariant(
        1,
        "request_without_session",
        "Every request has exactly one session.",
        f"{UNLINKED_SQL} UNION ALL {SHARED_SQL}",
    ),
    Invariant(
        2,
        "mechanic_mismatch",
        "A request and its session name the same mechanic, or neither names one.",
        f"SELECT r.id, s.id {PAIR} WHERE {_differs('r.mechanic_id', 's.mechanic_id')}",
    ),
    Invariant(
        3,
        "pending_mismatch",
        "A request is pending exactly when its session is, and then neither has a mechanic.",
        f"SELECT r.id, s.id {PAIR} WHERE (r.status = {_q(R.PENDING)})"
        f" <> (s.status = {_q(S.PENDING)}) OR (r.status = {_q(R.PENDING)}"
        " AND (r.mechanic_id IS NOT NULL OR s.mechanic_id IS NOT NULL))",
    ),
    Invariant(
        4,
        "accepted_not_held",
        "An accepted request's session is waiting, live or completed.",
        f"SELECT r.id, s.id {PAIR} WHERE r.status = {_q(R.ACCEPTED)}"
        f" AND NOT {_one_of('s.status', HELD)}",
    ),
    Invariant(
        5,
        "held_without_mechanic",
        "A waiting, live or completed session has a mechanic.",
        "SELECT r.id, s.id FROM sessions s LEFT JOIN session_requests r"
        " ON r.parent_session_id = s.id"
        f" WHERE {_one_of('s.status', HELD)} AND s.mechanic_id IS NULL",
    ),
    Invariant(
        6,
        "closed_request_open_session",
        "A cancelled or expired request's session is cancelled.",
        f"SELECT r.id, s.id {PAIR} WHERE {_one_of('r.status', (R.CANCELLED, R.EXPIRED))}"
        f" AND s.status <> {_q(S.CANCELLED)}",
    ),
    # The tabs read mechanic_session_overview, whose rows are requests naming a mechanic:
    # Active and Completed by the session's status, History by the request's (accepted or
    # cancelled). A held session shows only through a request naming the same mechanic.
    Invariant(
        7,
        "invisible_to_mechanic",
        "Every session a mechanic holds shows in exactly one of their tabs.",
        "SELECT r.id, s.id FROM sessions s LEFT JOIN session_requests r"
        " ON r.parent_session_id = s.id AND r.mechanic_id = s.mechanic_id"
        " WHERE s.mechanic_id IS NOT NULL AND (r.id IS NULL"
        f" OR NOT {_one_of('s.status', (*HELD, S.CANCELLED))}"
        f" OR (s.status = {_q(S.CANCELLED)}"
        f" AND NOT {_one_of('r.status', (R.ACCEPTED, R.CANCELLED))}))",
    ),
)

BY_NAME = {inv.name: inv for inv in INVARIANTS}


def violations(connection: Connection) -> dict[str, list[tuple[str | None, str | None]]]:
    """Every invariant's offending (request_id, session_id) pairs, as strings."""
    found: dict[str, list[tuple[str | None, str | None]]] = {}
    for inv in INVARIANTS:
        rows = connection.execute(text(inv.sql)).all()
        found[inv.name] = [
            (str(r[0]) if r[0] is not None else None, str(r[1]) if r[1] is not None else None)
            for r in rows
        ]
    return found


def counts(connection: Connection) -> dict[str, int]:
    """Each invariant's number of violations, counted by the database (cheap to poll)."""
    return {
        inv.name: int(connection.execute(text(f"SELECT COUNT(*) FROM ({inv.sql}) v")).scalar_one())
        for inv in INVARIANTS
    }


@dataclass(frozen=True)
class DataCheck:
    name: str
    table: str
    rule: str
    sql: str  # selects the id of every offending row
    needs: tuple[str, ...] = ()  # columns it reads beyond the ones every database has


def _bad(column: str, values: type[RequestStatus] | type[SessionStatus] | type[SessionType]) -> str:
    return f"{column} IS NULL OR NOT {_one_of(column, values)}"


def _duplicates(table: str) -> str:
    return (
        f"SELECT id FROM {table} WHERE id IS NULL OR id IN"
        f" (SELECT id FROM {table} GROUP BY id HAVING COUNT(*) > 1)"
    )


DATA_CHECKS: tuple[DataCheck, ...] = (
    DataCheck(
        "request_status_unknown",
        "session_requests",
        "A request's status is pending, accepted, expired or cancelled.",
        f"SELECT id FROM session_requests WHERE {_bad('status', RequestStatus)}",
    ),
    DataCheck(
        "request_type_unknown",
        "session_requests",
        "A request's session_type is chat or video.",
        f"SELECT id FROM session_requests WHERE {_bad('session_type', SessionType)}",
    ),
    DataCheck(
        "request_without_customer",
        "session_requests",
        "A request has a customer_id and a created_at.",
        "SELECT id FROM session_requests WHERE customer_id IS NULL OR created_at IS NULL",
    ),
    DataCheck(
        "request_id_not_unique",
        "session_requests",
        "Every request has an id of its own.",
        _duplicates("session_requests"),
    ),
    DataCheck(
        "request_text_too_long",
        "session_requests",
        "A customer_name fits in 200 characters and a plan_code in 64.",
        "SELECT id FROM session_requests WHERE LENGTH(customer_name) > 200"
        " OR LENGTH(plan_code) > 64",
        needs=("session_requests.customer_name", "session_requests.plan_code"),
    ),
    DataCheck(
        "session_status_unknown",
        "sessions",
        "A session's status is pending, waiting, live, completed or cancelled.",
        f"SELECT id FROM sessions WHERE {_bad('status', SessionStatus)}",
    ),
    DataCheck(
        "session_type_unknown",
        "sessions",
        "A session's type is chat or video.",
        f"SELECT id FROM sessions WHERE {_bad('type', SessionType)}",
    ),
    DataCheck(
        "session_without_customer",
        "sessions",
        "A session has a customer_user_id and a created_at.",
        "SELECT id FROM sessions WHERE customer_user_id IS NULL OR created_at IS NULL",
    ),
    DataCheck(
        "session_id_not_unique",
        "sessions",
        "Every session has an id of its own.",
        _duplicates("sessions"),
    ),
    DataCheck(
        "session_text_too_long",
        "sessions",
        "A plan_code fits in 64 characters.",
        "SELECT id FROM sessions WHERE LENGTH(plan_code) > 64",
        needs=("sessions.plan_code",),
    ),
    DataCheck(
        "rating_out_of_range",
        "sessions",
        "A rating is 1 to 5.",
        "SELECT id FROM sessions WHERE rating IS NOT NULL AND (rating < 1 OR rating > 5)",
        needs=("sessions.rating",),
    ),
    DataCheck(
        "intake_unknown",
        "sessions",
        "A session's intake_id names an intake.",
        "SELECT s.id FROM sessions s LEFT JOIN intakes i ON i.id = s.intake_id"
        " WHERE s.intake_id IS NOT NULL AND i.id IS NULL",
        needs=("sessions.intake_id", "intakes.id"),
    ),
    DataCheck(
        "intake_without_customer",
        "intakes",
        "An intake has a customer_id and a created_at.",
        "SELECT id FROM intakes WHERE customer_id IS NULL OR created_at IS NULL",
        needs=("intakes.customer_id", "intakes.created_at"),
    ),
    DataCheck(
        "intake_id_not_unique",
        "intakes",
        "Every intake has an id of its own.",
        _duplicates("intakes"),
        needs=("intakes.id",),
    ),
)
