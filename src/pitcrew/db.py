"""The engine, one-transaction units of work, and the few places the two databases differ.

Every state change in pitcrew runs through :meth:`Database.run`: one transaction, retried
as a whole when PostgreSQL reports a serialization failure or deadlock, and followed by a
wake-up of the live event stream when it wrote events.
"""

from __future__ import annotations

import contextlib
import logging
import random
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

log = logging.getLogger(__name__)

T = TypeVar("T")

RETRYABLE_SQLSTATES = {"40001", "40P01"}
MAX_ATTEMPTS = 8
EVENTS_WRITTEN = "pitcrew.events_written"
DATABASE = "pitcrew.database"  # in every session's info: the Database it belongs to


def make_engine(url: str, *, pool_size: int = 10) -> Engine:
    """Build an engine with the settings each database needs to keep our promises."""
    if url.startswith("sqlite"):
        engine = create_engine(
            url,
            connect_args={"timeout": 30, "check_same_thread": False},
        )
        _make_sqlite_transactional(engine)
        return engine
    engine = create_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size * 2,
        pool_pre_ping=True,
        pool_recycle=1800,
    )
    _plan_for_the_values(engine)
    return engine


def _plan_for_the_values(engine: Engine) -> None:
    """Plan each statement for the values it runs with, never with a generic plan.

    psycopg prepares a statement once it has run a few times, and PostgreSQL may then switch
    to a generic plan that ignores the values: it cannot use the partial index of pending
    requests (the status is a parameter) nor see that one mechanic holds a tenth of all
    sessions. On a long history that turned dashboard pages of a few milliseconds into
    seconds (see bench/RESULTS.md); planning each time costs a fraction of a millisecond.
    """

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        with dbapi_connection.cursor() as cursor:
            cursor.execute("SET plan_cache_mode = force_custom_plan")
        dbapi_connection.commit()


def _make_sqlite_transactional(engine: Engine) -> None:
    """Make SQLite take the write lock at BEGIN, so two writers never deadlock mid-transaction.

    pysqlite's own transaction handling starts transactions lazily and as DEFERRED; we turn
    it off and issue BEGIN IMMEDIATE ourselves (the SQLAlchemy-documented recipe).
    """

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: sqlite3.Connection, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute("PRAGMA busy_timeout = 30000")
        with contextlib.suppress(sqlite3.OperationalError):  # in-memory databases have no WAL
            cursor.execute("PRAGMA journal_mode = WAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def is_retryable(error: BaseException) -> bool:
    """Serialization failures and deadlocks mean "try the whole transaction again"."""
    if isinstance(error, DBAPIError):
        sqlstate = getattr(error.orig, "sqlstate", None)
        if sqlstate in RETRYABLE_SQLSTATES:
            return True
        if isinstance(error, OperationalError) and "database is locked" in str(error.orig):
            return True
    return False


class Database:
    """One per process: the engine and the transactions every module runs in."""

    def __init__(self, url: str, *, pool_size: int = 10, email_enabled: bool = False) -> None:
        self.url = url
        self.engine = make_engine(url, pool_size=pool_size)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False, info={DATABASE: self})
        # Whether changes committed here queue emails: only where an email sender empties
        # the outbox (a server with SMTP_URL), so no outbox fills up that nobody sends.
        self.email_enabled = email_enabled
        self._after_commit: tuple[Callable[[], None], ...] = ()
        self._subscribing = threading.Lock()

    @property
    def is_postgres(self) -> bool:
        return self.engine.dialect.name == "postgresql"

    def on_events_committed(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Call ``callback`` after every commit that wrote to ``events`` (wakes live streams)
        until the returned callable is called."""
        with self._subscribing:
            self._after_commit = (*self._after_commit, callback)

        subscribed = True

        def unsubscribe() -> None:
            nonlocal subscribed
            with self._subscribing:
                if subscribed:
                    callbacks = list(self._after_commit)
                    callbacks.remove(callback)
                    self._after_commit = tuple(callbacks)
                    subscribed = False

        return unsubscribe

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A short read-only unit of work."""
        with self.sessions() as session, session.begin():
            yield session

    def run(self, work: Callable[[Session], T]) -> T:
        """Run ``work`` in one transaction; retry the whole of it on serialization failures.

        ``work`` must do nothing outside the database that cannot be repeated, since a retry
        runs it again from the start.
        """
        for attempt in range(1, MAX_ATTEMPTS + 1):
            session = self.sessions()
            try:
                with session.begin():
                    result = work(session)
                wrote_events = bool(session.info.get(EVENTS_WRITTEN))
            except Exception as error:
                if attempt < MAX_ATTEMPTS and is_retryable(error):
                    log.info("retrying transaction after %s (attempt %d)", error, attempt)
                    time.sleep(random.uniform(0, 0.005 * 2**attempt))
                    continue
                raise
            finally:
                session.close()
            if wrote_events:
                for callback in self._after_commit:
                    callback()
            return result
        raise AssertionError("unreachable")

    def dispose(self) -> None:
        self.engine.dispose()


def emails_queued(session: Session) -> bool:
    """Whether changes made in ``session`` queue emails (see ``Database.email_enabled``)."""
    database = session.info.get(DATABASE)
    return isinstance(database, Database) and database.email_enabled
