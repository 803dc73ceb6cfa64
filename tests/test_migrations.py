"""The migrations build exactly what the models describe, on SQLite and on PostgreSQL.

Migrations are history (each holds the DDL it ran) and the models are today's code, so
nothing but this test keeps the two from drifting apart: after ``pitcrew migrate`` on an
empty database, Alembic's comparison of the models with that database must find nothing
to change: no table, column, type, nullability, server default, index, unique constraint
or foreign key of difference.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import (
    Engine,
    String,
    Uuid,
    column,
    create_engine,
    insert,
    inspect,
    select,
    table,
    text,
)
from sqlalchemy.exc import IntegrityError

from pitcrew import migrate
from pitcrew.models import OVERVIEW_VIEW, Base, Role, User, UTCDateTime, overview, utcnow
from tests.support.databases import PG_SERVER, Dialect, empty_database


@pytest.fixture(params=["sqlite", "postgres"])
def migrated(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """An empty database brought to the newest revision by ``pitcrew migrate``."""
    if request.param == "sqlite":
        engine = create_engine(f"sqlite:///{tmp_path / 'fresh.db'}")
        migrate.upgrade(engine)
        yield engine
        engine.dispose()
        return
    name = f"pitcrew_fresh_{os.getpid()}"
    admin = create_engine(f"{PG_SERVER}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        c.execute(text(f'CREATE DATABASE "{name}"'))
    engine = create_engine(f"{PG_SERVER}/{name}")
    try:
        migrate.upgrade(engine)
        yield engine
    finally:
        engine.dispose()
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


# SQLite cannot reflect an index on an expression (the one on lower(email)), so Alembic
# leaves it out of the comparison there and says so; the last test checks it by using it.
@pytest.mark.filterwarnings("ignore:Skipped unsupported reflection of expression-based index")
@pytest.mark.filterwarnings("ignore:autogenerate skipping metadata-specified expression-based")
def test_the_migrated_schema_is_the_models_schema(migrated: Engine) -> None:
    with migrated.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "compare_server_default": True}
        )
        differences = compare_metadata(context, Base.metadata)
    assert differences == []


def test_the_view_has_the_columns_the_reads_name(migrated: Engine) -> None:
    found = [column["name"] for column in inspect(migrated).get_columns(OVERVIEW_VIEW)]
    assert sorted(found) == sorted(overview.c.keys())


def test_an_email_belongs_to_one_account_whatever_its_case(migrated: Engine) -> None:
    def sign_up(email: str) -> None:
        with migrated.begin() as connection:
            connection.execute(
                insert(User).values(
                    id=uuid.uuid4(),
                    email=email,
                    name="Casey",
                    role=Role.CUSTOMER,
                    created_at=utcnow(),
                )
            )

    sign_up("casey@example.com")
    with pytest.raises(IntegrityError, match="uq_users_email_lower"):
        sign_up("Casey@Example.com")


@pytest.mark.parametrize("dialect", ["sqlite", "postgres"])
def test_accounts_made_before_confirmation_existed_count_as_confirmed(
    dialect: Dialect, tmp_path: Path
) -> None:
    before = table(
        "users",
        column("id", Uuid),
        column("email", String),
        column("name", String),
        column("role", String),
        column("created_at", UTCDateTime),
    )
    with empty_database(dialect, f"pitcrew_0006_{os.getpid()}", tmp_path) as url:
        engine = create_engine(url)
        try:
            migrate.upgrade(engine, "0006")
            with engine.begin() as c:
                c.execute(
                    insert(before).values(
                        id=uuid.uuid4(),
                        email="old@example.com",
                        name="Old",
                        role="customer",
                        created_at=utcnow(),
                    )
                )
            migrate.upgrade(engine)
            with engine.connect() as c:
                confirmed = c.execute(select(User.email_verified)).scalars().all()
        finally:
            engine.dispose()
    assert confirmed == [True]
