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
from contextlib import contextmanager
from datetime import timedelta
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
from pitcrew.models import (
    OVERVIEW_VIEW,
    Base,
    Intake,
    Role,
    Session,
    SessionReport,
    User,
    UTCDateTime,
    Vehicle,
    overview,
    utcnow,
)
from tests.support.databases import PG_SERVER, USERS_BEFORE, Dialect, empty_database


@contextmanager
def _empty(kind: str, tmp_path: Path) -> Iterator[Engine]:
    """An empty database of that kind, dropped afterwards."""
    if kind == "sqlite":
        engine = create_engine(f"sqlite:///{tmp_path / 'fresh.db'}")
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
        yield engine
    finally:
        engine.dispose()
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def migrated(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """An empty database brought to the newest revision by ``pitcrew migrate``."""
    with _empty(request.param, tmp_path) as engine:
        migrate.upgrade(engine)
        yield engine


@pytest.fixture(params=["sqlite", "postgres"])
def before_reports(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A database at revision 0012, the one before reports and cars."""
    with _empty(request.param, tmp_path) as engine:
        migrate.upgrade(engine, "0007")
        yield engine


# SQLite cannot reflect an index on an expression (the one on lower(email)), so Alembic
# leaves it out of the comparison there and says so; the last test checks it by using it.
@pytest.mark.filterwarnings("ignore:Skipped unsupported reflection of expression-based index")
@pytest.mark.filterwarnings("ignore:autogenerate skipping metadata-specified expression-based")
def test_the_migrated_schema_is_the_models_schema(migrated: Engine) -> None:
    dialect = migrated.dialect.name

    def made_here(obj: object, *_: object) -> bool:
        """An index the models make on one database only (``ddl_if``) is compared there only."""
        only = getattr(obj, "_ddl_if", None)
        return only is None or only.dialect in (None, dialect)

    with migrated.connect() as connection:
        context = MigrationContext.configure(
            connection,
            opts={
                "compare_type": True,
                "compare_server_default": True,
                "include_object": made_here,
            },
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


CARS: list[dict[str, object]] = [
    {"year": 2016, "make": "Honda", "model": "Civic", "mileage": 80000},
    {"year": 2016, "make": " honda", "model": "CIVIC ", "mileage": 84000},
    {"year": 2016, "make": "Honda", "model": "Civic", "vin": "1HGCM82633A004352"},
    {"year": 2009, "make": "Ford", "model": "Focus"},
]


def _completed_sessions(engine: Engine) -> tuple[list[uuid.UUID], list[uuid.UUID]]:
    """A driver's four intakes (CARS) and their sessions: three completed with a summary,
    one cancelled without. Written as rows, the way the schema before reports takes them."""
    now = utcnow()
    driver, mechanic = uuid.uuid4(), uuid.uuid4()
    intakes = [uuid.uuid4() for _ in CARS]
    sessions = [uuid.uuid4() for _ in CARS]
    with engine.begin() as c:
        for who, role in ((driver, Role.CUSTOMER), (mechanic, Role.MECHANIC)):
            email = f"{who}@example.com"
            c.execute(
                insert(USERS_BEFORE).values(
                    id=who, email=email, name=role.value, role=role.value, created_at=now
                )
            )
        for n, car in enumerate(CARS):
            at = now + timedelta(minutes=n)
            c.execute(
                insert(Intake).values(
                    id=intakes[n],
                    customer_id=driver,
                    vehicle_info=car,
                    issue_description="Noise",
                    created_at=at,
                )
            )
            done = n < 3
            c.execute(
                insert(Session).values(
                    id=sessions[n],
                    customer_user_id=driver,
                    mechanic_id=mechanic,
                    type="chat",
                    plan_code="standard",
                    status="completed" if done else "cancelled",
                    intake_id=intakes[n],
                    created_at=at,
                    ended_at=at,
                    summary=f"Summary {n}" if done else None,
                )
            )
    return intakes, sessions


def test_summaries_become_reports_and_intakes_become_cars(before_reports: Engine) -> None:
    intakes, sessions = _completed_sessions(before_reports)
    migrate.upgrade(before_reports)
    with before_reports.connect() as c:
        reports = {r.session_id: r for r in c.execute(select(SessionReport))}
        car_of = {r.id: r.vehicle_id for r in c.execute(select(Intake.id, Intake.vehicle_id))}
        cars = sorted(c.execute(select(Vehicle)), key=lambda v: (v.year, v.vin or ""))
    assert {sid: r.summary for sid, r in reports.items()} == {
        sessions[0]: "Summary 0",
        sessions[1]: "Summary 1",
        sessions[2]: "Summary 2",
    }
    assert all((r.findings, r.steps, r.trouble_codes) == ("", [], []) for r in reports.values())
    assert car_of[intakes[0]] == car_of[intakes[1]]  # the same car, typed differently
    assert len({car_of[i] for i in intakes}) == 3  # the VIN tells one apart; a Focus is another
    assert [(v.year, v.make, v.model, v.vin, v.mileage) for v in cars] == [
        (2009, "Ford", "Focus", None, None),
        (2016, "Honda", "Civic", None, 84000),  # the mileage of its latest intake
        (2016, "Honda", "Civic", "1HGCM82633A004352", None),
    ]


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


def test_sessions_made_before_search_are_found_by_their_car_issue_and_summary(
    before_reports: Engine,
) -> None:
    _, sessions = _completed_sessions(before_reports)
    migrate.upgrade(before_reports)
    with before_reports.connect() as c:
        found = dict(c.execute(select(Session.id, Session.search_text)).all())
    words = {sid: set(text.lower().split()) for sid, text in found.items()}
    assert {"2016", "honda", "civic", "1hgcm82633a004352", "noise", "summary", "2"} <= words[
        sessions[2]
    ]
    assert {"2009", "ford", "focus", "noise"} == words[sessions[3]], "no summary, no VIN"
