"""The consult report: what a driver takes away from a session, and the car's history of them.

``flow.complete`` writes the report (:func:`write`) in the transaction that completes the
session, so a completed session has its report exactly when the completion committed. Its
two parties read it (:func:`read`, the page and the PDF); the mechanic who holds a later
session on the same car reads the earlier ones (:func:`history`), and only while it is theirs.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session as DbSession

from pitcrew import access
from pitcrew.auth import Actor
from pitcrew.db import Database
from pitcrew.errors import NotFound
from pitcrew.models import (
    HELD_STATUSES,
    Intake,
    Session,
    SessionMessage,
    SessionReport,
    SessionStatus,
    User,
)
from pitcrew.schemas import CompleteIn, HistoryEntry, ReportOut, Step, message_photo

URGENCY_WORDS = {"now": "Now", "soon": "Soon", "can_wait": "Can wait"}


def cost_words(low: int | None, high: int | None) -> str:
    """A step's estimated cost in words: a range, a floor, a ceiling, or nothing."""
    if low is not None and high is not None:
        return f"{low:,}" if low == high else f"{low:,} to {high:,}"
    if low is not None:
        return f"from {low:,}"
    return f"up to {high:,}" if high is not None else ""


def write(s: DbSession, session_id: uuid.UUID, report: CompleteIn) -> None:
    """Store the report of a session being completed (inside its transaction).

    A chosen photo must be one of this session's chat photos; anything else is refused, so a
    report never shows another session's picture.
    """
    chosen = list(dict.fromkeys(report.photo_ids))
    if chosen:
        found = set(
            s.scalars(
                select(SessionMessage.id).where(
                    SessionMessage.id.in_(chosen),
                    SessionMessage.session_id == session_id,
                    SessionMessage.attachment_path.is_not(None),
                )
            )
        )
        if len(found) != len(chosen):
            # Like any photo id that is not this session's: as unknown as a made-up one.
            raise NotFound("No such photo in this session's chat.", code="photo_not_found")
    s.add(
        SessionReport(
            session_id=session_id,
            summary=report.summary,
            findings=report.findings,
            steps=[step.model_dump(mode="json") for step in report.steps],
            trouble_codes=list(dict.fromkeys(report.trouble_codes)),
            photo_ids=[str(p) for p in chosen],
        )
    )
    s.flush()


def _photos(s: DbSession, session_id: uuid.UUID, ids: list[str]) -> list[SessionMessage]:
    """The chosen photos in the order they were chosen."""
    wanted = [uuid.UUID(i) for i in ids]
    if not wanted:
        return []
    rows = s.scalars(
        select(SessionMessage).where(
            SessionMessage.id.in_(wanted), SessionMessage.session_id == session_id
        )
    ).all()
    by_id = {m.id: m for m in rows}
    return [by_id[i] for i in wanted if i in by_id]


def out(s: DbSession, row: SessionReport) -> ReportOut:
    photos = [p for p in (message_photo(m) for m in _photos(s, row.session_id, row.photo_ids)) if p]
    return ReportOut(
        session_id=row.session_id,
        summary=row.summary,
        findings=row.findings,
        steps=[Step.model_validate(step) for step in row.steps],
        trouble_codes=list(row.trouble_codes),
        photos=photos,
        created_at=row.created_at,
    )


def of_session(s: DbSession, session_id: uuid.UUID) -> ReportOut | None:
    """The session's report, for a reader already let in (``room.detail``)."""
    row = s.get(SessionReport, session_id)
    return out(s, row) if row is not None else None


# --- the document ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Document:
    """What the PDF shows: the report, whose it is, and where the chosen photos are kept."""

    report: ReportOut
    vehicle_info: dict[str, object]
    customer_name: str
    mechanic_name: str
    photo_keys: list[str]  # in the photo store, in the order they were chosen


def document(db: Database, actor: Actor, session_id: uuid.UUID) -> Document:
    """The report of a session for one of its two parties (or an admin looking into it);
    anyone else: no such report."""
    with db.read() as s:
        session = access.load_session(s, session_id)
        access.check_reader(actor, session)
        row = s.get(SessionReport, session_id)
        if row is None:
            raise NotFound("This session has no report yet.", code="report_not_found")
        intake = s.get(Intake, session.intake_id) if session.intake_id else None
        parties = [session.customer_user_id, session.mechanic_id]
        names = {
            row.id: row.name
            for row in s.execute(select(User.id, User.name).where(User.id.in_(parties)))
        }
        chosen = _photos(s, session_id, row.photo_ids)
        return Document(
            report=out(s, row),
            vehicle_info=dict(intake.vehicle_info) if intake else {},
            customer_name=names.get(session.customer_user_id, ""),
            mechanic_name=names.get(session.mechanic_id, "") if session.mechanic_id else "",
            photo_keys=[m.attachment_path for m in chosen if m.attachment_path],
        )


# --- the car's history ------------------------------------------------------------------------


def _held_by(s: DbSession, mechanic: Actor, session_id: uuid.UUID) -> Session:
    """The session, when this mechanic holds it now; to anyone else it has no history."""
    session = access.load_session(s, session_id)
    if session.mechanic_id != mechanic.id or session.status not in HELD_STATUSES:
        raise access.unknown_session()
    return session


def _vehicle_of(s: DbSession, session: Session) -> uuid.UUID | None:
    if session.intake_id is None:
        return None
    return s.scalar(select(Intake.vehicle_id).where(Intake.id == session.intake_id))


def history(db: Database, mechanic: Actor, session_id: uuid.UUID) -> list[HistoryEntry]:
    """The earlier reports on this session's car (same customer, same car), newest first."""
    with db.read() as s:
        session = _held_by(s, mechanic, session_id)
        vehicle_id = _vehicle_of(s, session)
        if vehicle_id is None:
            return []
        rows = s.execute(
            select(Session.id, Session.ended_at, User.name, SessionReport)
            .join(Intake, Intake.id == Session.intake_id)
            .join(SessionReport, SessionReport.session_id == Session.id)
            .outerjoin(User, User.id == Session.mechanic_id)
            .where(
                Intake.vehicle_id == vehicle_id,
                Session.customer_user_id == session.customer_user_id,
                Session.status == SessionStatus.COMPLETED,
                Session.id != session.id,
            )
            .order_by(Session.ended_at.desc())
        ).all()
        return [
            HistoryEntry(
                session_id=sid,
                completed_at=ended or row.created_at,
                mechanic_name=name or "A mechanic",
                summary=row.summary,
                trouble_codes=list(row.trouble_codes),
                url=f"/sessions/{session.id}/history/{sid}",
            )
            for sid, ended, name, row in rows
        ]


def earlier(
    db: Database, mechanic: Actor, session_id: uuid.UUID, earlier_id: uuid.UUID
) -> Document:
    """One earlier report on the car of the session this mechanic holds (no photos: those
    belong to that session's parties)."""
    with db.read() as s:
        session = _held_by(s, mechanic, session_id)
        vehicle_id = _vehicle_of(s, session)
        before = s.get(Session, earlier_id)
        row = s.get(SessionReport, earlier_id)
        same_car = (
            vehicle_id is not None
            and before is not None
            and before.id != session.id
            and before.customer_user_id == session.customer_user_id
            and _vehicle_of(s, before) == vehicle_id
        )
        if not same_car or row is None or before is None:
            raise NotFound("No such report on this car.", code="report_not_found")
        intake = s.get(Intake, before.intake_id) if before.intake_id else None
        mechanic_name = s.scalar(select(User.name).where(User.id == before.mechanic_id))
        report = out(s, row).model_copy(update={"photos": []})
        return Document(
            report=report,
            vehicle_info=dict(intake.vehicle_info) if intake else {},
            customer_name=s.scalar(select(User.name).where(User.id == before.customer_user_id))
            or "",
            mechanic_name=mechanic_name or "",
            photo_keys=[],
        )
