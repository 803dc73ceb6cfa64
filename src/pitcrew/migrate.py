"""Bringing a database to pitcrew's schema with Alembic, from inside the package.

A database of the system pitcrew replaces (its tables without ``alembic_version``) is not
migrated but adopted (``pitcrew.adopt``), which ``pitcrew migrate`` does after checking it.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, inspect

MIGRATIONS = Path(__file__).parent / "migrations"
LEGACY_TABLES = frozenset({"sessions", "session_requests"})


class NotAdopted(Exception):
    """The database belongs to the replaced system; migrations would collide with its tables."""


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False))
    return config


def is_legacy(engine: Engine) -> bool:
    """Whether this is a database of the replaced system: its tables, but no migrations."""
    tables = set(inspect(engine).get_table_names())
    return tables >= LEGACY_TABLES and "alembic_version" not in tables


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Apply every migration not yet applied, in one transaction where the database allows."""
    if is_legacy(engine):
        raise NotAdopted(
            "This is a database of the system pitcrew replaces. Check it with `pitcrew doctor`,"
            " repair it with `pitcrew doctor --apply`, then adopt it with `pitcrew migrate`."
        )
    with engine.begin() as connection:
        upgrade_within(connection, engine, revision)


def upgrade_within(connection: Connection, engine: Engine, revision: str = "head") -> None:
    """Apply migrations inside the caller's transaction (it commits or rolls back all of it)."""
    config = alembic_config(engine)
    config.attributes["connection"] = connection
    command.upgrade(config, revision)
