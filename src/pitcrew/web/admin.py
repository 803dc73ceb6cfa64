"""The operator's console as JSON: ``/api/admin/...``, for admins only.

Thin like the rest of the API: each route calls one function of ``console`` (reads),
``oversight`` (sessions) or ``people`` (accounts) and shapes its answer.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request, status

from pitcrew import console, health, numbers, oversight, people
from pitcrew.admin_schemas import (
    AccountPage,
    AccountQuery,
    AccountRow,
    AuditEntry,
    CancelForCustomerIn,
    CancelledOut,
    Deactivated,
    Floor,
    Health,
    LinkSent,
    MechanicCreated,
    MechanicIn,
    Numbers,
    NumbersQuery,
    ReassignedOut,
    ReassignIn,
    Repaired,
    RepairIn,
    RoleIn,
    SessionFile,
    SessionPage,
    SessionQuery,
)
from pitcrew.web.deps import DB, Admin, Photos, SettingsDep
from pitcrew.web.errors import READ_ONE, _responses

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


ON_SESSION = READ_ONE
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


# --- people -------------------------------------------------------------------------------

ON_ACCOUNT = _responses(401, 403, 404, 409, 422)


def _base_url(request: Request, settings: SettingsDep) -> str:
    """Where links in emails point: ``PUBLIC_URL``, else the address the admin used."""
    return settings.public_url or str(request.base_url)


@router.get("/people", response_model=AccountPage, responses=READ)
def find_people(db: DB, admin: Admin, query: Annotated[AccountQuery, Query()]) -> AccountPage:
    """Accounts by name, their name or email holding ``q``, of one ``role`` if given."""
    with db.read() as s:
        return people.find(s, query)


@router.post(
    "/people",
    status_code=status.HTTP_201_CREATED,
    response_model=MechanicCreated,
    responses=_responses(401, 403, 409, 413, 422),
)
def create_mechanic(
    body: MechanicIn, request: Request, db: DB, admin: Admin, settings: SettingsDep
) -> MechanicCreated:
    """A new mechanic account, off duty: with email on, a link to set a password goes to the
    address; with email off, the answer holds a one-time password, shown this once."""
    return people.create_mechanic(db, admin, body, settings, _base_url(request, settings))


@router.post("/people/{user_id}/deactivate", response_model=Deactivated, responses=ON_ACCOUNT)
def deactivate(user_id: uuid.UUID, db: DB, admin: Admin) -> Deactivated:
    """Sign the account out everywhere, take it off duty, hand its waiting sessions back."""
    return people.deactivate(db, admin, user_id)


@router.post("/people/{user_id}/reactivate", response_model=AccountRow, responses=ON_ACCOUNT)
def reactivate(user_id: uuid.UUID, db: DB, admin: Admin) -> AccountRow:
    """The account can sign in again."""
    return people.reactivate(db, admin, user_id)


@router.post(
    "/people/{user_id}/password-reset",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=LinkSent,
    responses=ON_ACCOUNT,
)
def send_reset_link(
    user_id: uuid.UUID, request: Request, db: DB, admin: Admin, settings: SettingsDep
) -> LinkSent:
    """Email the account a link to set a new password (409 when email is off)."""
    sent = people.send_reset_link(db, admin, user_id, settings, _base_url(request, settings))
    return LinkSent(message=sent)


@router.post(
    "/people/{user_id}/role",
    response_model=AccountRow,
    responses=_responses(401, 403, 404, 409, 413, 422),
)
def change_role(user_id: uuid.UUID, body: RoleIn, db: DB, admin: Admin) -> AccountRow:
    """Make the account a customer, mechanic or admin (not while it holds sessions)."""
    return people.change_role(db, admin, user_id, body.role)


# --- health -------------------------------------------------------------------------------


@router.get("/health", response_model=Health, responses=_responses(401, 403))
def check_health(db: DB, admin: Admin, photos: Photos) -> Health:
    """The doctor's check: each invariant with how many rows break it, exactly what
    "repair what is certain" would change, what needs a person, and the last repairs."""
    return health.check(db, admin, photos)


@router.post(
    "/health/repair", response_model=Repaired, responses=_responses(401, 403, 409, 413, 422)
)
def repair(body: RepairIn, db: DB, admin: Admin, photos: Photos) -> Repaired:
    """Repair what is certain, exactly as shown (``plan`` from ``GET /health``); 409 when
    what a repair would change is no longer that, and nothing is written."""
    return health.repair(db, admin, body.plan, photos)


@router.get("/audit", response_model=list[AuditEntry], responses=_responses(401, 403))
def audit(db: DB, admin: Admin) -> list[AuditEntry]:
    """What admins changed, newest first (the last 100), from the events log."""
    with db.read() as s:
        return health.audit(s)


# --- numbers ------------------------------------------------------------------------------


@router.get("/numbers", response_model=Numbers, responses=READ)
def period_numbers(db: DB, admin: Admin, query: Annotated[NumbersQuery, Query()]) -> Numbers:
    """The last ``days`` days (UTC, today included), for everyone and per mechanic: sessions
    completed, average rating and how many rated, median time from request to accept,
    hand-backs; and requests that expired, in all and per day."""
    with db.read() as s:
        return numbers.period(s, query.days)
