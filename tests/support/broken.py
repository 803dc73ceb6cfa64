"""States the product forbids, written on purpose: what the doctor's and the console's tests
repair or show. A test that needs a broken row writes it through :func:`unguarded`."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection, text

from pitcrew.db import Database


@contextmanager
def unguarded(db: Database, *, drop_check: str | None = None) -> Iterator[Connection]:
    """A transaction that bypasses what keeps the product's states consistent.

    PostgreSQL: ``session_replication_role = replica`` skips foreign keys and the agreement
    trigger; a CHECK named by ``drop_check`` is dropped and put back NOT VALID (the test
    validates it again once the row is repaired). SQLite: foreign keys and CHECKs are off.
    """
    if db.is_postgres:
        with db.engine.begin() as c:
            c.execute(text("SET LOCAL session_replication_role = replica"))
            definition = None
            if drop_check:
                definition = c.execute(
                    text("SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = :n"),
                    {"n": drop_check},
                ).scalar_one()
                c.execute(text(f"ALTER TABLE sessions DROP CONSTRAINT {drop_check}"))
            yield c
            if drop_check:
                c.execute(
                    text(f"ALTER TABLE sessions ADD CONSTRAINT {drop_check} {definition} NOT VALID")
                )
        return
    with db.engine.connect() as c:
        raw = c.connection.dbapi_connection
        assert raw is not None
        raw.execute("PRAGMA foreign_keys = OFF")
        raw.execute("PRAGMA ignore_check_constraints = ON")
        try:
            with c.begin():
                yield c
        finally:
            raw.execute("PRAGMA foreign_keys = ON")
            raw.execute("PRAGMA ignore_check_constraints = OFF")


def stored_id(value: uuid.UUID, db: Database) -> str:
    """A uuid as the database stores it (SQLite keeps 32 hex digits)."""
    return str(value) if db.is_postgres else value.hex
