"""The operator's console as JSON: ``/api/admin/...``, for admins only.

Thin like the rest of the API: each route calls one function of ``console`` (reads),
``oversight`` (sessions) or ``people`` (accounts) and shapes its answer.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query

from pitcrew import console, oversight
from pitcrew.admin_schemas import (
    CancelForCustomerIn,
    CancelledOut,
    Floor,
    ReassignedOut,
    ReassignIn,
    SessionFile,
    SessionPage,
    SessionQuery,
)
from pitcrew.web.deps import DB, Admin, SettingsDep
from pitcrew.web.errors import _responses

router = APIRouter(prefix="/api/admin", tags=["admin"])

READ = _responses(401, 403, 422)


@router.get("/floor", response_model=Floor, responses=_responses(401, 403))
def floor(db: DB, admin: Admin, settings: SettingsDep) -> Floor:
    """Pending requests oldest first (with the time left before each expires), mechanics on
    duty with the sessions they hold, and the sessions waiting for their mechanic or live."""
    with db.read() as s:
        return console.floor(s, settings.request_ttl)


@router.get("/sessions", response_model=SessionPage, responses=READ)
def find_sessions(db: DB, admin: Admin, query: Annotated[SessionQuery, Query()]) -> SessionPage:
    """Any session, newest first: by customer or mechanic (name or email), vehicle, VIN,
    status, and the days it was created between; 50 a page."""
    with db.read() as s:
        return console.find_sessions(s, query)


ON_SESSION = _responses(401, 403, 404, 422)
CHANGE_SESSION = _responses(401, 403, 404, 409, 413, 422)


@router.get("/sessions/{session_id}", response_model=SessionFile, responses=ON_SESSION)
def open_session(session_id: uuid.UUID, db: DB, admin: Admin) -> SessionFile:
    """One session, read-only: its detail, timeline and chat."""
    return console.open_session(db, admin, session_id)


@router.post(
    "/sessions/{session_id}/reassign", response_model=ReassignedOut, responses=CHANGE_SESSION
)
def reassign(session_id: uuid.UUID, body: ReassignIn, db: DB, admin: Admin) -> ReassignedOut:
    """Move a waiting session and its request to another mechanic on duty, in one guarded
    transaction; 409 when it is no longer waiting for ``from_mechanic_id``."""
    return oversight.reassign(db, admin, session_id, body.mechanic_id, body.from_mechanic_id)


@router.post("/sessions/{session_id}/cancel", response_model=CancelledOut, responses=CHANGE_SESSION)
def cancel(session_id: uuid.UUID, body: CancelForCustomerIn, db: DB, admin: Admin) -> CancelledOut:
    """Cancel a session on its customer's behalf, with the reason they gave."""
    return oversight.cancel_for_customer(db, admin, session_id, body.reason)
