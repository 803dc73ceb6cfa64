"""Pruning deletes what nothing reads any more, and keeps what timelines and sign-ins need."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from pitcrew import auth, flow, notify, retention, room
from pitcrew.config import Settings
from pitcrew.db import Database
from pitcrew.events import Kind
from pitcrew.models import AuthToken, Event, LoginFailure, Notification, Role, utcnow
from pitcrew.schemas import IntakeIn
from tests.support.accounts import PASSWORD, account
from tests.support.factories import INTAKE

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
    with db.read() as s:
        assert auth.user_for_token(s, customer.token) is not None
        assert auth.user_for_token(s, expired) is None

    pruned = retention.prune(db, settings, now=utcnow() + timedelta(days=100))

    assert pruned.events > 0 and _count(db, Event, transient) == 0
    assert _count(db, Event, ~transient) == kept_events  # the timeline's events stay
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
