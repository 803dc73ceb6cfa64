"""The command line as an operator uses it: accounts, migrations and the demo data.

Most commands run in-process through Typer's runner with ``DATABASE_URL`` set (the settings
cache is cleared around each test); migrations also run through the installed ``pitcrew``
executable, as a deployment would.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, func, select, text
from typer.testing import CliRunner, Result

from pitcrew import demo as demo_data
from pitcrew.cli import app as cli
from pitcrew.config import Settings, get_settings
from pitcrew.db import Database
from pitcrew.models import Base, User
from pitcrew.web.app import create_app

pytestmark = pytest.mark.usefixtures("quick_passwords")

PITCREW = Path(sys.executable).parent / "pitcrew"


@pytest.fixture
def run(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """``run(url, *args)``: the CLI against the database at ``url``."""
    runner = CliRunner()

    def invoke(url: str, *args: str) -> Result:
        monkeypatch.setenv("DATABASE_URL", url)
        get_settings.cache_clear()
        return runner.invoke(cli, list(args))

    yield invoke
    get_settings.cache_clear()


def _users(db: Database) -> int:
    with db.read() as s:
        return s.scalar(select(func.count()).select_from(User)) or 0


def _login(app: Any, email: str, password: str) -> dict[str, Any]:
    with TestClient(app) as client:
        answer = client.post("/api/auth/login", json={"email": email, "password": password})
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


CATALOG = {
    "sqlite": ["SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name"],
    "postgresql": [
        "SELECT table_name, column_name, data_type, is_nullable, column_default"
        " FROM information_schema.columns WHERE table_schema = 'public'"
        " ORDER BY table_name, column_name",
        "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' ORDER BY indexname",
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint"
        " WHERE connamespace = 'public'::regnamespace ORDER BY conname",
        "SELECT viewname, definition FROM pg_views WHERE schemaname = 'public' ORDER BY viewname",
    ],
}


def _schema(url: str) -> list[Any]:
    """The database's own description of its schema, and the migration mark."""
    engine = create_engine(url)
    try:
        with engine.connect() as c:
            queries = [*CATALOG[engine.dialect.name], "SELECT version_num FROM alembic_version"]
            return [[tuple(r) for r in c.execute(text(q))] for q in queries]
    finally:
        engine.dispose()


def test_users_create_makes_an_account_that_can_sign_in(db: Database, app: Any, run: Any) -> None:
    result = run(
        db.url,
        "users", "create",
        "--email", "Pat.Wrench@Example.com",
        "--password", "a long password",
        "--name", "Pat Wrench",
        "--role", "mechanic",
        "--on-duty",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "pat.wrench@example.com" in result.output
    signed_in = _login(app, "pat.wrench@example.com", "a long password")
    assert signed_in["user"]["role"] == "mechanic"
    assert signed_in["user"]["name"] == "Pat Wrench"
    assert signed_in["user"]["on_duty"] is True


def test_users_create_refuses_a_taken_email_and_bad_input(db: Database, run: Any) -> None:
    first = run(db.url, "users", "create", "--email", "sam@example.com",
                "--password", "a long password", "--name", "Sam")  # fmt: skip
    assert first.exit_code == 0, first.output
    again = run(db.url, "users", "create", "--email", "SAM@example.com",
                "--password", "another password", "--name", "Sam Again")  # fmt: skip
    assert again.exit_code == 1
    assert "already exists" in again.stderr
    short = run(db.url, "users", "create", "--email", "kim@example.com",
                "--password", "short", "--name", "Kim")  # fmt: skip
    assert short.exit_code == 1
    assert "at least 8 characters" in short.stderr
    no_role = run(db.url, "users", "create", "--email", "lee@example.com",
                  "--password", "a long password", "--name", "Lee", "--role", "boss")  # fmt: skip
    assert no_role.exit_code == 2
    assert "boss" in no_role.output
    assert _users(db) == 1


def test_migrate_on_a_migrated_database_changes_nothing(db: Database, run: Any) -> None:
    url = db.url
    before = _schema(url)
    for _ in range(2):
        result = run(url, "migrate")
        assert result.exit_code == 0, result.output
        assert "up to date" in result.output
    assert _schema(url) == before


@pytest.mark.sqlite_only
def test_migrate_twice_from_the_shell_creates_then_does_nothing(tmp_path: Path) -> None:
    """The installed executable, as a deployment runs it, on a brand new SQLite file."""
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    env = {**os.environ, "DATABASE_URL": url}
    first = subprocess.run(
        [PITCREW, "migrate"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert first.returncode == 0, first.stderr
    created = _schema(url)
    names = {row[1] for row in created[0]}
    assert {t.name for t in Base.metadata.sorted_tables} | {"mechanic_session_overview"} <= names
    second = subprocess.run(
        [PITCREW, "migrate"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert second.returncode == 0, second.stderr
    assert _schema(url) == created


def _counts(db: Database) -> dict[str, int]:
    """Rows per table, leaving out sign-in bookkeeping (logging in writes tokens)."""
    skip = {"auth_tokens", "account_tokens", "login_failures"}
    with db.read() as s:
        return {
            t.name: s.scalar(select(func.count()).select_from(t)) or 0
            for t in Base.metadata.sorted_tables
            if t.name not in skip
        }


@pytest.mark.sqlite_only
def test_demo_on_an_empty_file_gives_accounts_and_sessions_in_every_state(
    tmp_path: Path, run: Any
) -> None:
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    first = run(url, "demo")
    assert first.exit_code == 0, first.output
    for email, _role, _name in demo_data.ACCOUNTS:
        assert email in first.output
    assert demo_data.PASSWORD in first.output

    db = Database(url)
    try:
        app = create_app(Settings(database_url=url), db)
        counts = _counts(db)
        again = run(url, "demo")
        assert again.exit_code == 0, again.output
        assert _counts(db) == counts, "running the demo twice must add nothing"

        roles = {}
        for email, role, _name in demo_data.ACCOUNTS:
            signed_in = _login(app, email, demo_data.PASSWORD)
            assert signed_in["user"]["role"] == role.value
            roles[role.value] = signed_in["token"]

        with TestClient(app) as client:
            client.headers["Authorization"] = f"Bearer {roles['customer']}"
            mine = client.get("/api/sessions")
            assert mine.status_code == 200, mine.text
            by_status = {s["status"]: s for s in mine.json()}
            assert set(by_status) == {"pending", "waiting", "live", "completed", "cancelled"}
            assert by_status["completed"]["rating"] is not None
            assert by_status["completed"]["summary"]
            chat = client.get(f"/api/sessions/{by_status['completed']['id']}/messages").json()
            assert len(chat) >= 2

            bea = _login(app, demo_data.ACCOUNTS[1][0], demo_data.PASSWORD)["token"]
            client.headers["Authorization"] = f"Bearer {bea}"
            tabs = client.get("/api/mechanic/dashboard").json()
            assert {r["session_status"] for r in tabs["active"]} == {"waiting", "live"}
            assert [r["rating"] for r in tabs["completed"]] == [by_status["completed"]["rating"]]
            assert [r["session_id"] for r in tabs["incoming"]] == [by_status["pending"]["id"]]
        with db.engine.connect() as c:
            from pitcrew import invariants

            assert {k: v for k, v in invariants.violations(c).items() if v} == {}
    finally:
        db.dispose()
