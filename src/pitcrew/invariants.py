"""DESIGN.md's invariants as SQL: each query returns the rows that break one.

Written against the table and column names alone (no constraints, no ``users``), so the same
queries check a pitcrew database and one of the system pitcrew replaces. ``doctor`` reports
and repairs what they find; ``/metrics`` exports their counts; the tests run them after
every test.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, text


@dataclass(frozen=True)
class Invariant:
    number: int
    name: str
    rule: str
    sql: str  # selects request_id, session_id of every violation


def _differs(a: str, b: str) -> str:
    """Null-safe inequality that PostgreSQL and SQLite both understand."""
    return f"({a} <> {b} OR ({a} IS NULL) <> ({b} IS NULL))"


PAIR = "FROM session_requests r JOIN sessions s ON s.id = r.parent_session_id"

INVARIANTS: tuple[Invariant, ...] = (
    Invariant(
        1,
        "request_without_session",
        "Every request has exactly one session.",
        "SELECT r.id AS request_id, r.parent_session_id AS session_id FROM session_requests r"
        " LEFT JOIN sessions s ON s.id = r.parent_session_id WHERE s.id IS NULL"
        " UNION ALL SELECT r.id, r.parent_session_id FROM session_requests r WHERE"
        " r.parent_session_id IN (SELECT parent_session_id FROM session_requests"
        " GROUP BY parent_session_id HAVING COUNT(*) > 1)",
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
        f"SELECT r.id, s.id {PAIR} WHERE (r.status = 'pending') <> (s.status = 'pending')"
        " OR (r.status = 'pending' AND (r.mechanic_id IS NOT NULL OR s.mechanic_id IS NOT NULL))",
    ),
    Invariant(
        4,
        "accepted_not_held",
        "An accepted request's session is waiting, live or completed.",
        f"SELECT r.id, s.id {PAIR} WHERE r.status = 'accepted'"
        " AND s.status NOT IN ('waiting', 'live', 'completed')",
    ),
    Invariant(
        5,
        "held_without_mechanic",
        "A waiting, live or completed session has a mechanic.",
        "SELECT r.id, s.id FROM sessions s LEFT JOIN session_requests r"
        " ON r.parent_session_id = s.id"
        " WHERE s.status IN ('waiting', 'live', 'completed') AND s.mechanic_id IS NULL",
    ),
    Invariant(
        6,
        "closed_request_open_session",
        "A cancelled or expired request's session is cancelled.",
        f"SELECT r.id, s.id {PAIR} WHERE r.status IN ('cancelled', 'expired')"
        " AND s.status <> 'cancelled'",
    ),
    Invariant(
        7,
        "invisible_to_mechanic",
        "Every session a mechanic holds shows in exactly one of their tabs.",
        "SELECT r.id, s.id FROM sessions s LEFT JOIN session_requests r"
        " ON r.parent_session_id = s.id AND r.mechanic_id = s.mechanic_id"
        " WHERE s.mechanic_id IS NOT NULL AND (r.id IS NULL"
        " OR s.status NOT IN ('waiting', 'live', 'completed', 'cancelled'))",
    ),
)


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
    return {name: len(rows) for name, rows in violations(connection).items()}
