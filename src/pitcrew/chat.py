"""Chat in a session: text lines and photos, from its customer or its mechanic; before the
mechanic joins, the details the customer adds while waiting (``flow.SESSION_FLOW``).

A message changes no status, but it follows the same discipline as the status flow: the
session is locked, the sender checked against its parties (``access``) and the session's
status against the flow's table (``Action.MESSAGE``), and the row commits with its event.
Photos are checked, cleaned and stored by ``media`` before their message row exists.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session as DbSession

from pitcrew import access, events, pair
from pitcrew.access import parse_id
from pitcrew.auth import Actor
from pitcrew.db import Database
from pitcrew.errors import Invalid
from pitcrew.events import Kind
from pitcrew.flow import SESSION_FLOW, Action, refuse
from pitcrew.models import Session, SessionMessage, utcnow
from pitcrew.payloads import MessageCreated
from pitcrew.schemas import MessageOut


@dataclass(frozen=True)
class Attachment:
    """A photo already kept for good in the photo store (by key), waiting for its message."""

    path: str
    content_type: str
    width: int
    height: int
    size: int
    thumbnail_path: str


def post_message(db: Database, actor: Actor, session_id: uuid.UUID | str, body: str) -> MessageOut:
    """A chat line from the session's customer or mechanic, in a status the flow allows."""
    sid = parse_id(session_id, "session_id")
    body = body.strip()
    if not body:
        raise Invalid("A message cannot be empty.", code="empty_message")
    return _add_message(db, actor, sid, body)


def post_photo(
    db: Database,
    actor: Actor,
    session_id: uuid.UUID,
    attachment: Attachment,
    caption: str,
) -> MessageOut:
    """A photo in the chat of a live session: the message row for files already on disk.

    The caller writes the files first; this commits the row and its event together, so a
    message never names a file that is not there. The upload's route has read the session's
    id from its path already.
    """
    return _add_message(db, actor, session_id, caption.strip(), attachment)


def check_may_post(db: Database, actor: Actor, session_id: uuid.UUID) -> None:
    """Refuse now what :func:`post_photo` would refuse, so a refused photo is never stored."""
    with db.read() as s:
        _check_may_message(actor, access.load_session(s, session_id))


def _check_may_message(actor: Actor, session: Session) -> None:
    access.check_party(actor, session)
    if session.status not in SESSION_FLOW[Action.MESSAGE][0]:
        raise refuse(Action.MESSAGE, session.status)


def _files(attachment: Attachment | None) -> dict[str, Any]:
    if attachment is None:
        return {}
    return {
        "attachment_path": attachment.path,
        "attachment_type": attachment.content_type,
        "attachment_width": attachment.width,
        "attachment_height": attachment.height,
        "attachment_bytes": attachment.size,
        "thumbnail_path": attachment.thumbnail_path,
    }


def _add_message(
    db: Database,
    actor: Actor,
    sid: uuid.UUID,
    body: str,
    attachment: Attachment | None = None,
) -> MessageOut:
    """A chat message row and its event in one transaction, text and photo alike."""
    files = _files(attachment)

    def work(s: DbSession) -> MessageOut:
        session = pair.lock(s, sid).session
        _check_may_message(actor, session)
        message = SessionMessage(
            id=uuid.uuid4(),
            session_id=sid,
            sender_id=actor.id,
            body=body,
            created_at=utcnow(),
            **files,
        )
        s.add(message)
        s.flush()
        out = MessageOut.of(message, actor.name)
        events.record(
            s,
            Kind.MESSAGE_CREATED,
            actor_id=actor.id,
            audience=pair.audience(session),
            session_id=sid,
            payload=MessageCreated(message=out.model_dump(mode="json")),
        )
        return out

    return db.run(work)
