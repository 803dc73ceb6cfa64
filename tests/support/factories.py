"""People, intakes and sessions in any state, made through the product's own functions.

A session is brought to a state by the steps a user would take (intake, accept, join,
complete, ...), never by inserting rows, so every test that starts from a live session also
proves the way there; each factory checks that it arrived where it was asked to.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from pitcrew import auth, flow
from pitcrew.auth import Actor
from pitcrew.config import Settings
from pitcrew.db import Database
from pitcrew.models import RequestStatus, Role, Session, SessionRequest, SessionStatus, utcnow
from pitcrew.schemas import IntakeIn

PASSWORD = "correct horse battery"

INTAKE: dict[str, Any] = {
    "vehicle": {"year": 2016, "make": "Honda", "model": "Civic", "mileage": 84000},
    "issue_description": "Grinding noise when braking",
    "session_type": "chat",
    "plan_code": "standard",
}


def intake(**changes: Any) -> IntakeIn:
    """The intake form of a 2016 Civic that grinds when braking, with ``changes`` applied."""
    return IntakeIn.model_validate({**INTAKE, **changes})


# --- people ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Account:
    """A user as the tests know them: who they are to the domain, and the email to sign in."""

    actor: Actor
    email: str

    @property
    def id(self) -> uuid.UUID:
        return self.actor.id


@dataclass(frozen=True)
class Person(Account):
    """An account with an API client signed in as it (bearer token)."""

    client: TestClient


def create_account(
    db: Database,
    role: Role = Role.CUSTOMER,
    name: str | None = None,
    *,
    password: str | None = PASSWORD,
    on_duty: bool = True,
) -> Account:
    """A new user with a unique email; a mechanic is on duty unless told otherwise."""
    email = f"{role.value}-{uuid.uuid4().hex[:8]}@example.com"
    user = auth.create_user(
        db,
        email=email,
        name=name or f"{role.value.title()} {email[:14]}",
        role=role,
        password=password,
        on_duty=on_duty and role == Role.MECHANIC,
    )
    return Account(actor=auth.actor_of(user), email=email)


def token_for(db: Database, account: Account, password: str = PASSWORD) -> str:
    """A bearer token for the account, as signing in would give it."""
    token, _ = auth.login(db, account.email, password, Settings().token_ttl)
    return token


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def api_client(app: FastAPI, account: Account, password: str = PASSWORD) -> TestClient:
    """A client that signed in through the API and then speaks with its token only.

    The caller closes it.
    """
    client = TestClient(app)
    answer = client.post("/api/auth/login", json={"email": account.email, "password": password})
    assert answer.status_code == 200, answer.text
    client.cookies.clear()
    client.headers.update(bearer(answer.json()["token"]))
    return client


def create_person(
    db: Database,
    app: FastAPI,
    role: Role = Role.CUSTOMER,
    name: str | None = None,
    *,
    on_duty: bool = True,
) -> Person:
    """An account and a client signed in as it. The caller closes the client."""
    account = create_account(db, role, name, on_duty=on_duty)
    return Person(actor=account.actor, email=account.email, client=api_client(app, account))


# --- sessions -------------------------------------------------------------------------------


class Stage(StrEnum):
    """Where a session can be left for a test to pick it up."""

    PENDING = "pending"  # asked for, nobody accepted yet
    WAITING = "waiting"  # accepted, the mechanic has not joined
    LIVE = "live"  # the mechanic joined
    COMPLETED = "completed"  # the mechanic closed it with a summary
    CANCELLED = "cancelled"  # the customer cancelled it (after an accept if a mechanic is given)
    EXPIRED = "expired"  # nobody accepted in time: the request expired, the session cancelled
    RELEASED = "released"  # accepted, then handed back: offered to every mechanic again


ARRIVES_AT: dict[Stage, tuple[SessionStatus, RequestStatus]] = {
    Stage.PENDING: (SessionStatus.PENDING, RequestStatus.PENDING),
    Stage.WAITING: (SessionStatus.WAITING, RequestStatus.ACCEPTED),
    Stage.LIVE: (SessionStatus.LIVE, RequestStatus.ACCEPTED),
    Stage.COMPLETED: (SessionStatus.COMPLETED, RequestStatus.ACCEPTED),
    Stage.CANCELLED: (SessionStatus.CANCELLED, RequestStatus.CANCELLED),
    Stage.EXPIRED: (SessionStatus.CANCELLED, RequestStatus.EXPIRED),
    Stage.RELEASED: (SessionStatus.PENDING, RequestStatus.PENDING),
}
"""The session's and its request's status at each stage."""

_AFTER_AN_ACCEPT = {Stage.WAITING, Stage.LIVE, Stage.COMPLETED, Stage.RELEASED}


@dataclass(frozen=True)
class Started:
    """A session and its request, as the factory left them."""

    session_id: uuid.UUID
    request_id: uuid.UUID

    @property
    def sid(self) -> str:
        """The session's id as the API writes it."""
        return str(self.session_id)

    @property
    def rid(self) -> str:
        """The request's id as the API writes it."""
        return str(self.request_id)

    @property
    def ids(self) -> tuple[str, str]:
        """Both ids as the API writes them, for tests that compare with JSON."""
        return self.sid, self.rid


def intake_through_api(customer: Person, **changes: Any) -> tuple[str, str]:
    """The customer sends the intake form as a page does; the new session's and request's ids."""
    answer = customer.client.post("/api/intake/start", json={**INTAKE, **changes})
    assert answer.status_code == 201, answer.text
    body = answer.json()
    return body["session_id"], body["request_id"]


def _actor(who: Account | Actor) -> Actor:
    return who.actor if isinstance(who, Account) else who


def start_session(
    db: Database,
    customer: Account | Actor,
    stage: Stage = Stage.PENDING,
    *,
    mechanic: Account | Actor | None = None,
    summary: str = "Worn front pads; replace them this week.",
    **changes: Any,
) -> Started:
    """The customer's intake (``changes`` applied to :data:`INTAKE`) brought to ``stage``.

    Stages past an accept need the ``mechanic``. ``EXPIRED`` runs an expiry sweep as the
    server's sweeper would, so every request still pending at that moment expires with it.
    """
    by = _actor(customer)
    answer, created = flow.start_intake(db, by, intake(**changes))
    assert created
    started = Started(answer.session_id, answer.request_id)
    if stage in _AFTER_AN_ACCEPT or (stage is Stage.CANCELLED and mechanic is not None):
        if mechanic is None:
            raise ValueError(f"a session {stage.value} needs a mechanic")
        _take(db, _actor(mechanic), started, stage, summary)
    if stage is Stage.CANCELLED:
        flow.cancel(db, by, started.session_id, "found a garage nearby")
    elif stage is Stage.EXPIRED:
        flow.expire_due(db, timedelta(0), now=utcnow() + timedelta(seconds=1))
    assert statuses(db, started) == ARRIVES_AT[stage], f"the session did not reach {stage}"
    return started


def _take(db: Database, mechanic: Actor, started: Started, stage: Stage, summary: str) -> None:
    """The mechanic's part: accept, then join, complete or hand back as ``stage`` asks."""
    flow.accept(db, mechanic, started.request_id)
    if stage in (Stage.LIVE, Stage.COMPLETED):
        flow.join(db, mechanic, started.session_id)
    if stage is Stage.COMPLETED:
        flow.complete(db, mechanic, started.session_id, summary)
    elif stage is Stage.RELEASED:
        flow.release(db, mechanic, started.session_id)


def statuses(db: Database, started: Started) -> tuple[SessionStatus, RequestStatus]:
    """The session's status and its request's, as stored."""
    with db.read() as s:
        session = s.get(Session, started.session_id)
        request = s.scalar(select(SessionRequest).where(SessionRequest.id == started.request_id))
        assert session is not None and request is not None
        return SessionStatus(session.status), RequestStatus(request.status)
