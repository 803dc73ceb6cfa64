"""Pruning deletes what nothing reads any more, and keeps what timelines and sign-ins need."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from pitcrew import auth, events, flow, notify, retention, room
from pitcrew.config import Settings
from pitcrew.db import Database
from pitcrew.events import Kind
from pitcrew.models import AuthToken, Event, LoginFailure, Notification, Role, utcnow
from pitcrew.schemas import IntakeIn
from pitcrew.web.app import create_app
from tests.support.accounts import PASSWORD, account
from tests.support.factories import INTAKE, Person, start_session
from tests.support.live import open_events, serve_in_thread, wait_for

pytestmark = pytest.mark.usefixtures("quick_passwords")


def _count(db: Database, model: type, *where: object) -> int:
    with db.read() as s:
        return int(s.scalar(select(func.count()).select_from(model).where(*where)) or 0)  # type: ignore[arg-type]


def test_prune_keeps_timelines_and_drops_what_nothing_reads(db: Database) -> None:
    settings = Settings(database_url=str(db.url))
    customer, mechanic = account(db, Role.CUSTOMER), account(db, Role.MECHANIC)
    created, _ = flow.start_intake(db, customer.actor, IntakeIn.model_validate(INTAKE))
    flow.accept(db, mechanic.actor, created.request_id)
    with db.read() as s:
        first = s.scalars(select(Notification.id).order_by(Notification.created_at)).first()
    assert first is not None
    db.run(lambda s: notify.mark_read(s, mechanic.actor.id, first))
    expired, _ = auth.login(db, customer.email, PASSWORD, timedelta(seconds=-1))
    db.run(lambda s: s.add(LoginFailure(account="someone@example.com", address="192.0.2.1")))
    timeline = [e.kind for e in room.timeline(db, customer.actor, created.session_id)]
    transient = Event.kind.in_(retention.TRANSIENT_EVENTS)
    assert _count(db, Event, transient) > 0
    kept_events = _count(db, Event, ~transient)
    tokens = _count(db, AuthToken)

    # nothing is old yet; an expired sign-in goes at once, the live ones stay
    assert retention.prune(db, settings) == retention.Pruned(tokens=1)
    assert _count(db, AuthToken) == tokens - 1
    assert auth.actor_for_token(db, customer.token) is not None
    assert auth.actor_for_token(db, expired) is None

    pruned = retention.prune(db, settings, now=utcnow() + timedelta(days=100))

    assert pruned.events > 0 and _count(db, Event, transient) == 0
    marks = Event.kind == Kind.EVENTS_PRUNED
    assert _count(db, Event, ~transient, ~marks) == kept_events  # the timeline's events stay
    assert _count(db, Event, marks) >= 1
    with db.read() as s:  # no id the prune deleted is handed out again
        assert events.pruned_up_to(s) < events.latest_id(s)
    assert [e.kind for e in room.timeline(db, customer.actor, created.session_id)] == timeline
    assert pruned.notifications == 1 and _count(db, Notification, Notification.id == first) == 0
    assert _count(db, Notification, Notification.read_at.is_(None)) > 0  # unread ones stay
    assert pruned.login_failures == 1 and _count(db, LoginFailure) == 0
    assert Kind.REQUEST_ACCEPTED.value in timeline


def test_prune_from_the_command_line(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from pitcrew.cli import app
    from pitcrew.config import get_settings

    monkeypatch.setenv("DATABASE_URL", str(db.url))
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, ["prune"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    assert result.output.startswith("Pruned 0 event(s)")


def _prune_all_events(db: Database, settings: Settings) -> int:
    """Prune every notification push and call signal so far but the newest event; the highest
    event id that went."""
    at_once = settings.model_copy(update={"events_retention": timedelta(0)})
    assert retention.prune(db, at_once).events > 0
    with db.read() as s:
        return events.pruned_up_to(s)


def _told_to_reload(base: str, person: Person, last_event_id: int) -> None:
    token = str(person.client.headers["Authorization"]).removeprefix("Bearer ")
    headers = {"Authorization": f"Bearer {token}", "Last-Event-ID": str(last_event_id)}
    with open_events(base, headers, timeout=5.0) as (_, reader):
        reader.ready()
        assert [reader.line(), reader.line(), reader.line()] == ["event: reload", "data: {}", ""]
        assert reader.next() is None  # and the stream is over


def _replayed_kinds(base: str, person: Person, last_event_id: int, sid: str) -> list[str]:
    token = str(person.client.headers["Authorization"]).removeprefix("Bearer ")
    headers = {"Authorization": f"Bearer {token}", "Last-Event-ID": str(last_event_id)}
    with open_events(base, headers, timeout=5.0) as (_, reader):
        reader.ready()
        got = reader.until(lambda m: m.data.get("session_id") == sid)
    assert all(m.id > last_event_id for m in got)
    return [m.kind for m in got]


def test_a_stream_from_before_what_was_pruned_is_told_to_reload(
    db: Database, settings: Settings, customer: Person, mechanic: Person
) -> None:
    start_session(db, customer)
    start_session(db, customer)  # its events are the newest, which pruning keeps
    before_start = _prune_all_events(db, settings)  # read by the server as it starts
    app = create_app(settings, db)
    with serve_in_thread(app) as base:
        bus: events.EventBus = app.state.events_bus
        assert bus.pruned_up_to == before_start
        _told_to_reload(base, mechanic, before_start - 1)
        _told_to_reload(base, mechanic, 0)

        start_session(db, customer)
        start_session(db, customer)
        while_running = _prune_all_events(db, settings)  # reaches the server as a live event
        assert while_running > before_start
        wait_for(lambda: bus.pruned_up_to == while_running, "the server to see the prune")
        _told_to_reload(base, mechanic, while_running - 1)
        bus.pruned_up_to = before_start  # a server that has not yet heard of the prune
        _told_to_reload(base, mechanic, while_running - 1)  # learns it from the table

        # From the pruned id on nothing is missing: the usual replay.
        sid = start_session(db, customer).sid
        assert _replayed_kinds(base, mechanic, while_running, sid)[-1] == "request.created"


def test_the_server_prunes_every_interval(db: Database, settings: Settings) -> None:
    failed = LoginFailure(account="someone@example.com", address="192.0.2.1")
    failed.at = utcnow() - settings.login_window - timedelta(minutes=1)
    db.run(lambda s: s.add(failed))
    app = create_app(settings.model_copy(update={"prune_interval_seconds": 0.2}), db)
    with serve_in_thread(app):
        wait_for(lambda: _count(db, LoginFailure) == 0, "the server's prune")
    assert _count(db, LoginFailure) == 0, "the old failed sign-in is still there"


def test_a_zero_interval_leaves_pruning_to_the_command(settings: Settings, db: Database) -> None:
    off = create_app(settings.model_copy(update={"prune_interval_seconds": 0}), db)
    on = create_app(settings, db)
    assert retention.service not in off.state.services
    assert retention.service in on.state.services


@pytest.mark.browser
@pytest.mark.postgres_only
def test_a_page_told_to_reload_shows_the_current_state(pg_db: Database, pg_url: str) -> None:
    """A page whose stream drops and reconnects from before a prune reloads by itself."""
    import re

    from tests.support.factories import PASSWORD, create_account
    from tests.support.live import chromium

    settings = Settings(database_url=pg_url)
    app = create_app(settings, pg_db)
    driver = create_account(pg_db, Role.CUSTOMER, "Casey Driver")
    other = create_account(pg_db, Role.CUSTOMER, "Dana Driver")
    create_account(pg_db, Role.MECHANIC, "Bea Mechanic")  # on duty: notified of requests
    with serve_in_thread(app) as base, chromium() as browser:
        page = browser.new_context(base_url=base).new_page()
        page.goto("/login")
        page.get_by_label("Email").fill(driver.email)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(re.compile(r"/sessions$"))
        page.evaluate("window.__before_prune = true")
        bus: events.EventBus = app.state.events_bus
        wait_for(lambda: bus.subscriber_count == 1, "the page's live stream")

        for _ in range(2):  # pushes to the mechanic, none to this page
            start_session(pg_db, other.actor)
        up_to = _prune_all_events(pg_db, settings)
        wait_for(lambda: bus.pruned_up_to == up_to, "the server to see the prune")
        with page.expect_navigation(timeout=10_000):  # the reload
            for subscription in list(bus._subscribers):  # the page's connection drops
                subscription.end()
        assert page.evaluate("window.__before_prune === true") is False
        page.wait_for_load_state()
        wait_for(lambda: bus.subscriber_count == 1, "the reloaded page's live stream")
        with pg_db.read() as s:
            latest = events.latest_id(s)
        assert int(page.evaluate("document.body.dataset.lastEvent")) >= latest
