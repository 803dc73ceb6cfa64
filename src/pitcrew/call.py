"""What a party's browser needs before it places a video call: its part, the ICE servers.

The call itself is browser to browser (WebRTC); pitcrew only carries its signalling
(``flow.signal``) over the events stream. ICE servers may hold TURN credentials, so only
the session's customer and its mechanic are given them.
"""

from __future__ import annotations

import uuid

from sqlalchemy import select

from pitcrew.config import Settings
from pitcrew.db import Database
from pitcrew.errors import Forbidden, NotFound
from pitcrew.flow import MAX_SIGNAL_BYTES, Actor
from pitcrew.models import Role, Session
from pitcrew.schemas import CallOut


def setup(db: Database, actor: Actor, session_id: uuid.UUID, settings: Settings) -> CallOut:
    with db.read() as s:
        row = s.execute(
            select(
                Session.type, Session.status, Session.customer_user_id, Session.mechanic_id
            ).where(Session.id == session_id)
        ).first()
    if row is None:
        raise NotFound("No such session.")
    if actor.id not in (row.customer_user_id, row.mechanic_id):
        raise Forbidden("This session is not yours.")
    return CallOut(
        session_id=session_id,
        session_type=row.type,
        session_status=row.status,
        role=Role.CUSTOMER if actor.id == row.customer_user_id else Role.MECHANIC,
        ice_servers=[server.model_dump(exclude_none=True) for server in settings.ice_servers],
        max_signal_bytes=MAX_SIGNAL_BYTES,
    )
