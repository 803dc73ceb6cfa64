"""`pitcrew migrate` adopts a database of the replaced system, or refuses and changes nothing.

The operator's path, end to end: point DATABASE_URL at the old database, see its problems,
repair them, adopt it, give a mechanic a password, and that mechanic finds the session the
old system lost under Active Sessions. PostgreSQL only: the replaced system ran on it, and
adoption relies on transactional DDL.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
from alembic.script import ScriptDirectory
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from pitcrew import adopt, doctor, migrate
from pitcrew.config import Settings
from pitcrew.db import Database
from pitcrew.web.app import create_app
from tests.support.databases import fresh_database
from tests.test_doctor import MECHANIC, REQUEST, SESSION, _legacy, run_cli, snapshot

pytestmark = pytest.mark.postgres_only

EMAIL = f"{MECHANIC}@{adopt.EMAIL_DOMAIN}"
COMPLETED = "7f3e2d1c-0b9a-4887-a665-544332211000"
HEAD = ScriptDirectory.from_config(
    migrate.alembic_config(create_engine("sqlite://"))
).get_current_head()


def _version(url: str) -> list[Any]:
    return [r[0] for r in _legacy(url, "SELECT version_num FROM alembic_version")]


def test_operator_repairs_adopts_and_the_mechanic_finds_the_session(
    legacy_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert run_cli(monkeypatch, legacy_url, "doctor").exit_code == 1

    untouched = snapshot(legacy_url)
    refused = run_cli(monkeypatch, legacy_url, "migrate")
    assert refused.exit_code == 1
    assert REQUEST in refused.output and "Not adopted; nothing was changed." in refused.output
    assert snapshot(legacy_url) == untouched

    assert run_cli(monkeypatch, legacy_url, "doctor", "--apply").exit_code == 0
    repaired = snapshot(legacy_url)
    assert run_cli(monkeypatch, legacy_url, "doctor", "--apply").exit_code == 0
    assert snapshot(legacy_url) == repaired, "a second --apply changes nothing"

    adopted = run_cli(monkeypatch, legacy_url, "migrate")
    assert adopted.exit_code == 0, adopted.output
    assert EMAIL in adopted.output and "sessions.updated_at" in adopted.output
    assert _version(legacy_url) == [HEAD]
    settled = snapshot(legacy_url)
    again = run_cli(monkeypatch, legacy_url, "migrate")
    assert again.exit_code == 0 and "Adopted" not in again.output
    assert snapshot(legacy_url) == settled, "migrating again is a no-op"
    assert run_cli(monkeypatch, legacy_url, "doctor").exit_code == 0

    password = "a new pitcrew password"
    set_it = run_cli(
        monkeypatch, legacy_url, "users", "set-password", "--email", EMAIL, "--password", password
    )
    assert set_it.exit_code == 0, set_it.output

    db = Database(legacy_url)
    try:
        with TestClient(create_app(Settings(database_url=legacy_url), db)) as client:
            login = client.post("/api/auth/login", json={"email": EMAIL, "password": password})
            assert login.status_code == 200, login.text
            assert login.json()["user"]["role"] == "mechanic"
            client.headers["Authorization"] = f"Bearer {login.json()['token']}"
            tabs = client.get("/api/mechanic/dashboard").json()
            assert [(r["session_id"], r["request_id"]) for r in tabs["active"]] == [
                (SESSION, REQUEST)
            ]
            assert tabs["active"][0]["customer_name"] == "Dana Whitfield"
            assert [r["session_id"] for r in tabs["completed"]] == [COMPLETED]
            detail = client.get(f"/api/sessions/{SESSION}")
            assert detail.status_code == 200, detail.text
            assert detail.json()["intake"]["vehicle_info"]["make"] == "Subaru"
            joined = client.post(f"/api/sessions/{SESSION}/join")
            assert joined.status_code == 200, joined.text
    finally:
        db.dispose()

    [(payload,)] = _legacy(legacy_url, "SELECT payload FROM events WHERE kind = 'doctor.repair'")
    assert payload["changes"], "the repair made before adoption is in pitcrew's audit trail"
    [(rows,)] = _legacy(legacy_url, "SELECT COUNT(*) FROM pitcrew_legacy.sessions")
    assert rows == 3, "the original rows are kept"


@pytest.fixture
def fresh_url() -> Iterator[str]:
    with fresh_database("postgres", f"pitcrew_fresh_{os.getpid()}") as url:
        yield url


def _schema(url: str) -> dict[str, Any]:
    """pitcrew's part of the catalog: columns, constraints, indexes, triggers, the view."""
    queries = {
        "columns": "SELECT table_name, column_name, data_type, character_maximum_length,"
        " is_nullable, column_default FROM information_schema.columns"
        " WHERE table_schema = 'public' ORDER BY 1, 2",
        "constraints": "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid),"
        " condeferrable, condeferred, convalidated FROM pg_constraint"
        " WHERE connamespace = 'public'::regnamespace ORDER BY 1, 2",
        "indexes": "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'"
        " ORDER BY 1",
        "triggers": "SELECT tgname, pg_get_triggerdef(oid) FROM pg_trigger"
        " WHERE NOT tgisinternal ORDER BY 1",
        "views": "SELECT viewname, definition FROM pg_views WHERE schemaname = 'public'",
    }
    engine = create_engine(url)
    with engine.connect() as c:
        found = {name: c.execute(text(sql)).all() for name, sql in queries.items()}
    engine.dispose()
    return found


def test_adopted_schema_is_that_of_a_fresh_install(legacy_url: str, fresh_url: str) -> None:
    db = Database(legacy_url)
    try:
        doctor.apply(db)
        adopt.adopt(db)
    finally:
        db.dispose()
    assert _schema(legacy_url) == _schema(fresh_url)
    assert _version(legacy_url) == _version(fresh_url) == [HEAD]


def test_adoption_refused_by_the_data_changes_nothing(
    legacy_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _legacy(
        legacy_url,
        "UPDATE sessions SET status = 'active' WHERE id = '7f3e2d1c-0b9a-4887-a665-544332211000'",
    )
    assert run_cli(monkeypatch, legacy_url, "doctor", "--apply").exit_code == 1
    before = snapshot(legacy_url)
    refused = run_cli(monkeypatch, legacy_url, "migrate")
    assert refused.exit_code == 1
    assert COMPLETED in refused.output and "needs a person" in refused.output
    db = Database(legacy_url)
    try:
        with pytest.raises(adopt.Refused) as stopped:
            adopt.adopt(db)
    finally:
        db.dispose()
    assert stopped.value.report is not None
    checks = {p.check for p in stopped.value.report.problems}
    assert "session_status_unknown" in checks
    assert snapshot(legacy_url) == before


def test_objects_that_would_keep_pointing_at_old_rows_stop_adoption(
    legacy_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert run_cli(monkeypatch, legacy_url, "doctor", "--apply").exit_code == 0
    _legacy(legacy_url, "CREATE VIEW weekly_report AS SELECT id, status FROM sessions")
    before = snapshot(legacy_url)
    refused = run_cli(monkeypatch, legacy_url, "migrate")
    assert refused.exit_code == 1 and "weekly_report" in refused.output
    assert snapshot(legacy_url) == before


def test_a_failure_midway_leaves_the_database_as_it_was(
    legacy_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert run_cli(monkeypatch, legacy_url, "doctor", "--apply").exit_code == 0
    # Text that is not JSON passes every check and fails only when the rows are copied in.
    _legacy(legacy_url, "DROP VIEW mechanic_session_overview")
    _legacy(legacy_url, "ALTER TABLE intakes ALTER COLUMN vehicle_info TYPE text")
    _legacy(legacy_url, "UPDATE intakes SET vehicle_info = 'a red Subaru'")
    before = snapshot(legacy_url)
    failed = run_cli(monkeypatch, legacy_url, "migrate")
    assert failed.exit_code == 1 and "PostgreSQL refused a step" in failed.output
    assert "Not adopted; nothing was changed." in failed.output
    assert snapshot(legacy_url) == before
    assert ("pitcrew_legacy", "sessions", "BASE TABLE") not in before["tables"]


def test_emails_and_names_come_from_supabase_auth_when_it_is_there(legacy_url: str) -> None:
    _legacy(
        legacy_url,
        "CREATE SCHEMA auth; CREATE TABLE auth.users (id uuid PRIMARY KEY, email text,"
        " raw_user_meta_data jsonb)",
    )
    _legacy(
        legacy_url,
        "INSERT INTO auth.users VALUES (:m, 'Sam.Wrench@Garage.example',"
        ' \'{"full_name": "Sam Wrench"}\')',
        m=MECHANIC,
    )
    db = Database(legacy_url)
    try:
        doctor.apply(db)
        done = adopt.adopt(db)
    finally:
        db.dispose()
    assert done.mechanics == [(MECHANIC, "sam.wrench@garage.example")]
    assert done.emails_from_auth == 1 and done.customers == 3
    [(name, role, password)] = _legacy(
        legacy_url, "SELECT name, role, password_hash FROM users WHERE id = :m", m=MECHANIC
    )
    assert (name, role, password) == ("Sam Wrench", "mechanic", None)
    customers = {
        r[0] for r in _legacy(legacy_url, "SELECT name FROM users WHERE role = 'customer'")
    }
    assert customers == {"Dana Whitfield", "Marco Ruiz", "Priya Natarajan"}


def test_plain_upgrade_refuses_a_database_of_the_replaced_system(legacy_url: str) -> None:
    engine = create_engine(legacy_url)
    try:
        with pytest.raises(migrate.NotAdopted, match="pitcrew doctor"):
            migrate.upgrade(engine)
    finally:
        engine.dispose()
