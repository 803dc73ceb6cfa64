"""The dry run and ``--apply``: reading without writing, and writing only what was planned.

``--apply`` repairs in one transaction. Each change is guarded by the state it was planned
from, so a repair never lands on a row that changed meanwhile (``RepairRaced``, and nothing
is written), and each repair is recorded with its before and after: in ``events`` on a
pitcrew database, or in ``pitcrew_repairs`` on one of the system pitcrew replaces, which
adoption later moves into ``events``.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections import defaultdict
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    ColumnElement,
    Connection,
    Integer,
    MetaData,
    String,
    Table,
    Update,
    Uuid,
    bindparam,
    insert,
    text,
    update,
)
from sqlalchemy.orm import Session as DbSession

from pitcrew import events
from pitcrew.db import Database
from pitcrew.doctor import media
from pitcrew.doctor.diagnosis import diagnose
from pitcrew.doctor.problems import Change, Problem, Report, plain
from pitcrew.doctor.shape import GUARDS, Shape, table_named
from pitcrew.events import Audience, Kind
from pitcrew.models import JSONType, UTCDateTime, utcnow
from pitcrew.photo_store import PhotoStore

_repairs_metadata = MetaData()
# The audit trail on a database that has no ``events`` table: the same columns as events.
REPAIRS = Table(
    "pitcrew_repairs",
    _repairs_metadata,
    Column("id", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True),
    Column("at", UTCDateTime, nullable=False),
    Column("actor_id", Uuid),
    Column("kind", String(64), nullable=False),
    Column("session_id", Uuid),
    Column("request_id", Uuid),
    Column("payload", JSONType, nullable=False),
)

# One guarded UPDATE serves every change of the same table, columns and guards.
_Group = tuple[str, tuple[str, ...], tuple[tuple[str, bool], ...]]


class RepairRaced(Exception):
    """A row changed between planning a repair and writing it; nothing was written."""


def check(db: Database, *, photos: PhotoStore | None = None) -> Report:
    """The dry run: read-only (on PostgreSQL the transaction is declared READ ONLY)."""
    with db.engine.connect() as connection, connection.begin():
        if db.is_postgres:
            connection.execute(text("SET TRANSACTION READ ONLY"))
        return _diagnose(connection, photos)


def apply(
    db: Database,
    *,
    photos: PhotoStore | None = None,
    by: uuid.UUID | None = None,
    planned: str | None = None,
) -> Report:
    """Repair everything certain, in one transaction, with an audit row per repair.

    ``by`` is the admin who asked (from the console; the command line names nobody), the
    actor of each audit row. ``planned`` is the :func:`plan_digest` of the repairs they were
    shown: if the repairs to make now differ, nothing is written (``RepairRaced``).

    Writers are held off for the length of the repair (on PostgreSQL by an EXCLUSIVE table
    lock, on SQLite by the write lock every transaction takes), so the diagnosis the repair
    is planned from is the state it is written to. Stored photos no message names are removed
    once that transaction has committed, so a rollback never leaves a message without its file.
    """

    def work(session: DbSession) -> Report:
        connection = session.connection()
        if db.is_postgres:
            connection.execute(text("LOCK TABLE session_requests, sessions IN EXCLUSIVE MODE"))
        report = _diagnose(connection, photos)
        if planned is not None and plan_digest(report) != planned:
            raise RepairRaced("the repairs to make changed since they were shown; look again")
        return write(session, report, by=by)

    report = db.run(work)
    if photos is not None:
        media.remove(photos, report)
    return report


def _diagnose(connection: Connection, photos: PhotoStore | None) -> Report:
    """The database's problems, and with ``photos`` those of the stored photos."""
    report = diagnose(connection)
    if photos is not None:
        media.include(report, connection, photos)
    return report


def plan_digest(report: Report) -> str:
    """A fingerprint of exactly what a repair would change and remove.

    A moment a repair writes (a cancelled session's end) is the moment it runs, so it
    counts as "now" here: the same plan shown a minute ago is still the same plan.
    """
    plan = [
        {
            "changes": [
                {
                    "table": c.table,
                    "id": str(c.id),
                    "before": {k: plain(v) for k, v in c.before.items()},
                    "after": {
                        k: "now" if isinstance(v, datetime) else plain(v)
                        for k, v in c.after.items()
                    },
                }
                for c in p.changes
            ],
            "files": sorted(p.files),
        }
        for p in report.repairable
    ]
    return hashlib.sha256(json.dumps(plan, sort_keys=True).encode()).hexdigest()


def write(session: DbSession, report: Report, *, by: uuid.UUID | None = None) -> Report:
    """Write a report's repairs and their audit rows inside the caller's transaction.

    Raises ``RepairRaced`` when a row no longer says what the repair was planned from; the
    caller's transaction then rolls back whatever this call wrote before it noticed.
    """
    connection = session.connection()
    _write_all(connection, [c for p in report.repairable for c in p.changes])
    _record_all(session, connection, report.shape, report.repairable, by)
    report.applied = True
    return report


def _group_of(change: Change) -> _Group:
    """Which UPDATE a change joins: a guard on a null is ``IS NULL``, not a parameter."""
    guards = tuple(
        (column, change.before[column] is None)
        for column in GUARDS[change.table]
        if column in change.before
    )
    return (change.table, tuple(change.after), guards)


def _guarded_update(group: _Group) -> Update:
    """One UPDATE for many rows: by id, and only while each guard still holds."""
    name, columns, guards = group
    table = table_named(name)
    where: list[ColumnElement[bool]] = [table.c.id == bindparam("_id")]
    for column, was_null in guards:
        where.append(
            table.c[column].is_(None)
            if was_null
            else table.c[column] == _value(name, column, "_was_")
        )
    return update(table).where(*where).values({c: _value(name, c, "_new_") for c in columns})


def _value(table: str, column: str, prefix: str) -> Any:
    """A parameter for ``column``; a status is bound as text, as the doctor reads it."""
    kind = String() if column == "status" else table_named(table).c[column].type
    return bindparam(f"{prefix}{column}", type_=kind)


def _write_all(connection: Connection, changes: list[Change]) -> None:
    """Write the changes, grouped into one guarded UPDATE per shape, each run for many rows."""
    groups: defaultdict[_Group, list[Change]] = defaultdict(list)
    for change in changes:
        groups[_group_of(change)].append(change)
    for group, planned in groups.items():
        name, columns, guards = group
        rows = [
            {
                "_id": change.id,
                **{f"_was_{c}": change.before[c] for c, was_null in guards if not was_null},
                **{f"_new_{c}": change.after[c] for c in columns},
            }
            for change in planned
        ]
        if connection.execute(_guarded_update(group), rows).rowcount != len(rows):
            raise RepairRaced(f"{name} rows changed while they were being repaired; run again")


def _payload(problem: Problem) -> dict[str, Any]:
    return {
        "check": problem.check,
        "invariants": list(problem.invariants),
        "problem": problem.state,
        "repair": problem.repair,
        "changes": [c.as_json() for c in problem.changes],
        "files": list(problem.files),
    }


def _record_all(
    session: DbSession,
    connection: Connection,
    shape: Shape,
    problems: list[Problem],
    by: uuid.UUID | None = None,
) -> None:
    """One audit row per repair: in events on pitcrew, else in pitcrew_repairs."""
    if not problems:
        return
    if shape.has_events:
        for problem in problems:
            events.record(
                session,
                Kind.REPAIR,
                actor_id=by,
                audience=Audience(users=problem.people),
                session_id=problem.session_id,
                request_id=problem.request_id,
                payload=_payload(problem),
            )
        return
    rows = [
        {
            "at": utcnow(),
            "actor_id": by,
            "kind": Kind.REPAIR.value,
            "session_id": problem.session_id,
            "request_id": problem.request_id,
            "payload": {
                **_payload(problem),
                "audience": Audience(users=problem.people).as_payload(),
            },
        }
        for problem in problems
    ]
    REPAIRS.create(connection, checkfirst=True)
    connection.execute(insert(REPAIRS), rows)
