"""One fixture chooses the database: every test runs on SQLite and on PostgreSQL.

PostgreSQL is required, not optional: a run that cannot reach it fails rather than skipping
half the suite. ``PITCREW_TEST_PG`` names the server (default: local, trust auth).
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from pitcrew import auth, invariants
from pitcrew import migrate as schema
from pitcrew.auth import Actor
from pitcrew.config import Settings
from pitcrew.db import Database
from pitcrew.models import Role
from pitcrew.web.app import create_app
from tests.support.live import serve_in_thread

PG_SERVER = os.environ.get("PITCREW_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432")
PG_TEST_DB = f"pitcrew_test_{os.getpid()}"
PASSWORD = "correct horse battery"

TABLES = (
    "auth_tokens",
    "email_outbox",
    "idempotency_keys",
    "login_failures",
    "notifications",
    "session_messages",
    "session_requests",
    "sessions",
    "intakes",
    "events",
    "users",
)


def _admin_engine() -> Any:
    # pre-ping: the fault tests restart PostgreSQL under this engine's pooled connection
    return create_engine(f"{PG_SERVER}/postgres", isolation_level="AUTOCOMMIT", pool_pre_ping=True)


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    admin = _admin_engine()
    with admin.connect() as c:
        c.execute(text(f'DROP DATABASE IF EXISTS "{PG_TEST_DB}" WITH (FORCE)'))
        c.execute(text(f'CREATE DATABASE "{PG_TEST_DB}"'))
    url = f"{PG_SERVER}/{PG_TEST_DB}"
    engine = create_engine(url)
    schema.upgrade(engine)
    engine.dispose()
    yield url
    with admin.connect() as c:
        c.execute(text(f'DROP DATABASE IF EXISTS "{PG_TEST_DB}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "pitcrew.db"
    engine = create_engine(f"sqlite:///{path}")
    schema.upgrade(engine)
    engine.dispose()
    return path


def _assert_invariants(db: Database) -> None:
    with db.engine.connect() as c:
        found = {k: v for k, v in invariants.violations(c).items() if v}
    assert found == {}, f"invariants broken after the test: {found}"


@pytest.fixture(params=["sqlite", "postgres"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """A migrated, empty database; after the test DESIGN's invariants must hold."""
    if request.param == "sqlite":
        path = tmp_path / "pitcrew.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        database = Database(f"sqlite:///{path}")
    else:
        database = Database(request.getfixturevalue("pg_url"), pool_size=20)
    try:
        yield database
        _assert_invariants(database)
    finally:
        if database.is_postgres:
            with database.engine.begin() as c:
                c.execute(text(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE"))
        database.dispose()


@pytest.fixture
def pg_db(pg_url: str) -> Iterator[Database]:
    """PostgreSQL only: for real parallel connections and LISTEN/NOTIFY."""
    database = Database(pg_url, pool_size=40)
    try:
        yield database
        _assert_invariants(database)
    finally:
        with database.engine.begin() as c:
            c.execute(text(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE"))
        database.dispose()


LEGACY_SCHEMA = Path(__file__).parent / "legacy_schema.sql"


@pytest.fixture
def legacy_url() -> Iterator[str]:
    """PostgreSQL only: a fresh database of the replaced system (tests/legacy_schema.sql)."""
    name = f"pitcrew_legacy_{os.getpid()}"
    admin = _admin_engine()
    with admin.connect() as c:
        c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        c.execute(text(f'CREATE DATABASE "{name}"'))
    engine = create_engine(f"{PG_SERVER}/{name}")
    with engine.begin() as c:
        c.exec_driver_sql(LEGACY_SCHEMA.read_text())
    engine.dispose()
    try:
        yield f"{PG_SERVER}/{name}"
    finally:
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@dataclass
class Person:
    actor: Actor
    email: str
    client: TestClient

    @property
    def id(self) -> uuid.UUID:
        return self.actor.id


@pytest.fixture
def settings(db: Database, tmp_path: Path) -> Settings:
    return Settings(
        database_url=db.url if isinstance(db.url, str) else str(db.url),
        media_dir=tmp_path / "media",  # chat photos never land in the working directory
    )


@pytest.fixture
def app(db: Database, settings: Settings) -> Any:
    return create_app(settings, db)


@pytest.fixture
def live(app: Any) -> Iterator[str]:
    """The app under uvicorn on loopback, for what TestClient cannot show (streams, browsers)."""
    with serve_in_thread(app) as base:
        yield base


@pytest.fixture
def anonymous(app: Any) -> Iterator[TestClient]:
    with TestClient(app) as client:
        yield client


@pytest.fixture
def quick_passwords(monkeypatch: pytest.MonkeyPatch) -> None:
    """Cheap Argon2 parameters, for tests that sign many people in and test no password."""
    from argon2 import PasswordHasher

    monkeypatch.setattr(auth, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024))


@pytest.fixture
def make_user(db: Database, app: Any) -> Iterator[Callable[..., Person]]:
    """Create an account and an API client signed in as it (bearer token)."""
    clients: list[TestClient] = []

    def make(role: Role = Role.CUSTOMER, name: str | None = None, on_duty: bool = True) -> Person:
        email = f"{role.value}-{uuid.uuid4().hex[:8]}@example.com"
        user = auth.create_user(
            db,
            email=email,
            name=name or f"{role.value.title()} {email[:14]}",
            role=role,
            password=PASSWORD,
            on_duty=on_duty and role == Role.MECHANIC,
        )
        client = TestClient(app)
        clients.append(client)
        answer = client.post("/api/auth/login", json={"email": email, "password": PASSWORD})
        assert answer.status_code == 200, answer.text
        client.cookies.clear()
        client.headers["Authorization"] = f"Bearer {answer.json()['token']}"
        return Person(actor=auth.actor_of(user), email=email, client=client)

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def customer(make_user: Callable[..., Person]) -> Person:
    return make_user(Role.CUSTOMER, name="Casey Driver")


@pytest.fixture
def mechanic(make_user: Callable[..., Person]) -> Person:
    return make_user(Role.MECHANIC, name="Bea Mechanic")


INTAKE = {
    "vehicle": {"year": 2016, "make": "Honda", "model": "Civic", "mileage": 84000},
    "issue_description": "Grinding noise when braking",
    "session_type": "chat",
    "plan_code": "standard",
}
