"""Keeping the tables that only grow in check: what may go, and when.

Only what nothing reads any more is deleted:

- events of the kinds no timeline shows (notification pushes, call signalling and read
  markers moving), once
  older than ``EVENTS_RETENTION``, but never the newest event of all; every event a
  session timeline, History or the doctor's audit trail reads is kept;
- notifications already read or resolved, older than ``NOTIFICATIONS_RETENTION``;
- emails sent (or given up on), older than ``EMAIL_RETENTION``; unsent ones are kept;
- sign-in tokens past their expiry, account tokens (email links to confirm an address or
  set a new password, known browsers) past theirs, and failed sign-ins older than
  ``LOGIN_WINDOW`` (they no longer count toward the limit).

Each batch of events deleted leaves, in its own transaction, an ``events.pruned`` mark with
the highest id it deleted: a live page asking to replay from below it is told to reload
rather than shown a replay with a silent gap.

Rows go in batches of short transactions, so a large first prune never holds locks for
long. On PostgreSQL one host prunes at a time (an advisory lock); the deletes are
harmless to repeat, so a prune that finds the lock taken simply does nothing. That is what
lets every server run the prune itself, every ``PRUNE_INTERVAL_SECONDS`` (:func:`service`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import AbstractAsyncContextManager, contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, delete, func, select, text
from sqlalchemy.orm import InstrumentedAttribute
from sqlalchemy.orm import Session as DbSession

from pitcrew import events
from pitcrew.config import Settings
from pitcrew.db import Database
from pitcrew.events import Audience, Kind
from pitcrew.models import (
    AccountToken,
    AuthToken,
    EmailOutbox,
    Event,
    LoginFailure,
    Notification,
    utcnow,
)
from pitcrew.payloads import EventsPruned
from pitcrew.periodic import Periodic, in_thread

log = logging.getLogger(__name__)

PRUNE_LOCK = 7201
BATCH = 5000
# Pushed to live pages and kept elsewhere (notifications) or meaningless later (signalling).
TRANSIENT_EVENTS = (
    Kind.NOTIFICATION_CREATED.value,
    Kind.CALL_SIGNAL.value,
    Kind.MESSAGE_READ.value,
)


@dataclass(frozen=True)
class Pruned:
    events: int = 0
    notifications: int = 0
    emails: int = 0
    tokens: int = 0
    account_tokens: int = 0
    login_failures: int = 0
    skipped: bool = False  # another host held the lock

    def describe(self) -> str:
        if self.skipped:
            return "Another server is pruning; nothing done here."
        return (
            f"Pruned {self.events} event(s), {self.notifications} notification(s), "
            f"{self.emails} email(s), {self.tokens} expired sign-in(s), "
            f"{self.account_tokens} expired email link(s) and known browser(s), "
            f"{self.login_failures} old failed sign-in(s)."
        )


def prune(db: Database, settings: Settings, *, now: datetime | None = None) -> Pruned:
    """Delete what the retention settings let go of; how many rows of each kind."""
    now = now or utcnow()
    with _one_at_a_time(db) as mine:
        if not mine:
            return Pruned(skipped=True)
        return Pruned(
            events=_prune_events(db, now - settings.events_retention),
            notifications=_in_batches(
                db,
                Notification.id,
                Notification.read_at.is_not(None) | Notification.resolved_at.is_not(None),
                Notification.created_at < now - settings.notifications_retention,
            ),
            emails=_in_batches(
                db,
                EmailOutbox.id,
                (EmailOutbox.sent_at.is_not(None)) | (EmailOutbox.next_attempt_at.is_(None)),
                EmailOutbox.created_at < now - settings.email_retention,
            ),
            tokens=_in_batches(db, AuthToken.token_hash, AuthToken.expires_at < now),
            account_tokens=_in_batches(db, AccountToken.token_hash, AccountToken.expires_at < now),
            login_failures=_in_batches(
                db, LoginFailure.id, LoginFailure.at < now - settings.login_window
            ),
        )


def service(app: Any) -> AbstractAsyncContextManager[Any]:
    """The prune as one of ``app.state.services``: a round every ``PRUNE_INTERVAL_SECONDS``.

    The first round waits one interval too, so servers restarted together do not all prune
    at once; a round cut off by the stop leaves the rest to the next one (each batch is
    its own transaction).
    """
    db: Database = app.state.db
    settings: Settings = app.state.settings

    def one_round() -> Pruned:
        pruned = prune(db, settings)
        if not pruned.skipped and pruned != Pruned():
            log.info(pruned.describe())
        return pruned

    every = settings.prune_interval_seconds
    return Periodic(
        "prune", in_thread(one_round), every_seconds=every, first_after_seconds=every
    ).running()


def _prune_events(db: Database, before: datetime) -> int:
    """Delete old transient events in id order, each batch with its ``events.pruned`` mark."""

    # The newest event always stays: SQLite numbers a new row max(id) + 1, so deleting the
    # newest would hand its id, which pages have already seen, to the next event.
    newest = select(func.max(Event.id)).scalar_subquery()

    def one_batch(s: DbSession) -> int:
        chosen = list(
            s.scalars(
                select(Event.id)
                .where(Event.kind.in_(TRANSIENT_EVENTS), Event.at < before, Event.id < newest)
                .order_by(Event.id)
                .limit(BATCH)
            )
        )
        if not chosen:
            return 0
        s.execute(delete(Event).where(Event.id.in_(chosen)))
        mark: EventsPruned = {"up_to": max(chosen)}
        events.record(s, Kind.EVENTS_PRUNED, actor_id=None, audience=Audience(), payload=mark)
        return len(chosen)

    total = 0
    while (deleted := db.run(one_batch)) > 0:
        total += deleted
    return total


def _in_batches(
    db: Database, key: InstrumentedAttribute[object], *where: ColumnElement[bool]
) -> int:
    """Delete the rows matching ``where``, a batch per transaction; how many went."""
    table = key.class_

    def one_batch(s: DbSession) -> int:
        chosen = select(key).where(*where).limit(BATCH).scalar_subquery()
        result = s.execute(delete(table).where(key.in_(chosen)))
        return int(result.rowcount or 0)  # type: ignore[attr-defined]

    total = 0
    while (deleted := db.run(one_batch)) > 0:
        total += deleted
    return total


@contextmanager
def _one_at_a_time(db: Database) -> Iterator[bool]:
    """Hold PostgreSQL's advisory lock for the prune (SQLite has one writer anyway)."""
    if not db.is_postgres:
        yield True
        return
    with db.engine.connect() as connection:
        got = connection.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": PRUNE_LOCK})
        connection.commit()
        try:
            yield bool(got.scalar())
        finally:
            connection.execute(text("SELECT pg_advisory_unlock_all()"))
            connection.commit()
