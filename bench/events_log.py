"""A long events log: live replay and a session's timeline over millions of events.

The log is filled with one ``INSERT … SELECT generate_series`` (triggers off, as the history
is; the secondary indexes rebuilt after it): kinds in the mix the product writes, each
session's events spread evenly over the whole log (a session's timeline then touches as
many pages of the table as it has events, the worst case). Each read runs through the
function the product calls (``events.events_after`` for the stream's replay,
``events.session_timeline`` for the timeline) against the very SQL it sends, captured as it
runs, executed raw.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session as DbSession

from bench.database import BenchDatabase
from bench.reads import Plan, captured, explain_sql
from bench.stats import Latency
from pitcrew import events
from pitcrew.db import Database

KINDS = (
    "request.created",
    "notification.created",
    "request.accepted",
    "session.updated",
    "message.created",
    "message.created",
    "call.signal",
    "notification.created",
    "session.updated",
    "message.created",
)
PER_SESSION = 20  # events of each session, spread over the whole log
PAYLOAD = (
    '{"audience": {"users": [], "mechanics": true},'
    ' "message": {"body": "Grinding noise when braking; it started last week."}}'
)


@dataclass
class Read:
    name: str
    sql: str = ""
    params: dict[str, Any] = field(default_factory=dict)
    rows: int = 0
    api: Latency | None = None
    raw: Latency | None = None
    plan: Plan = field(default_factory=Plan)


def _session(n: int) -> uuid.UUID:
    """The id of generated session ``n``, as the INSERT below makes it."""
    return uuid.UUID(hashlib.md5(str(n).encode()).hexdigest())


def fill(db: BenchDatabase, rows: int) -> tuple[float, uuid.UUID]:
    """Append ``rows`` events; the seconds it took (with VACUUM ANALYZE) and a session whose
    timeline is measured."""
    sessions = max(1, rows // PER_SESSION)
    kinds = ", ".join(f"'{k}'" for k in KINDS)
    started = time.monotonic()
    with db.connect(autocommit=False) as conn:
        conn.execute("SET session_replication_role = replica")
        conn.execute("SET maintenance_work_mem = '256MB'")
        # The secondary indexes are built once after the load (a sort) rather than entry by
        # entry (random writes): the same definitions, read from the catalogue.
        indexes = [
            (str(name), str(definition))
            for name, definition in conn.execute(
                "SELECT indexname, indexdef FROM pg_indexes"
                " WHERE tablename = 'events' AND indexname <> 'pk_events'"
            ).fetchall()
        ]
        for name, _ in indexes:
            conn.execute(f'DROP INDEX "{name}"')
        conn.execute(
            "INSERT INTO events (at, actor_id, kind, session_id, request_id, payload)"
            f" SELECT now() - ({rows} - i) * interval '100 milliseconds', NULL,"
            f" (ARRAY[{kinds}])[1 + i % {len(KINDS)}],"
            f" md5((i % {sessions})::text)::uuid, NULL, '{PAYLOAD}'::jsonb"
            f" FROM generate_series(1, {rows}) i"
        )
        for _, definition in indexes:
            conn.execute(definition)
        conn.commit()
    with db.connect() as conn:
        conn.execute("VACUUM (ANALYZE) events")
    return time.monotonic() - started, _session(sessions // 2)


def _measured(
    database: Database,
    bench_db: BenchDatabase,
    read: Read,
    product: Callable[[DbSession], list[Any]],
    samples: int,
) -> Read:
    """Time ``product`` (in its own read transaction, as the stream and the room read)
    against the SQL it sends run raw, alternating, after a warm-up of each."""
    with database.read() as s, captured(database) as seen:
        read.rows = len(product(s))
    read.sql, read.params = seen[-1]
    with bench_db.connect() as conn:
        with database.read() as s:
            mode = s.connection().exec_driver_sql("SHOW plan_cache_mode").scalar()
        conn.execute(f"SET plan_cache_mode = {mode}")  # as the app's engine does
        read.plan = explain_sql(conn, read.sql, read.params)
        api: list[float] = []
        raw: list[float] = []
        for i in range(samples + 5):
            t0 = time.perf_counter()
            conn.execute(read.sql, read.params).fetchall()
            t1 = time.perf_counter()
            with database.read() as s:
                product(s)
            t2 = time.perf_counter()
            if i >= 5:
                raw.append(t1 - t0)
                api.append(t2 - t1)
    read.api, read.raw = Latency.of(api), Latency.of(raw)
    return read


def _replay(after: int) -> Callable[[DbSession], list[Any]]:
    def read(s: DbSession) -> list[Any]:
        return events.events_after(s, after, limit=events.EventBus.PAGE)

    return read


def run(
    database: Database, bench_db: BenchDatabase, session_id: uuid.UUID, samples: int
) -> list[Read]:
    """A replay page near the end and one from the middle, one session's timeline, and the
    newest prune mark."""
    with database.read() as s:
        latest = events.latest_id(s)
    page = events.EventBus.PAGE
    reads = []
    for name, after in (
        ("replay near the end", latest - page // 2),
        ("replay from the middle", latest // 2),
    ):
        label = f"{name} (after id {after:,}, pages of {page})"
        reads.append(_measured(database, bench_db, Read(label), _replay(after), samples))
    reads.append(
        _measured(
            database,
            bench_db,
            Read("one session's timeline"),
            lambda s: events.session_timeline(s, session_id),
            samples,
        )
    )
    reads.append(
        _measured(
            database,
            bench_db,
            Read("where pruning has reached (read as each server starts)"),
            lambda s: [events.pruned_up_to(s)],
            samples,
        )
    )
    return reads
