"""Who may call what: every API route against five people, read from the app itself.

The routes are walked from the running app, so a route added without a row here fails
``test_every_route_has_a_row``. Each call runs on a fresh session in the state the route
needs, so "allowed" means it really worked (2xx) and "refused" means the right code and
nothing changed.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import anyio
import fastapi.routing
import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy import select, text
from starlette.types import Message

from pitcrew import auth, chat, doctor, flow, media, people, photo_store
from pitcrew.config import Settings
from pitcrew.db import Database
from pitcrew.models import Notification, Role, Session, SessionStatus
from pitcrew.schemas import IntakeIn
from tests.support.broken import stored_id, unguarded
from tests.support.factories import (
    INTAKE,
    PASSWORD,
    Person,
    Stage,
    create_account,
    start_session,
    statuses,
)

pytestmark = pytest.mark.usefixtures("quick_passwords")

PERSONAS = ("anonymous", "owner", "other_customer", "holder", "other_mechanic", "admin")
WATCHED = ("sessions", "session_requests", "session_messages", "events")


def api_routes(app: FastAPI) -> set[tuple[str, str]]:
    """(method, path) of every JSON route: the documented ones and anything under /api."""
    walk = getattr(fastapi.routing, "iter_route_contexts", None)
    found = set()
    route: Any
    for route in walk(app.routes) if walk else app.routes:
        original = getattr(route, "original_route", route)
        if not isinstance(original, APIRoute):
            continue
        if not (route.include_in_schema or route.path.startswith("/api/")):
            continue
        for method in route.methods or ():
            found.add((method, route.path))
    return found


@dataclass(frozen=True)
class Row:
    """What each persona gets from one route, and the session state the route acts on."""

    anonymous: int
    owner: int  # the customer whose session it is
    other_customer: int
    holder: int  # the mechanic who holds the session
    other_mechanic: int
    admin: int  # an admin: the console's routes are theirs alone
    needs: str | None = None  # pending | waiting | live | completed | cancelled | notified
    body: dict[str, Any] | None = None
    stream: bool = False  # answers with a never-ending stream: only its status is read
    fresh_token: bool = False  # the call spends the caller's token
    params: dict[str, str] = field(default_factory=dict)
    photo: bool = False  # sent as a multipart photo upload

    def expected(self, persona: str) -> int:
        status: int = getattr(self, persona)
        return status


U, C, M = 401, 403, 404  # unsigned, wrong role, not yours (as unknown as a made-up id)
MINE_ONLY = dict(anonymous=401, other_customer=404, other_mechanic=404)
# The smallest PNG: one white pixel.
PHOTO = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010802000000907753de"
    "0000000c49444154789c63f8ffff3f0005fe02fe0def46b80000000049454e44ae426082"
)

MATRIX: dict[tuple[str, str], Row] = {
    ("GET", "/healthz"): Row(200, 200, 200, 200, 200, 200),
    ("GET", "/metrics"): Row(200, 200, 200, 200, 200, 200),
    ("POST", "/api/auth/register"): Row(201, 201, 201, 201, 201, 201, body={"name": "New Person"}),
    ("POST", "/api/auth/login"): Row(200, 200, 200, 200, 200, 200),
    # Open to anyone: the link's token decides (a made-up one is refused alike), and asking
    # for an email answers the same whoever asks.
    ("POST", "/api/auth/verify-email"): Row(M, M, M, M, M, M, body={"token": "made-up"}),
    ("POST", "/api/auth/verify-email/resend"): Row(
        202, 202, 202, 202, 202, 202, body={"email": "who@example.com"}
    ),
    ("POST", "/api/auth/password-reset"): Row(
        202, 202, 202, 202, 202, 202, body={"email": "who@example.com"}
    ),
    ("POST", "/api/auth/password-reset/confirm"): Row(
        M, M, M, M, M, M, body={"token": "made-up", "password": PASSWORD}
    ),
    ("POST", "/api/auth/logout"): Row(U, 204, 204, 204, 204, 204, fresh_token=True),
    ("GET", "/api/auth/me"): Row(U, 200, 200, 200, 200, 200),
    ("POST", "/api/intake/start"): Row(U, 201, 201, C, C, C, body=INTAKE),
    ("GET", "/api/sessions"): Row(U, 200, 200, C, C, C),
    ("GET", "/api/mechanic/requests"): Row(U, C, C, 200, 200, C),
    ("GET", "/api/mechanic/requests/{request_id}"): Row(U, C, C, 200, 200, C, needs="pending"),
    ("POST", "/api/mechanic/accept"): Row(U, C, C, 200, 200, C, needs="pending"),
    ("POST", "/api/mechanic/duty"): Row(U, C, C, 200, 200, C, body={"on_duty": True}),
    ("GET", "/api/me/email-notifications"): Row(U, C, C, 200, 200, C),
    ("POST", "/api/me/email-notifications"): Row(U, C, C, 200, 200, C, body={"enabled": False}),
    ("POST", "/api/me/sound"): Row(U, C, C, 200, 200, C, body={"enabled": True}),
    ("GET", "/api/mechanic/dashboard"): Row(U, C, C, 200, 200, C),
    ("GET", "/api/mechanic/dashboard/{tab}"): Row(U, C, C, 200, 200, C),
    ("GET", "/api/sessions/{session_id}"): Row(U, 200, M, 200, M, 200, needs="live"),
    ("POST", "/api/sessions/{session_id}/join"): Row(U, C, C, 200, M, C, needs="waiting"),
    ("POST", "/api/sessions/{session_id}/complete"): Row(
        U, C, C, 200, M, C, needs="live", body={"summary": "Replaced the pads."}
    ),
    ("POST", "/api/sessions/{session_id}/cancel"): Row(
        U, 200, M, 200, M, M, needs="waiting", body={"reason": "No longer needed"}
    ),
    ("POST", "/api/sessions/{session_id}/release"): Row(U, C, C, 200, M, C, needs="waiting"),
    ("POST", "/api/sessions/{session_id}/rating"): Row(
        U, 200, M, C, C, C, needs="completed", body={"rating": 5}
    ),
    ("POST", "/api/sessions/{session_id}/request-again"): Row(
        U, 201, M, C, C, C, needs="cancelled"
    ),
    ("GET", "/api/sessions/{session_id}/messages"): Row(U, 200, M, 200, M, 200, needs="live"),
    ("POST", "/api/sessions/{session_id}/messages"): Row(
        U, 201, M, 201, M, M, needs="live", body={"body": "Hello"}
    ),
    ("GET", "/api/sessions/{session_id}/timeline"): Row(U, 200, M, 200, M, 200, needs="live"),
    ("POST", "/api/sessions/{session_id}/photos"): Row(
        U, 201, M, 201, M, M, needs="live", photo=True
    ),
    ("POST", "/api/sessions/{session_id}/read"): Row(U, 200, M, 200, M, M, needs="message"),
    # A photo's address tells others nothing: not even that it exists.
    ("GET", "/api/sessions/{session_id}/photos/{message_id}"): Row(
        U, 200, 404, 200, 404, 200, needs="photo"
    ),
    ("GET", "/api/sessions/{session_id}/photos/{message_id}/thumb"): Row(
        U, 200, 404, 200, 404, 200, needs="photo"
    ),
    ("GET", "/api/sessions/{session_id}/call"): Row(U, 200, M, 200, M, M, needs="live video"),
    ("POST", "/api/sessions/{session_id}/signal"): Row(
        U, 204, M, 204, M, M, needs="live video", body={"kind": "ready", "call_id": "authz-call"}
    ),
    ("GET", "/api/sessions/{session_id}/report.pdf"): Row(
        U, 200, M, 200, M, 200, needs="completed"
    ),
    ("GET", "/api/sessions/{session_id}/history"): Row(U, C, C, 200, M, C, needs="live"),
    ("GET", "/api/vehicles"): Row(U, 200, 200, C, C, C),
    ("GET", "/api/notifications"): Row(U, 200, 200, 200, 200, 200),
    ("POST", "/api/notifications/{notification_id}/read"): Row(
        U, 204, M, M, M, M, needs="notified"
    ),
    ("GET", "/api/events"): Row(U, 200, 200, 200, 200, 200, stream=True),
    # The operator's console.
    ("GET", "/api/admin/floor"): Row(U, C, C, C, C, 200),
    ("GET", "/api/admin/sessions"): Row(U, C, C, C, C, 200, params={"customer": "casey"}),
    ("GET", "/api/admin/sessions/{session_id}"): Row(U, C, C, C, C, 200, needs="live"),
    # To the other mechanic, from the holder (filled in by _body).
    ("POST", "/api/admin/sessions/{session_id}/reassign"): Row(U, C, C, C, C, 200, needs="waiting"),
    ("POST", "/api/admin/sessions/{session_id}/cancel"): Row(
        U, C, C, C, C, 200, needs="waiting", body={"reason": "Asked by phone"}
    ),
    ("GET", "/api/admin/people"): Row(U, C, C, C, C, 200, params={"q": "mechanic"}),
    ("POST", "/api/admin/people"): Row(
        U,
        C,
        C,
        C,
        C,
        201,
        body={"name": "Nia Newhire"},  # a fresh email: _body
    ),
    ("POST", "/api/admin/people/{user_id}/deactivate"): Row(U, C, C, C, C, 200, needs="account"),
    ("POST", "/api/admin/people/{user_id}/reactivate"): Row(
        U, C, C, C, C, 200, needs="deactivated account"
    ),
    ("POST", "/api/admin/people/{user_id}/password-reset"): Row(
        U, C, C, C, C, 202, needs="account, email on"
    ),
    ("GET", "/api/admin/health"): Row(U, C, C, C, C, 200),
    # Something to repair (a pair broken on purpose); the plan shown now (_body).
    ("POST", "/api/admin/health/repair"): Row(U, C, C, C, C, 200, needs="broken"),
    ("GET", "/api/admin/audit"): Row(U, C, C, C, C, 200),
    ("GET", "/api/admin/numbers"): Row(U, C, C, C, C, 200, params={"days": "30"}),
    ("POST", "/api/admin/people/{user_id}/role"): Row(
        U, C, C, C, C, 200, needs="account", body={"role": "customer"}
    ),
    ("POST", "/api/sessions/{session_id}/typing"): Row(U, 204, M, 204, M, M, needs="live"),
}


@dataclass
class World:
    db: Database
    app: FastAPI
    people: dict[str, Person]
    anonymous: TestClient

    def token(self, persona: str, *, fresh: bool = False) -> str | None:
        if persona == "anonymous":
            return None
        person = self.people[persona]
        if fresh:
            token, _ = auth.login(self.db, person.email, PASSWORD, Settings().token_ttl)
            return token
        return str(person.client.headers["Authorization"]).removeprefix("Bearer ")

    def _account(self, *, deactivated: bool) -> uuid.UUID:
        """A fresh mechanic for the console to act on (deactivated when asked)."""
        account = create_account(self.db, Role.MECHANIC, password=None)
        if deactivated:
            people.deactivate(self.db, self.people["admin"].actor, account.id)
        return account.id

    def prepare(self, needs: str | None) -> dict[str, str]:
        """A fresh session in the state a route acts on; ids to fill its path."""
        owner, holder = self.people["owner"].actor, self.people["holder"].actor
        ids = {"tab": "active"}
        self.db.email_enabled = needs == "account, email on"
        if needs is None:
            return ids
        if needs == "broken":
            started = start_session(self.db, owner)
            with unguarded(self.db) as c:
                c.execute(
                    text("UPDATE sessions SET status = 'cancelled' WHERE id = :s"),
                    {"s": stored_id(started.session_id, self.db)},
                )
            return ids
        if needs.endswith("account") or needs.startswith("account"):
            return ids | {
                "user_id": str(self._account(deactivated=needs.startswith("deactivated")))
            }
        video = needs == "live video"
        intake = {**INTAKE, "session_type": "video"} if video else INTAKE
        needs = "live" if video else needs
        answer, _ = flow.start_intake(self.db, owner, IntakeIn.model_validate(intake))
        sid, rid = answer.session_id, answer.request_id
        ids |= {"session_id": str(sid), "request_id": str(rid)}
        if needs == "pending":
            return ids
        if needs == "cancelled":
            flow.cancel(self.db, owner, sid, "Fixed it myself")
            return ids
        flow.accept(self.db, holder, rid)
        if needs == "notified":
            with self.db.read() as s:
                nid = s.scalar(
                    select(Notification.id)
                    .where(Notification.user_id == owner.id, Notification.session_id == sid)
                    .limit(1)
                )
            assert nid is not None, "accepting should tell the customer"
            return ids | {"notification_id": str(nid)}
        if needs == "waiting":
            return ids
        flow.join(self.db, holder, sid)
        if needs == "live":
            return ids
        if needs == "message":
            said = chat.post_message(self.db, owner, sid, "Hello")
            return ids | {"message_id": str(said.id)}
        if needs == "photo":
            settings = self.app.state.settings
            message = media.post_photo(
                self.db,
                owner,
                sid,
                PHOTO,
                photos=photo_store.choose(
                    settings.media_store, media_dir=settings.media_dir, db=self.db
                ),
                max_bytes=settings.max_upload_bytes,
            )
            return ids | {"message_id": str(message.id)}
        flow.complete(self.db, holder, sid, "Worn pads.")
        assert needs == "completed", needs
        return ids


def _body(world: World, route: tuple[str, str], row: Row, persona: str, ids: dict[str, str]) -> Any:
    if route == ("POST", "/api/auth/register"):
        return {"email": f"new-{uuid.uuid4().hex[:8]}@example.com", "password": PASSWORD} | (
            row.body or {}
        )
    if route == ("POST", "/api/auth/login"):
        who = world.people["owner" if persona == "anonymous" else persona]
        return {"email": who.email, "password": PASSWORD}
    if route == ("POST", "/api/mechanic/accept"):
        return {"request_id": ids["request_id"]}
    if route == ("POST", "/api/admin/health/repair"):
        return {"plan": doctor.plan_digest(doctor.check(world.db))}
    if route == ("POST", "/api/admin/people"):
        return {"email": f"new-{uuid.uuid4().hex[:8]}@example.com"} | (row.body or {})
    if route == ("POST", "/api/admin/sessions/{session_id}/reassign"):
        to, held_by = world.people["other_mechanic"], world.people["holder"]
        return {"mechanic_id": str(to.id), "from_mechanic_id": str(held_by.id)}
    if route == ("POST", "/api/sessions/{session_id}/read"):
        return {"message_id": ids["message_id"]}
    return row.body


async def _status_of_stream(app: FastAPI, path: str, token: str | None) -> int:
    """Open a never-ending response, read its status, then hang up like a closed tab."""
    started = anyio.Event()
    status = 0
    asked = False

    async def receive() -> Message:
        nonlocal asked
        if not asked:
            asked = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await started.wait()
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
            started.set()

    headers = [(b"authorization", f"Bearer {token}".encode())] if token else []
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"testserver"), *headers],
        "client": ("testclient", 50000),
        "server": ("testserver", 80),
        "state": {},
    }
    with anyio.fail_after(10):
        await app(scope, receive, send)
    return status


def _snapshot(db: Database) -> dict[str, list[tuple[str, ...]]]:
    with db.read() as s:
        return {
            t: sorted(tuple(str(v) for v in r) for r in s.execute(text(f"SELECT * FROM {t}")))
            for t in WATCHED
        }


@pytest.fixture
def world(
    db: Database, app: FastAPI, customer: Person, mechanic: Person, make_user: Callable[..., Person]
) -> Iterator[World]:
    people = {
        "owner": customer,
        "other_customer": make_user(Role.CUSTOMER),
        "holder": mechanic,
        "other_mechanic": make_user(Role.MECHANIC),
        "admin": make_user(Role.ADMIN, name="Avery Admin"),
    }
    # The lifespan runs, so the live stream is really served (not "503 not running").
    with TestClient(app) as anonymous:
        yield World(db=db, app=app, people=people, anonymous=anonymous)


def test_every_route_has_a_row(app: FastAPI) -> None:
    routes = api_routes(app)
    assert routes - set(MATRIX) == set(), "routes without a row in the authorization matrix"
    assert set(MATRIX) - routes == set(), "rows for routes the app no longer has"


def test_each_route_answers_each_persona_as_the_matrix_says(world: World) -> None:
    wrong = []
    for route, row in sorted(MATRIX.items(), key=lambda item: item[0][1]):
        method, path = route
        for persona in PERSONAS:
            ids = world.prepare(row.needs)
            url = path.format(**ids)
            token = world.token(persona, fresh=row.fresh_token)
            before = _snapshot(world.db)
            if row.stream:
                assert world.anonymous.portal is not None, "the app's lifespan is running"
                got = world.anonymous.portal.call(_status_of_stream, world.app, url, token)
                text_ = ""
            else:
                headers = {"Authorization": f"Bearer {token}"} if token else {}
                answer: httpx.Response = world.anonymous.request(
                    method,
                    url,
                    json=None if row.photo else _body(world, route, row, persona, ids),
                    files={"photo": ("photo.png", PHOTO, "image/png")} if row.photo else None,
                    headers=headers,
                    params=row.params,
                )
                world.anonymous.cookies.clear()  # login and register set cookies
                got, text_ = answer.status_code, answer.text[:160]
                if got >= 400:
                    error = answer.json().get("error", {})
                    if not (error.get("code") and error.get("message")):
                        wrong.append(f"{method} {path} as {persona}: not the error shape {text_}")
                    if _snapshot(world.db) != before:
                        wrong.append(f"{method} {path} as {persona}: refused but changed rows")
            if got != row.expected(persona):
                wrong.append(
                    f"{method} {path} as {persona}: {got}, want {row.expected(persona)} {text_}"
                )
    assert wrong == []


def test_a_role_change_gives_nobody_the_other_partys_part_in_their_sessions(
    db: Database, customer: Person, mechanic: Person, make_user: Callable[..., Person]
) -> None:
    """A mechanic made a customer may not rate the session they fixed, and a customer made a
    mechanic may not complete their own: each is told whose part it is, and nothing changes."""
    admin, holder = make_user(Role.ADMIN), make_user(Role.MECHANIC)
    fixed = start_session(db, customer, Stage.COMPLETED, mechanic=mechanic)
    own = start_session(db, customer, Stage.LIVE, mechanic=holder)
    people.change_role(db, admin.actor, mechanic.id, Role.CUSTOMER)
    people.change_role(db, admin.actor, customer.id, Role.MECHANIC)

    rated = mechanic.client.post(f"/api/sessions/{fixed.sid}/rating", json={"rating": 5})
    completed = customer.client.post(
        f"/api/sessions/{own.sid}/complete", json={"summary": "Fixed it myself."}
    )

    for answer, words in ((rated, "its customer"), (completed, "its mechanic")):
        assert answer.status_code == 403, answer.text
        assert answer.json()["error"]["message"] == f"Only {words} can do this."
    assert statuses(db, own)[0] == SessionStatus.LIVE
    with db.read() as s:
        assert s.scalar(select(Session.rating).where(Session.id == fixed.session_id)) is None
