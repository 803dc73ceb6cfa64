"""One fixture chooses the database: a test of the product runs on SQLite and on PostgreSQL.

Tests about PostgreSQL itself use ``pg_db`` and are marked ``postgres_only``; the few about
one SQLite file are marked ``sqlite_only`` (docs/RELIABILITY.md counts them).

PostgreSQL is required, not optional: a run that cannot reach it fails rather than skipping
half the suite. What the fixtures build with lives in ``tests/support``.

The suite runs in parallel (pytest-xdist, ``bash scripts/test.sh``): each worker is its own
process with its own PostgreSQL database (named by its pid), its own SQLite files under
``tmp_path`` and free loopback ports. Tests marked ``serial`` restart PostgreSQL or a server
under load, which would pull the ground from under the other workers; they run afterwards,
alone (``--part serial``), and refuse to run inside a parallel run.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from playwright.sync_api import Browser
from sqlalchemy import create_engine

from pitcrew import auth
from pitcrew.config import Settings
from pitcrew.db import Database
from pitcrew.models import Role
from pitcrew.web.app import create_app
from tests.support.browser import World, world_at
from tests.support.databases import (
    assert_invariants,
    empty_database,
    empty_tables,
    fresh_database,
)
from tests.support.factories import Person, create_person
from tests.support.live import chromium, free_port, serve_in_thread
from tests.support.smtp import SmtpServer

LEGACY_SCHEMA = Path(__file__).parent / "legacy_schema.sql"


PARTS = ("all", "parallel", "serial")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--part",
        choices=PARTS,
        default="all",
        help="parallel: every test but the serial ones; serial: only those (scripts/test.sh)",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    part = config.getoption("--part")
    if part == "all":
        return
    keep = [
        item
        for item in items
        if (item.get_closest_marker("serial") is None) == (part == "parallel")
    ]
    dropped = [item for item in items if item not in keep]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = keep


def pytest_runtest_setup(item: pytest.Item) -> None:
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if item.get_closest_marker("serial") is not None and workers > 1:
        pytest.fail(
            "a serial test cannot share the machine with other workers: "
            "run it alone (pytest --part serial, as scripts/test.sh does)",
            pytrace=False,
        )


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """What a test recorded for the reader (the state machine's transition counts), even when
    it passed on a parallel worker whose own output nobody sees."""
    lines = [
        f"  {value}"
        for outcome in ("passed", "failed")
        for report in terminalreporter.stats.get(outcome, [])
        if getattr(report, "when", None) == "call"
        for name, value in getattr(report, "user_properties", [])
        if name == "transitions"
    ]
    if lines:
        terminalreporter.write_line("")
        terminalreporter.write_line("status flow transitions that succeeded in the random flows:")
        for line in sorted(lines):
            terminalreporter.write_line(line)


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    with fresh_database("postgres", f"pitcrew_test_{os.getpid()}") as url:
        yield url


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    folder = tmp_path_factory.mktemp("template")
    with fresh_database("sqlite", "pitcrew", folder):
        yield folder / "pitcrew.db"


@pytest.fixture(params=["sqlite", "postgres"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """A migrated, empty database; after the test every invariant must hold."""
    if request.param == "sqlite":
        path = tmp_path / "pitcrew.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        database = Database(f"sqlite:///{path}")
    else:
        database = Database(request.getfixturevalue("pg_url"), pool_size=20)
    try:
        yield database
        assert_invariants(database)
    finally:
        if database.is_postgres:
            empty_tables(database)
        database.dispose()


@pytest.fixture
def pg_db(pg_url: str) -> Iterator[Database]:
    """PostgreSQL only: for real parallel connections and LISTEN/NOTIFY."""
    database = Database(pg_url, pool_size=40)
    try:
        yield database
        assert_invariants(database)
    finally:
        empty_tables(database)
        database.dispose()


@pytest.fixture
def legacy_url() -> Iterator[str]:
    """PostgreSQL only: a fresh database of the replaced system (tests/legacy_schema.sql)."""
    with empty_database("postgres", f"pitcrew_legacy_{os.getpid()}") as url:
        engine = create_engine(url)
        try:
            with engine.begin() as c:
                c.exec_driver_sql(LEGACY_SCHEMA.read_text())
        finally:
            engine.dispose()
        yield url


@pytest.fixture
def settings(db: Database, tmp_path: Path) -> Settings:
    return Settings(
        database_url=db.url,
        media_dir=tmp_path / "media",  # chat photos never land in the working directory
    )


@pytest.fixture
def app(db: Database, settings: Settings) -> FastAPI:
    return create_app(settings, db)


@pytest.fixture
def live(app: FastAPI) -> Iterator[str]:
    """The app under uvicorn on loopback, for what TestClient cannot show (streams, browsers)."""
    with serve_in_thread(app) as base:
        yield base


@pytest.fixture
def anonymous(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as client:
        yield client


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    """A real SMTP server on a free loopback port; tests start it (or leave it down)."""
    server = SmtpServer(free_port())
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def quick_passwords(monkeypatch: pytest.MonkeyPatch) -> None:
    """Cheap Argon2 parameters, for tests that sign many people in and test no password."""
    from argon2 import PasswordHasher

    monkeypatch.setattr(auth, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024))


@pytest.fixture
def make_user(db: Database, app: FastAPI) -> Iterator[Callable[..., Person]]:
    """``make_user(role, name, on_duty=True)``: an account and an API client signed in as it."""
    people: list[Person] = []

    def make(role: Role = Role.CUSTOMER, name: str | None = None, on_duty: bool = True) -> Person:
        person = create_person(db, app, role, name, on_duty=on_duty)
        people.append(person)
        return person

    yield make
    for person in people:
        person.client.close()


@pytest.fixture
def customer(make_user: Callable[..., Person]) -> Person:
    return make_user(Role.CUSTOMER, name="Casey Driver")


@pytest.fixture
def mechanic(make_user: Callable[..., Person]) -> Person:
    return make_user(Role.MECHANIC, name="Bea Mechanic")


@pytest.fixture
def cole(make_user: Callable[..., Person]) -> Person:
    """A second mechanic on duty, for what moves between two."""
    return make_user(Role.MECHANIC, name="Cole Mechanic")


@pytest.fixture
def admin(make_user: Callable[..., Person]) -> Person:
    return make_user(Role.ADMIN, name="Avery Admin")


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's Chromium, one per test module (Playwright drives one per thread)."""
    with chromium() as launched:
        yield launched


@pytest.fixture
def world(pg_db: Database, pg_url: str, browser: Browser) -> Iterator[World]:
    """The app served on PostgreSQL for people at their own browsers."""
    with world_at(pg_db, pg_url, browser) as here:
        yield here
