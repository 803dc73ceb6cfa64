"""The shapes of the operator's console (``/api/admin/...``): what an admin sends and reads."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Any

from pydantic import BaseModel, EmailStr, Field, StringConstraints

from pitcrew.models import RequestStatus, Role, SessionStatus, SessionType
from pitcrew.schemas import NOT_BLANK, MessageOut, SessionDetail, Strict, TimelineEntry

Reason = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=1000, pattern=NOT_BLANK)
]


# --- the floor ----------------------------------------------------------------------------


class WaitingRequest(BaseModel):
    """A request nobody has accepted yet: how long it has waited and when it will expire."""

    session_id: uuid.UUID
    request_id: uuid.UUID
    customer_name: str
    session_type: SessionType
    plan_code: str
    created_at: datetime
    offered_since: datetime  # the request, or its last hand-back: the expiry counts from here
    expires_at: datetime


class OnDuty(BaseModel):
    """A mechanic on duty and the sessions they hold now."""

    id: uuid.UUID
    name: str
    waiting: int
    live: int

    @property
    def holds(self) -> int:
        return self.waiting + self.live


class HeldSession(BaseModel):
    """A session a mechanic holds: accepted and not joined yet, or live."""

    session_id: uuid.UUID
    customer_name: str
    mechanic_id: uuid.UUID
    mechanic_name: str
    session_type: SessionType
    status: SessionStatus
    since: datetime  # accepted (waiting) or started (live)


class Floor(BaseModel):
    """The floor right now, as the console shows it."""

    at: datetime
    pending: list[WaitingRequest]
    on_duty: list[OnDuty]
    waiting: list[HeldSession]
    live: list[HeldSession]


# --- any session --------------------------------------------------------------------------


class SessionRow(BaseModel):
    """One session in the console's search."""

    session_id: uuid.UUID
    status: SessionStatus
    request_status: RequestStatus
    session_type: SessionType
    customer_id: uuid.UUID
    customer_name: str
    mechanic_id: uuid.UUID | None
    mechanic_name: str | None
    vehicle: str
    vin: str | None
    created_at: datetime


Search = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)]
Page = Annotated[int, Field(ge=0, le=10_000)]


class SessionQuery(Strict):
    """What the console's session search narrows by; every part is optional."""

    customer: Search = ""  # in the customer's name or email
    mechanic: Search = ""  # in the mechanic's name or email
    vehicle: Search = ""  # in the car's year, make or model
    vin: Search = ""
    status: SessionStatus | None = None
    since: date | None = None  # created on or after this day (UTC)
    until: date | None = None  # created on or before this day (UTC)
    page: Page = 0


class SessionPage(BaseModel):
    sessions: list[SessionRow]
    more: bool


class SessionFile(BaseModel):
    """A session as an admin opens it: the detail, its timeline and its chat, read-only."""

    detail: SessionDetail
    timeline: list[TimelineEntry]
    messages: list[MessageOut]


class ReassignIn(Strict):
    """Move a waiting session to another mechanic on duty.

    ``from_mechanic_id`` is who the admin saw holding it: if anyone else holds it by now, or
    it is no longer waiting, nothing moves and the answer is 409.
    """

    mechanic_id: uuid.UUID
    from_mechanic_id: uuid.UUID


class ReassignedOut(BaseModel):
    session_id: uuid.UUID
    mechanic_id: uuid.UUID
    previous_mechanic_id: uuid.UUID
    session_status: SessionStatus


class CancelForCustomerIn(Strict):
    """An admin cancels on the customer's behalf, and says why."""

    reason: Reason


class CancelledOut(BaseModel):
    session_id: uuid.UUID
    session_status: SessionStatus


# --- people -------------------------------------------------------------------------------


class AccountRow(BaseModel):
    """An account as the console lists it."""

    id: uuid.UUID
    name: str
    email: str
    role: Role
    on_duty: bool
    email_verified: bool
    deactivated_at: datetime | None
    created_at: datetime

    @property
    def active(self) -> bool:
        return self.deactivated_at is None


class AccountPage(BaseModel):
    accounts: list[AccountRow]
    more: bool


class AccountQuery(Strict):
    q: Search = ""  # in the name or email
    role: Role | None = None
    page: Page = 0


class MechanicIn(Strict):
    """A new mechanic's name and email address."""

    name: Annotated[
        str,
        StringConstraints(strip_whitespace=True, min_length=1, max_length=200, pattern=NOT_BLANK),
    ]
    email: EmailStr


class MechanicCreated(BaseModel):
    """The new account. With email on, a link to set a password went to the address; with
    email off, ``password`` is a one-time password, shown here once and never again."""

    account: AccountRow
    link_sent: bool
    password: str | None = None


class Deactivated(BaseModel):
    account: AccountRow
    handed_back: list[uuid.UUID]  # the waiting sessions offered again to every mechanic


class RoleIn(Strict):
    role: Role


class LinkSent(BaseModel):
    message: str


# --- health -------------------------------------------------------------------------------


class InvariantCheck(BaseModel):
    """One of the invariants (docs/ARCHITECTURE.md) and how many rows break it now."""

    number: int
    rule: str
    count: int

    @property
    def ok(self) -> bool:
        return self.count == 0


class PlannedChange(BaseModel):
    """One row a repair would change: the values it has and the values it would get."""

    table: str
    id: uuid.UUID
    before: dict[str, Any]
    after: dict[str, Any]


class Finding(BaseModel):
    """A problem the doctor found, and its repair (none: a person decides)."""

    check: str
    invariants: list[int]
    session_id: uuid.UUID | None
    request_id: uuid.UUID | None
    problem: str
    repair: str
    changes: list[PlannedChange]
    files: list[str]


class RepairDone(BaseModel):
    """A repair as the events log keeps it: when, by whom, and what it changed."""

    at: datetime
    by: str  # the admin's name, or "pitcrew doctor" from the command line
    session_id: uuid.UUID | None
    problem: str
    repair: str


class Health(BaseModel):
    invariants: list[InvariantCheck]
    repairable: list[Finding]  # what "repair what is certain" would do, exactly
    for_a_person: list[Finding]
    plan: str | None  # the fingerprint of ``repairable``, to confirm it (None: nothing to do)
    last_repairs: list[RepairDone]


class RepairIn(Strict):
    """The fingerprint of the repairs the admin was shown and confirms."""

    plan: Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=NOT_BLANK)]


class Repaired(BaseModel):
    repaired: int


class AuditEntry(BaseModel):
    """One change an admin made, from the events log."""

    id: int
    at: datetime
    admin_id: uuid.UUID
    admin_name: str
    kind: str
    text: str
    session_id: uuid.UUID | None


# --- numbers ------------------------------------------------------------------------------


class NumbersQuery(Strict):
    days: Annotated[int, Field(ge=1, le=366)] = 7  # the period: the last N days, today included


class MechanicNumbers(BaseModel):
    """One mechanic's period, or everyone's (``mechanic_id`` None)."""

    mechanic_id: uuid.UUID | None
    name: str
    completed: int
    rating_average: float | None
    ratings: int
    median_accept_seconds: float | None  # from the request to its accept
    hand_backs: int


class DayNumbers(BaseModel):
    day: date
    completed: int
    expired: int


class Numbers(BaseModel):
    since: date
    until: date
    everyone: MechanicNumbers
    expired: int  # requests nobody accepted in time (no mechanic's number)
    mechanics: list[MechanicNumbers]
    days: list[DayNumbers]
