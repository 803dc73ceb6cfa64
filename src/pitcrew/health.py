"""The doctor's checks as the console shows them, its repairs on an admin's word, and the
audit list of what admins changed.

The check is ``doctor.check`` (read-only); "repair what is certain" is ``doctor.apply``,
given the fingerprint of the repairs the admin was shown: if anything else would change now,
nothing is written and the admin looks again. Each repair is written to the events log with
the admin as its actor, like every other change an admin makes.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session as DbSession

from pitcrew import doctor, invariants, payloads, room
from pitcrew.access import require_admin
from pitcrew.admin_schemas import (
    AuditEntry,
    Finding,
    Health,
    InvariantCheck,
    PlannedChange,
    RepairDone,
    Repaired,
)
from pitcrew.auth import Actor
from pitcrew.db import Database
from pitcrew.doctor import Problem
from pitcrew.errors import Conflict
from pitcrew.events import Kind
from pitcrew.models import Event, Role, User
from pitcrew.payloads import AccountChanged
from pitcrew.photo_store import PhotoStore

LAST_REPAIRS = 20
AUDIT_SIZE = 100
COMMAND_LINE = "pitcrew doctor (command line)"
# Told by another line of the same change (the session's own), or not a change at all.
NOT_AUDITED = (Kind.REQUEST_CANCELLED, Kind.NOTIFICATION_CREATED, Kind.MESSAGE_CREATED)


def _finding(problem: Problem) -> Finding:
    return Finding(
        check=problem.check,
        invariants=list(problem.invariants),
        session_id=problem.session_id,
        request_id=problem.request_id,
        problem=problem.state,
        repair=problem.repair,
        changes=[
            PlannedChange(table=c.table, id=c.id, before=c.before, after=c.after)
            for c in problem.changes
        ],
        files=list(problem.files),
    )


def check(db: Database, admin: Actor, photos: PhotoStore | None) -> Health:
    """Each invariant with its count, what a repair would change, and the last repairs."""
    require_admin(admin)
    report = doctor.check(db, photos=photos)
    checks = [
        InvariantCheck(number=inv.number, rule=inv.rule, count=report.violations.get(inv.name, 0))
        for inv in invariants.INVARIANTS
    ]
    repairable = [_finding(p) for p in report.repairable]
    with db.read() as s:
        last = _last_repairs(s)
    return Health(
        invariants=checks,
        repairable=repairable,
        for_a_person=[_finding(p) for p in report.for_a_person],
        plan=doctor.plan_digest(report) if repairable else None,
        last_repairs=last,
    )


def repair(db: Database, admin: Actor, plan: str, photos: PhotoStore | None) -> Repaired:
    """Repair what is certain, exactly as shown to the admin (``plan``), or nothing."""
    require_admin(admin)
    try:
        report = doctor.apply(db, photos=photos, by=admin.id, planned=plan)
    except doctor.RepairRaced:
        raise Conflict(
            "What a repair would change is no longer what you were shown. Look again.",
            code="plan_changed",
        ) from None
    if not report.repairable:
        raise Conflict("There is nothing to repair.", code="nothing_to_repair")
    return Repaired(repaired=len(report.repairable))


def _names(s: DbSession, ids: set[object]) -> dict[object, str]:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    return {i: n for i, n in s.execute(select(User.id, User.name).where(User.id.in_(wanted)))}


def _last_repairs(s: DbSession) -> list[RepairDone]:
    rows = list(
        s.scalars(
            select(Event)
            .where(Event.kind == Kind.REPAIR)
            .order_by(Event.id.desc())
            .limit(LAST_REPAIRS)
        )
    )
    names = _names(s, {r.actor_id for r in rows})
    return [
        RepairDone(
            at=r.at,
            by=names.get(r.actor_id, COMMAND_LINE) if r.actor_id else COMMAND_LINE,
            session_id=r.session_id,
            problem=str(r.payload.get("problem", "")),
            repair=str(r.payload.get("repair", "")),
        )
        for r in rows
    ]


def audit(s: DbSession, *, limit: int = AUDIT_SIZE) -> list[AuditEntry]:
    """What admins changed, newest first: every event whose actor is an admin."""
    rows = s.execute(
        select(Event, User.name)
        .join(User, User.id == Event.actor_id)
        .where(User.role == Role.ADMIN, Event.kind.not_in(NOT_AUDITED))
        .order_by(Event.id.desc())
        .limit(limit)
    ).all()
    return [
        AuditEntry(
            id=event.id,
            at=event.at,
            admin_id=event.actor_id,
            admin_name=name,
            kind=event.kind,
            text=_told(event, name),
            session_id=event.session_id,
        )
        for event, name in rows
    ]


def _told(event: Event, admin_name: str) -> str:
    payload = {k: v for k, v in event.payload.items() if k != "audience"}
    if event.kind == Kind.ACCOUNT_CHANGED:
        changed = payloads.read(AccountChanged, payload)
        return f"{admin_name}: {changed['user_name']} — {changed['detail']}"
    if event.kind == Kind.REPAIR:
        return f"{admin_name} repaired: {payload.get('repair', '')}"
    if event.kind == Kind.REQUEST_RELEASED:
        name = payload.get("mechanic_name", "")
        return f"{admin_name} handed {name}'s waiting session back (account deactivated)."
    return room.tell(event.kind, payload, admin_name)
