"""Databases for the tests: the PostgreSQL server, brand-new databases, and emptying one.

PostgreSQL is required, not optional: a run that cannot reach it fails rather than skipping
half the suite. ``PITCREW_TEST_PG`` names the server (default: local, trust auth).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

from sqlalchemy import Engine, String, Uuid, column, create_engine, table, text

from pitcrew import invariants
from pitcrew import migrate as schema
from pitcrew.db import Database
from pitcrew.models import Base, UTCDateTime

PG_SERVER = os.environ.get("PITCREW_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432")

Dialect = Literal["sqlite", "postgres"]

# Children before parents, so that deleting in this order never trips a foreign key.
TABLES: tuple[str, ...] = tuple(t.name for t in reversed(Base.metadata.sorted_tables))


def admin_engine() -> Engine:
    """A connection to the server itself, for creating and dropping databases."""
    # pre-ping: the fault tests restart PostgreSQL under this engine's pooled connection
    return create_engine(f"{PG_SERVER}/postgres", isolation_level="AUTOCOMMIT", pool_pre_ping=True)


def _drop(admin: Engine, name: str) -> None:
    with admin.connect() as c:
        c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@contextmanager
def empty_database(dialect: Dialect, name: str, folder: Path | None = None) -> Iterator[str]:
    """The URL of a database with nothing in it, removed afterwards.

    On PostgreSQL ``name`` is the database's (a leftover of a killed run is dropped first);
    on SQLite it names a file in ``folder``.
    """
    if dialect == "sqlite":
        if folder is None:
            raise ValueError("a SQLite database needs a folder to live in")
        path = folder / f"{name}.db"
        path.unlink(missing_ok=True)
        try:
            yield f"sqlite:///{path}"
        finally:
            path.unlink(missing_ok=True)
        return
    admin = admin_engine()
    try:
        _drop(admin, name)
        with admin.connect() as c:
            c.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            yield f"{PG_SERVER}/{name}"
        finally:
            _drop(admin, name)
    finally:
        admin.dispose()


@contextmanager
def fresh_database(dialect: Dialect, name: str, folder: Path | None = None) -> Iterator[str]:
    """The URL of a new database migrated to the latest schema, as ``pitcrew migrate`` leaves it."""
    with empty_database(dialect, name, folder) as url:
        engine = create_engine(url)
        try:
            schema.upgrade(engine)
        finally:
            engine.dispose()
        yield url


def empty_tables(db: Database) -> None:
    """Delete every row, so the next test on a shared PostgreSQL database starts clean."""
    with db.engine.begin() as c:
        c.execute(text(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE"))


def assert_invariants(db: Database) -> None:
    """Every invariant holds: the rows of the database agree with each other."""
    with db.engine.connect() as c:
        found = {k: v for k, v in invariants.violations(c).items() if v}
    assert found == {}, f"invariants broken: {found}"


# The users table as the first schema made it: a test that writes rows at an old revision
# writes these columns, not the model's later ones.
USERS_BEFORE = table(
    "users",
    column("id", Uuid()),
    column("email", String()),
    column("name", String()),
    column("role", String()),
    column("created_at", UTCDateTime()),
)
