"""What the database looks like: pitcrew's own, or one of the system pitcrew replaces.

The doctor was written for the second kind, where orphaned sessions were born: its three
tables have the names and columns pitcrew kept, but no constraints and no ``users``. So the
doctor reads only the columns listed here, and reads statuses as text, because such a
database may hold words pitcrew's enums do not know and those must reach the report.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import ColumnElement, Connection, String, Table, inspect, select, type_coerce

from pitcrew.models import Session, SessionRequest

Row = dict[str, Any]

# How many ids one ``IN (...)`` carries: well below every driver's limit on parameters.
CHUNK = 500

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


class Unrecognized(Exception):
    """The database is neither pitcrew's nor one of the system it replaces."""


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
        """The shape, or ``Unrecognized`` naming what is missing, before anything is read."""
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


def table_named(name: str) -> Table:
    return REQUESTS if name == "session_requests" else SESSIONS


def as_text(table: Table, name: str) -> ColumnElement[Any]:
    """A column as the doctor reads and compares it: a status as plain text (see above)."""
    column = table.c[name]
    return type_coerce(column, String()) if name == "status" else column


def chunks(items: Sequence[uuid.UUID]) -> Iterator[Sequence[uuid.UUID]]:
    for start in range(0, len(items), CHUNK):
        yield items[start : start + CHUNK]


def load(
    connection: Connection, shape: Shape, table: str, ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, Row]:
    """The rows with these ids, by id, with every column the doctor reads that is present."""
    source = table_named(table)
    columns = [as_text(source, name).label(name) for name in shape.readable(table)]
    found: dict[uuid.UUID, Row] = {}
    for chunk in chunks(sorted(set(ids))):
        for row in connection.execute(select(*columns).where(source.c.id.in_(chunk))):
            values = dict(row._mapping)
            found[values["id"]] = values
    return found
