"""`pitcrew doctor` finds what breaks the invariants and repairs only what is certain.

On a database of the replaced system (PostgreSQL, tests/legacy_schema.sql): the incident is
reported, then linked and assigned; ambiguous and unmatched requests are left to a person;
a dry run writes nothing and a second --apply changes nothing. On pitcrew's own schema
(SQLite and PostgreSQL): every invariant, broken on purpose past the constraints, is found,
shows on /metrics, is repaired, and the gauge returns to 0. The guards hold: a repair
that would break another invariant is refused, a repair whose rows changed since it was
planned writes nothing, and the command line exits 2 when it cannot run.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Connection, create_engine, select, text
from typer.testing import CliRunner, Result

from pitcrew import cli, doctor, flow, invariants
from pitcrew.config import Settings, get_settings
from pitcrew.db import Database
from pitcrew.doctor import repair, rules
from pitcrew.models import Event, Role
from pitcrew.schemas import IntakeIn
from pitcrew.web.app import create_app
from tests.support.broken import stored_id, unguarded
from tests.support.factories import INTAKE, Person

SESSION = "e8762f53-5137-44ee-b8ef-09c9a01b1c5f"
REQUEST = "eaa411bc-fca0-4c69-b5ce-7f66866c2274"
MECHANIC = "1daec681-04cf-4640-9b98-d5369361e366"
CUSTOMER = "5c0f3a6e-8d21-4b7c-a9e4-3f2b1c0d9e8f"


def run_cli(monkeypatch: pytest.MonkeyPatch, url: str, *args: str) -> Result:
    """Run the pitcrew command line against ``url`` as an operator would."""
    monkeypatch.setenv("DATABASE_URL", url)
    get_settings.cache_clear()
    try:
        # an operator's terminal of a known width: the table wraps its cells to fit it, and a
        # parallel worker has no terminal of its own to measure
        return CliRunner(env={"COLUMNS": "140"}).invoke(cli.app, list(args))
    finally:
        get_settings.cache_clear()


def snapshot(url: str) -> dict[str, Any]:
    """Every schema, table, view and row of a PostgreSQL database, to compare before/after."""
    engine = create_engine(url)
    with engine.connect() as c:
        tables = c.execute(
            text(
                "SELECT table_schema, table_name, table_type FROM information_schema.tables"
                " WHERE table_schema NOT IN ('pg_catalog', 'information_schema')"
                " ORDER BY 1, 2"
            )
        ).all()
        found: dict[str, Any] = {"tables": [tuple(t) for t in tables]}
        found["views"] = c.execute(
            text("SELECT schemaname, viewname, definition FROM pg_views ORDER BY 1, 2")
        ).all()
        for schema, name, kind in tables:
            if kind == "BASE TABLE":
                rows = c.execute(text(f'SELECT * FROM "{schema}"."{name}"')).all()
                found[f"{schema}.{name}"] = sorted(repr(tuple(r)) for r in rows)
    engine.dispose()
    return found


def _legacy(url: str, sql: str, **params: Any) -> list[Any]:
    engine = create_engine(url)
    with engine.begin() as c:
        result = c.execute(text(sql), params)
        rows = list(result.all()) if result.returns_rows else []
    engine.dispose()
    return rows


def _problem_for(report: dict[str, Any], request_id: str) -> dict[str, Any]:
    problems: list[dict[str, Any]] = report["problems"]
    [problem] = [p for p in problems if p["request_id"] == request_id]
    return problem


# --- the replaced system's database -----------------------------------------------------


@pytest.mark.postgres_only
def test_incident_is_reported_then_linked_and_assigned(
    legacy_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    dry = run_cli(monkeypatch, legacy_url, "doctor")
    assert dry.exit_code == 1, dry.output
    assert REQUEST in dry.output and SESSION in dry.output
    assert "link to session e8762f53" in dry.output and "1 repairable" in dry.output

    as_json = run_cli(monkeypatch, legacy_url, "doctor", "--json")
    assert as_json.exit_code == 1
    report = json.loads(as_json.output)
    assert report["database"] == "replaced system" and not report["applied"]
    problem = _problem_for(report, REQUEST)
    assert problem["session_id"] == SESSION
    assert problem["invariants"] == [1, 5] and problem["repairable"]
    assert {c["table"]: c["after"] for c in problem["changes"]} == {
        "session_requests": {"parent_session_id": SESSION},
        "sessions": {"mechanic_id": MECHANIC},
    }
    assert report["summary"]["violations"]["request_without_session"] == 1

    applied = run_cli(monkeypatch, legacy_url, "doctor", "--apply")
    assert applied.exit_code == 0, applied.output
    assert "After repair: No problems" in applied.output
    [(parent,)] = _legacy(
        legacy_url, "SELECT parent_session_id::text FROM session_requests WHERE id = :r", r=REQUEST
    )
    [(mechanic, status)] = _legacy(
        legacy_url, "SELECT mechanic_id::text, status FROM sessions WHERE id = :s", s=SESSION
    )
    assert (parent, mechanic, status) == (SESSION, MECHANIC, "waiting")

    [(kind, request_id, payload)] = _legacy(
        legacy_url, "SELECT kind, request_id::text, payload FROM pitcrew_repairs"
    )
    assert (kind, request_id) == ("doctor.repair", REQUEST)
    changes = {c["table"]: (c["before"], c["after"]) for c in payload["changes"]}
    assert changes["sessions"] == (
        {"status": "waiting", "mechanic_id": None},
        {"mechanic_id": MECHANIC},
    )
    assert changes["session_requests"][0]["parent_session_id"] is None


@pytest.mark.postgres_only
def test_ambiguous_and_unmatched_requests_are_left_to_a_person(
    legacy_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    customer, lone = str(uuid.uuid4()), str(uuid.uuid4())
    twins = [str(uuid.uuid4()), str(uuid.uuid4())]
    ambiguous, unmatched = str(uuid.uuid4()), str(uuid.uuid4())
    for twin, at in zip(twins, ("2024-06-01 12:00:00+00", "2024-06-01 12:04:00+00"), strict=True):
        _legacy(
            legacy_url,
            "INSERT INTO sessions (id, customer_user_id, type, plan_code, status, created_at)"
            " VALUES (:id, :c, 'video', 'standard', 'pending', :at)",
            id=twin,
            c=customer,
            at=at,
        )
    # The only session of the second customer is 25 minutes away: no candidate.
    _legacy(
        legacy_url,
        "INSERT INTO sessions (id, customer_user_id, type, plan_code, status, created_at)"
        " VALUES (:id, :c, 'chat', 'standard', 'pending', '2024-06-01 11:35:00+00')",
        id=lone,
        c=CUSTOMER,
    )
    for rid, who, kind in ((ambiguous, customer, "video"), (unmatched, CUSTOMER, "chat")):
        _legacy(
            legacy_url,
            "INSERT INTO session_requests (id, customer_id, customer_name, session_type,"
            " plan_code, status, mechanic_id, created_at, accepted_at) VALUES (:id, :c, 'X',"
            " :k, 'standard', 'accepted', :m, '2024-06-01 12:02:00+00', now())",
            id=rid,
            c=who,
            k=kind,
            m=MECHANIC,
        )

    report = json.loads(run_cli(monkeypatch, legacy_url, "doctor", "--json").output)
    two = _problem_for(report, ambiguous)
    assert not two["repairable"] and sorted(two["candidates"]) == sorted(twins)
    assert "needs a person: 2 sessions could be it" in two["repair"]
    none = _problem_for(report, unmatched)
    assert not none["repairable"] and none["candidates"] == []
    assert "needs a person" in none["repair"]
    assert _problem_for(report, REQUEST)["repairable"]

    untouched = snapshot(legacy_url)["public.sessions"]
    applied = run_cli(monkeypatch, legacy_url, "doctor", "--apply")
    assert applied.exit_code == 1, "problems for a person remain"
    assert "Repaired 1 problem(s); 2 need(s) a person" in applied.output
    rows = _legacy(
        legacy_url,
        "SELECT id::text, parent_session_id FROM session_requests WHERE id IN (:a, :b)",
        a=ambiguous,
        b=unmatched,
    )
    assert sorted(rows) == sorted([(ambiguous, None), (unmatched, None)])
    after = snapshot(legacy_url)["public.sessions"]
    changed = set(after) ^ set(untouched)
    assert all(SESSION in row for row in changed), "only the incident's session changed"
    assert not any(t in row for row in changed for t in (*twins, lone))

    # A second --apply changes nothing at all.
    before = snapshot(legacy_url)
    again = run_cli(monkeypatch, legacy_url, "doctor", "--apply")
    assert again.exit_code == 1 and "Repaired 0 problem(s); 2 need(s) a person" in again.output
    assert snapshot(legacy_url) == before


@pytest.mark.postgres_only
def test_a_dry_run_never_writes(legacy_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    before = snapshot(legacy_url)
    assert run_cli(monkeypatch, legacy_url, "doctor").exit_code == 1
    assert run_cli(monkeypatch, legacy_url, "doctor", "--json").exit_code == 1
    assert snapshot(legacy_url) == before
    assert ("public", "pitcrew_repairs", "BASE TABLE") not in before["tables"]


@pytest.mark.postgres_only
def test_data_pitcrew_would_refuse_is_reported(
    legacy_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _legacy(legacy_url, "UPDATE sessions SET status = 'active' WHERE id = :s", s=SESSION)
    report = json.loads(run_cli(monkeypatch, legacy_url, "doctor", "--json").output)
    [unknown] = [p for p in report["problems"] if p["check"] == "session_status_unknown"]
    assert unknown["rows"] == [SESSION] and not unknown["repairable"]
    # The incident's pair is no longer certain either: 'active' is no pitcrew status.
    assert not _problem_for(report, REQUEST)["repairable"]


@pytest.mark.postgres_only
def test_legacy_sessions_waiting_for_a_mechanic_become_pending(
    legacy_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _legacy(
        legacy_url,
        "UPDATE sessions SET status = 'waiting' WHERE id = 'a9b8c7d6-e5f4-4a3b-8c2d-1e0f9a8b7c6d'",
    )
    assert run_cli(monkeypatch, legacy_url, "doctor", "--apply").exit_code == 0
    [(status,)] = _legacy(
        legacy_url,
        "SELECT status FROM sessions WHERE id = 'a9b8c7d6-e5f4-4a3b-8c2d-1e0f9a8b7c6d'",
    )
    assert status == "pending"


# --- the decision table -----------------------------------------------------------------

M1, M2 = uuid.uuid4(), uuid.uuid4()
T0 = datetime(2024, 5, 14, 9, 0, tzinfo=UTC)
NOW = T0 + timedelta(days=1)


def _pair(rs: str, rm: uuid.UUID | None, ss: str, sm: uuid.UUID | None) -> tuple[Any, Any]:
    request = {"status": rs, "mechanic_id": rm, "created_at": T0, "accepted_at": None}
    session = {"status": ss, "mechanic_id": sm, "created_at": T0, "started_at": None}
    return request, session


@pytest.mark.parametrize(
    ("request_state", "session_state", "request_after", "session_after"),
    [
        # The incident: the request's mechanic and a status consistent with it.
        (("accepted", M1), ("waiting", None), {}, {"mechanic_id": M1}),
        (("accepted", M1), ("pending", None), {}, {"mechanic_id": M1, "status": "waiting"}),
        (("accepted", M1), ("live", M2), {}, {"mechanic_id": M1}),
        (("accepted", M1), ("cancelled", M1), {"status": "cancelled"}, {}),
        (("pending", None), ("waiting", None), {}, {"status": "pending"}),
        (("pending", None), ("cancelled", None), {"status": "cancelled"}, {}),
        (("pending", None), ("pending", M1), {}, {"mechanic_id": None}),
        (("pending", None), ("live", M1), {"status": "accepted", "mechanic_id": M1}, {}),
        (("cancelled", M1), ("waiting", M1), {}, {"status": "cancelled"}),
        (("cancelled", M1), ("cancelled", None), {}, {"mechanic_id": M1}),
        (("expired", None), ("pending", None), {}, {"status": "cancelled"}),
        (("expired", M1), ("cancelled", M1), {"status": "cancelled"}, {}),
    ],
)
def test_repairs_make_request_and_session_agree(
    request_state: tuple[str, Any],
    session_state: tuple[str, Any],
    request_after: dict[str, Any],
    session_after: dict[str, Any],
) -> None:
    request, session = _pair(*request_state, *session_state)
    fix = doctor.agree(request, session, NOW)
    assert isinstance(fix, doctor.Fix)
    assert {k: fix.request[k] for k in request_after} == request_after
    assert {k: fix.session[k] for k in session_after} == session_after
    assert doctor.breaks({**request, **fix.request}, {**session, **fix.session}) == set()


@pytest.mark.parametrize(
    ("request_state", "session_state"),
    [
        (("accepted", None), ("waiting", None)),  # nobody knows who accepted it
        (("pending", None), ("completed", None)),  # it happened, but with whom?
        (("cancelled", M1), ("completed", M1)),  # finished after being cancelled?
        (("pending", M1), ("pending", None)),  # accepted or not?
        (("expired", M1), ("cancelled", M2)),  # two different mechanics
        (("accepted", M1), ("on_hold", M1)),  # not a pitcrew status
    ],
)
def test_uncertain_pairs_are_left_to_a_person(
    request_state: tuple[str, Any], session_state: tuple[str, Any]
) -> None:
    request, session = _pair(*request_state, *session_state)
    assert isinstance(doctor.agree(request, session, NOW), doctor.Unsure)


# --- pitcrew's own schema ---------------------------------------------------------------


Breaker = Callable[[Connection, dict[str, str]], None]


def _sql(*statements: str) -> Breaker:
    def run(c: Connection, ids: dict[str, str]) -> None:
        for statement in statements:
            c.execute(text(statement), ids)

    return run


# invariant -> (accepted first?, how to break it, CHECK to lift, the repaired statuses)
CASES: dict[int, tuple[bool, Breaker, str | None, tuple[str, str, str]]] = {
    1: (
        False,
        _sql("UPDATE session_requests SET parent_session_id = :nowhere WHERE id = :r"),
        None,
        ("pending", "pending", "request"),
    ),
    2: (
        True,
        _sql("UPDATE sessions SET mechanic_id = :other WHERE id = :s"),
        None,
        ("accepted", "waiting", "mechanic"),
    ),
    3: (
        False,
        _sql("UPDATE sessions SET status = 'cancelled' WHERE id = :s"),
        None,
        ("cancelled", "cancelled", "none"),
    ),
    4: (
        True,
        _sql("UPDATE sessions SET status = 'cancelled' WHERE id = :s"),
        None,
        ("cancelled", "cancelled", "mechanic"),
    ),
    5: (
        True,
        _sql("UPDATE sessions SET mechanic_id = NULL WHERE id = :s"),
        "ck_sessions_held_has_mechanic",
        ("accepted", "waiting", "mechanic"),
    ),
    6: (
        True,
        _sql("UPDATE session_requests SET status = 'cancelled' WHERE id = :r"),
        None,
        ("cancelled", "cancelled", "mechanic"),
    ),
    7: (
        True,
        _sql(
            "UPDATE session_requests SET status = 'expired' WHERE id = :r",
            "UPDATE sessions SET status = 'cancelled' WHERE id = :s",
        ),
        None,
        ("cancelled", "cancelled", "mechanic"),
    ),
}


def _gauge(client: TestClient, number: int) -> float | None:
    body = client.get("/metrics").text
    found = re.search(rf'pitcrew_invariant_violations{{invariant="{number}",[^}}]*}} (\S+)', body)
    return float(found.group(1)) if found else None


def _wait_for_gauge(client: TestClient, number: int, expect: Callable[[float], bool]) -> float:
    deadline = time.monotonic() + 15
    while True:
        value = _gauge(client, number)
        if value is not None and expect(value):
            return value
        assert time.monotonic() < deadline, f"gauge {number} stayed at {value}"
        time.sleep(0.05)


@pytest.mark.parametrize("number", sorted(CASES))
def test_each_broken_invariant_is_found_shown_and_repaired(
    db: Database,
    quick_passwords: None,
    customer: Person,
    mechanic: Person,
    make_user: Callable[..., Person],
    number: int,
) -> None:
    accept_first, breaker, check, (request_status, session_status, holder) = CASES[number]
    other = make_user(Role.MECHANIC)
    started, _ = flow.start_intake(db, customer.actor, IntakeIn.model_validate(INTAKE))
    if accept_first:
        flow.accept(db, mechanic.actor, started.request_id)
    ids = {
        "r": stored_id(started.request_id, db),
        "s": stored_id(started.session_id, db),
        "other": stored_id(other.id, db),
        "nowhere": stored_id(uuid.uuid4(), db),
    }
    settings = Settings(database_url=db.url, metrics_refresh_seconds=0.05)
    with TestClient(create_app(settings, db)) as operator:
        assert _wait_for_gauge(operator, number, lambda v: v == 0) == 0
        with unguarded(db, drop_check=check) as c:
            breaker(c, ids)

        found = doctor.check(db)
        [problem] = [p for p in found.problems if number in p.invariants]
        assert problem.request_id == started.request_id and problem.repairable
        assert found.violations[invariants.INVARIANTS[number - 1].name] >= 1
        assert _wait_for_gauge(operator, number, lambda v: v >= 1) >= 1

        applied = doctor.apply(db)
        assert applied.applied and len(applied.repairable) == 1
        assert doctor.check(db).clean
        assert _wait_for_gauge(operator, number, lambda v: v == 0) == 0

    if check and db.is_postgres:
        with db.engine.begin() as c:
            c.execute(text(f"ALTER TABLE sessions VALIDATE CONSTRAINT {check}"))
    with db.read() as s:
        detail = flow_state(s, started.request_id, started.session_id)
        repairs = list(s.scalars(select(Event).where(Event.kind == "doctor.repair")))
    expected_mechanic = {"mechanic": mechanic.id, "none": None, "request": None}[holder]
    assert detail == (request_status, session_status, expected_mechanic, expected_mechanic)
    assert [e.request_id for e in repairs] == [started.request_id]
    assert repairs[0].payload["changes"], "the audit row has before and after"
    assert doctor.apply(db).repairable == [], "a second --apply has nothing to do"


def flow_state(s: Any, request_id: uuid.UUID, session_id: uuid.UUID) -> tuple[Any, ...]:
    from pitcrew.models import Session, SessionRequest

    request = s.get(SessionRequest, request_id)
    session = s.get(Session, session_id)
    assert request.parent_session_id == session_id
    return (request.status, session.status, request.mechanic_id, session.mechanic_id)


# --- the guards -------------------------------------------------------------------------


def _repair_events(db: Database) -> list[Event]:
    with db.read() as s:
        return list(s.scalars(select(Event).where(Event.kind == "doctor.repair")))


def _accepted_pair(
    db: Database, customer: Person, mechanic: Person, *statements: str
) -> tuple[uuid.UUID, uuid.UUID]:
    """A request accepted by ``mechanic``, then broken by ``statements`` past the guards."""
    started, _ = flow.start_intake(db, customer.actor, IntakeIn.model_validate(INTAKE))
    flow.accept(db, mechanic.actor, started.request_id)
    with unguarded(db) as c:
        _sql(*statements)(
            c, {"r": stored_id(started.request_id, db), "s": stored_id(started.session_id, db)}
        )
    return started.request_id, started.session_id


def test_a_repair_that_would_break_another_invariant_is_refused(
    db: Database,
    quick_passwords: None,
    customer: Person,
    mechanic: Person,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The session was cancelled but its request still says accepted (invariant 4).
    request_id, session_id = _accepted_pair(
        db, customer, mechanic, "UPDATE sessions SET status = 'cancelled' WHERE id = :s"
    )
    broken = flow_state_of(db, request_id, session_id)
    assert broken == ("accepted", "cancelled", mechanic.id, mechanic.id)

    # A rule that calls the request expired instead: both databases would take it, but the
    # session would vanish from its mechanic's History tab (invariant 7).
    def expire_it(request: Any, session: Any, now: datetime) -> doctor.Fix:
        return doctor.Fix(request={"status": "expired"})

    with monkeypatch.context() as patched:
        patched.setattr(rules, "agree", expire_it)
        report = doctor.apply(db)

    [problem] = report.problems
    assert problem.request_id == request_id and not problem.repairable
    assert problem.repair == "needs a person: no single change makes this request and session agree"
    assert "Repaired 0 problem(s); 1 need(s) a person." in doctor.render(report)
    assert flow_state_of(db, request_id, session_id) == broken, "nothing was written"
    assert _repair_events(db) == []

    # The real rule repairs it.
    assert len(doctor.apply(db).repairable) == 1 and doctor.check(db).clean


# The request was cancelled and lost its mechanic; the session still waits with them.
CANCELLED_WITHOUT_MECHANIC = (
    "UPDATE session_requests SET status = 'cancelled', mechanic_id = NULL WHERE id = :r"
)


@dataclass(frozen=True)
class Race:
    """A repair planned for both rows of a pair, after which someone else changed one."""

    stale: doctor.Report
    request_id: uuid.UUID
    session_id: uuid.UUID
    mechanic_id: uuid.UUID

    def assert_untouched_then_repair(self, db: Database) -> None:
        """The raced repair wrote nothing (not even its first row); a fresh run repairs it."""
        state = flow_state_of(db, self.request_id, self.session_id)
        assert state == ("cancelled", "cancelled", None, self.mechanic_id)
        assert _repair_events(db) == []
        again = doctor.apply(db)
        assert [c.after for p in again.repairable for c in p.changes] == [
            {"mechanic_id": self.mechanic_id}
        ]
        assert doctor.check(db).clean


@pytest.fixture
def raced(db: Database, quick_passwords: None, customer: Person, mechanic: Person) -> Race:
    """The request lost its mechanic; the plan is made; then the session is cancelled."""
    request_id, session_id = _accepted_pair(db, customer, mechanic, CANCELLED_WITHOUT_MECHANIC)
    stale = doctor.check(db)
    [problem] = stale.problems
    assert [c.table for c in problem.changes] == ["session_requests", "sessions"]
    with unguarded(db) as c:
        c.execute(
            text("UPDATE sessions SET status = 'cancelled' WHERE id = :s"),
            {"s": stored_id(session_id, db)},
        )
    return Race(stale, request_id, session_id, mechanic.id)


def test_a_repair_whose_rows_changed_since_it_was_planned_writes_nothing(
    db: Database, raced: Race
) -> None:
    with pytest.raises(doctor.RepairRaced, match="sessions rows changed"):
        db.run(lambda s: repair.write(s, raced.stale))

    raced.assert_untouched_then_repair(db)


def test_apply_exits_2_when_a_repair_races(
    db: Database, raced: Race, monkeypatch: pytest.MonkeyPatch
) -> None:
    with monkeypatch.context() as patched:
        # The run plans from the state it read before the session changed.
        patched.setattr(repair, "diagnose", lambda connection: raced.stale)
        applied = run_cli(monkeypatch, _url(db), "doctor", "--apply")

    assert applied.exit_code == 2, applied.output
    assert "error: sessions rows changed while they were being repaired; run again" in (
        applied.stderr
    )
    raced.assert_untouched_then_repair(db)


def test_apply_exits_2_on_a_database_it_does_not_recognize(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    applied = run_cli(monkeypatch, url, "doctor", "--apply")
    assert applied.exit_code == 2, applied.output
    assert "error: This database has no session_requests, sessions, intakes table" in (
        applied.stderr
    )


def _url(db: Database) -> str:
    return db.url if isinstance(db.url, str) else str(db.url)


def flow_state_of(db: Database, request_id: uuid.UUID, session_id: uuid.UUID) -> tuple[Any, ...]:
    with db.read() as s:
        return flow_state(s, request_id, session_id)
