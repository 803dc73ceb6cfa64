"""The JSON API (docs/ARCHITECTURE.md, "API").

Each route reads the request, calls one domain function and returns its answer; rules live
in ``flow``, ``chat`` and ``call``, reads in ``dashboard`` and ``room``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request, Response, status
from fastapi.responses import JSONResponse
from fastapi.types import DecoratedCallable
from pydantic import TypeAdapter

from pitcrew import accounts, auth, chat, dashboard, flow, notify, preview, reads, room
from pitcrew.config import Settings
from pitcrew.errors import NotFound
from pitcrew.schemas import (
    NOT_BLANK,
    AcceptIn,
    AcceptOut,
    Bell,
    CancelIn,
    CheckEmailOut,
    CompleteIn,
    Conversation,
    Dashboard,
    DashboardQuery,
    DutyIn,
    DutyOut,
    EmailIn,
    EmailNotificationsIn,
    EmailNotificationsOut,
    HeldRow,
    HistoryRow,
    IncomingRow,
    IntakeIn,
    IntakeOut,
    LinkIn,
    LoginIn,
    LoginOut,
    MessageIn,
    MessageOut,
    NotificationOut,
    PasswordResetIn,
    RatingIn,
    ReadIn,
    ReadOut,
    RegisterIn,
    ReleasedOut,
    RequestPreview,
    RequestsPage,
    SessionDetail,
    SessionOut,
    SoundOut,
    TabPage,
    TimelineEntry,
    UserOut,
)
from pitcrew.web import cookies
from pitcrew.web.deps import DB, CurrentActor, Customer, Mechanic, SettingsDep
from pitcrew.web.errors import COMMON, ON_SESSION, READ_ONE, _responses

router = APIRouter(prefix="/api")


def _user_out(user: Any) -> UserOut:
    return UserOut.model_validate(user, from_attributes=True)


def _signed_in(response: Response, settings: Settings, signed: accounts.SignedIn) -> LoginOut:
    """The browser keeps the token as its cookie (and its device token, when it has one);
    an API client reads the token from the body."""
    cookies.sign_in(response, signed.token, settings)
    if signed.device is not None:
        cookies.remember_device(response, signed.device, settings)
    return LoginOut(token=signed.token, user=_user_out(signed.user))


# --- accounts ---------------------------------------------------------------------------


def _address(request: Request) -> str:
    """The client's address (the proxy's forwarded one when the server trusts the proxy)."""
    return request.client.host if request.client else "unknown"


def _asked(request: Request, email: str, settings: Settings) -> accounts.Asked:
    """Who asks, from where, and where the links in emails point: ``PUBLIC_URL``, else the
    address asked."""
    base_url = settings.public_url or str(request.base_url)
    return accounts.Asked(email, _address(request), settings, base_url)


CHECK_EMAIL = (
    "Check your email: we sent a link to that address. It may take a minute; look in spam too."
)
RESET_SENT = (
    "If an account has that address, we sent it a link to set a new password. "
    "Check your email; the link works once."
)


# Signing up, in and out. The routes that email a link answer the same for every address.
on_auth = APIRouter(prefix="/api/auth", tags=["auth"])


def _sends_a_link(path: str) -> Callable[[DecoratedCallable], DecoratedCallable]:
    """A 202 "check your email" whatever the address, so the answer tells nobody who has an
    account."""
    return on_auth.post(
        path,
        status_code=status.HTTP_202_ACCEPTED,
        response_model=CheckEmailOut,
        responses=_responses(413, 422),
    )


@on_auth.post(
    "/register",
    status_code=status.HTTP_201_CREATED,
    response_model=LoginOut,
    responses={
        202: {"model": CheckEmailOut, "description": "Email on: check your email"},
        **_responses(413, 422, 429),
    },
)
def register(
    body: RegisterIn, request: Request, response: Response, db: DB, settings: SettingsDep
) -> Response | LoginOut:
    """Create a customer account.

    With email on, the answer is 202 "check your email" whether or not the address has an
    account, and the link in the email confirms the address and signs in. With email off,
    the new account is signed in at once; an address that already has an account gets the
    same answer, and is signed in only with that account's password (``throttle.register``).
    """
    asked = _asked(request, body.email, settings)
    signed = accounts.register(db, asked, name=body.name, password=body.password)
    if signed is None:
        answer = CheckEmailOut(message=CHECK_EMAIL).model_dump()
        return JSONResponse(answer, status_code=status.HTTP_202_ACCEPTED)
    return _signed_in(response, settings, signed)


@on_auth.post(
    "/login",
    responses=_responses(401, 403, 413, 422, 429),
)
def login(
    body: LoginIn, request: Request, response: Response, db: DB, settings: SettingsDep
) -> LoginOut:
    """Sign in: sets the browser cookie and returns a bearer token for API clients.

    Ten failures in 15 minutes for one email or from one address answer 429 with
    Retry-After, except in a browser that signed in to this account before, which only its
    own failures limit. An account whose address is not confirmed yet answers 403.
    """
    signed = accounts.sign_in(
        db,
        body.email,
        body.password,
        address=_address(request),
        settings=settings,
        device=request.cookies.get(cookies.DEVICE_COOKIE),
    )
    return _signed_in(response, settings, signed)


@on_auth.post(
    "/verify-email",
    responses=_responses(404, 413, 422),
)
def verify_email(body: LinkIn, response: Response, db: DB, settings: SettingsDep) -> LoginOut:
    """The link of a sign-up's email: confirms the address and signs in (once)."""
    return _signed_in(response, settings, accounts.confirm_email(db, body.token, settings))


@_sends_a_link("/verify-email/resend")
def resend_verification(
    body: EmailIn, request: Request, db: DB, settings: SettingsDep
) -> CheckEmailOut:
    """A new confirmation link, when an account with that address is waiting for one."""
    accounts.ask_for_confirmation(db, _asked(request, body.email, settings))
    return CheckEmailOut(message=CHECK_EMAIL)


@_sends_a_link("/password-reset")
def password_reset(body: EmailIn, request: Request, db: DB, settings: SettingsDep) -> CheckEmailOut:
    """Email a link to set a new password; the same answer for any address."""
    accounts.ask_for_reset(db, _asked(request, body.email, settings))
    return CheckEmailOut(message=RESET_SENT)


@on_auth.post(
    "/password-reset/confirm",
    responses=_responses(404, 413, 422),
)
def password_reset_confirm(
    body: PasswordResetIn, response: Response, db: DB, settings: SettingsDep
) -> LoginOut:
    """Set the new password from the link: every other sign-in ends, this one begins."""
    signed = accounts.reset_password(db, body.token, body.password, settings)
    return _signed_in(response, settings, signed)


@on_auth.post(
    "/logout",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=_responses(401, 403),
)
def logout(response: Response, db: DB, actor: CurrentActor, token: cookies.Token) -> Response:
    if token:
        auth.logout(db, token)
    cookies.sign_out(response)
    response.status_code = status.HTTP_204_NO_CONTENT
    return response


@on_auth.get("/me", responses=_responses(401))
def me(db: DB, actor: CurrentActor) -> UserOut:
    return _user_out(auth.load_user(db, actor.id))


# --- customer ---------------------------------------------------------------------------


@router.post(
    "/intake/start",
    status_code=status.HTTP_201_CREATED,
    responses=_responses(401, 403, 404, 409, 413, 422),
    tags=["customer"],
)
def start_intake(
    body: IntakeIn,
    db: DB,
    customer: Customer,
    idempotency_key: Annotated[str | None, Header(max_length=200, pattern=NOT_BLANK)] = None,
) -> IntakeOut:
    """Intake, session and request in one transaction; safe to retry with an Idempotency-Key."""
    answer, _created = flow.start_intake(db, customer, body, idempotency_key=idempotency_key)
    return answer


@router.get("/sessions", response_model=list[SessionOut], responses=COMMON, tags=["customer"])
def my_sessions(db: DB, customer: Customer) -> list[SessionOut]:
    return room.customer_sessions(db, customer)


# --- mechanic ---------------------------------------------------------------------------

# The dashboard's reads return their rows as the queries give them: each route checks and
# shapes them once, on the way out (its ``response_model``, or the tab's own row shape).


@router.get(
    "/mechanic/requests",
    response_model=RequestsPage,
    responses=READ_ONE,
    tags=["mechanic"],
)
def pending_requests(db: DB, mechanic: Mechanic, cursor: str | None = None) -> dict[str, Any]:
    """Pending requests, longest-waiting first.

    Each row carries ``vehicle`` (the intake's car: year, make, model, and vin and mileage
    when given) and ``issue`` (the customer's description, whole), so a request can be
    judged before accepting it; ``GET /api/mechanic/requests/{request_id}`` adds what the
    customer sent while waiting.
    """
    with db.read() as s:
        page = dashboard.incoming(s, dashboard.Window(cursor))
    return {"requests": page.rows, "next_cursor": page.next_cursor}


@router.get(
    "/mechanic/requests/{request_id}",
    responses=READ_ONE,
    tags=["mechanic"],
)
def request_preview(request_id: uuid.UUID, db: DB, mechanic: Mechanic) -> RequestPreview:
    """A request before accepting it: the car, the whole intake and what the customer added.

    Open to every mechanic while the request is pending; 404 once it is taken, expired or
    cancelled, except to the mechanic who accepted it.
    """
    return preview.request_preview(db, mechanic, request_id)


@router.post(
    "/mechanic/accept",
    responses=_responses(401, 403, 404, 409, 413, 422),
    tags=["mechanic"],
)
def accept(body: AcceptIn, db: DB, mechanic: Mechanic) -> AcceptOut:
    """First mechanic wins; the others get 409 request_taken."""
    return flow.accept(db, mechanic, body.request_id)


@router.post("/mechanic/duty", responses=COMMON, tags=["mechanic"])
def duty(body: DutyIn, db: DB, mechanic: Mechanic) -> DutyOut:
    return DutyOut(on_duty=auth.set_on_duty(db, mechanic, body.on_duty))


@router.get(
    "/me/email-notifications",
    responses=COMMON,
    tags=["mechanic"],
)
def email_notifications(db: DB, mechanic: Mechanic, settings: SettingsDep) -> EmailNotificationsOut:
    """Whether I get an email for each new request while on duty, and whether email is set up."""
    user = auth.load_user(db, mechanic.id)
    return EmailNotificationsOut(enabled=user.notify_by_email, available=bool(settings.smtp_url))


@router.post(
    "/me/email-notifications",
    responses=COMMON,
    tags=["mechanic"],
)
def set_email_notifications(
    body: EmailNotificationsIn, db: DB, mechanic: Mechanic, settings: SettingsDep
) -> EmailNotificationsOut:
    """Opt in or out of an email for each new request while on duty."""
    enabled = auth.set_email_notifications(db, mechanic, body.enabled)
    return EmailNotificationsOut(enabled=enabled, available=bool(settings.smtp_url))


@router.post("/me/sound", responses=COMMON, tags=["mechanic"])
def set_sound(body: EmailNotificationsIn, db: DB, mechanic: Mechanic) -> SoundOut:
    """Opt in or out of a short sound for new requests (while on duty) and new messages in
    my sessions; the sound ships with pitcrew's pages (Web Audio), nothing is fetched."""
    return SoundOut(enabled=auth.set_sound(db, mechanic, body.enabled))


@router.get("/mechanic/dashboard", response_model=Dashboard, responses=COMMON, tags=["mechanic"])
def mechanic_dashboard(db: DB, mechanic: Mechanic) -> dict[str, Any]:
    """The four tabs' first pages; ``next`` holds each tab's cursor for the next page."""
    with db.read() as s:
        pages = dashboard.whole(s, mechanic.id)
    out: dict[str, Any] = {tab: page.rows for tab, page in pages.items()}
    out["next"] = {tab: page.next_cursor for tab, page in pages.items()}
    return out


@router.get(
    "/mechanic/dashboard/{tab}",
    response_model=TabPage,
    responses=READ_ONE,
    tags=["mechanic"],
)
def dashboard_tab(
    tab: str, db: DB, mechanic: Mechanic, query: Annotated[DashboardQuery, Query()]
) -> Response:
    """One tab, one page at a time (keyset cursor from the previous page).

    Completed and History also take a search and filters; the cursor of a searched page
    continues the same search, so send the same parameters with it.
    """
    with db.read() as s:
        page = dashboard.tab_page(s, mechanic.id, tab, query.cursor, dashboard.search_for(query))
    rows = _TAB_ROWS[tab].validate_python(page.rows)
    body = TabPage.model_construct(rows=rows, next_cursor=page.next_cursor)
    return Response(body.model_dump_json(), media_type="application/json")


# Each tab's rows are checked against that tab's shape alone; ``TabPage`` documents the
# three shapes as one union, which checking would try in turn on every row.
_TAB_ROWS: dict[str, TypeAdapter[list[Any]]] = {
    "incoming": TypeAdapter(list[IncomingRow]),
    "active": TypeAdapter(list[HeldRow]),
    "completed": TypeAdapter(list[HeldRow]),
    "history": TypeAdapter(list[HistoryRow]),
}


# --- a session --------------------------------------------------------------------------


# Every route on one session: the party check answers 403/404 the same way for all of them.
on_session = APIRouter(prefix="/api/sessions/{session_id}", tags=["session"], responses=ON_SESSION)


@on_session.get("", response_model=SessionDetail)
def get_session(session_id: uuid.UUID, db: DB, actor: CurrentActor) -> SessionDetail:
    return room.detail(db, actor, session_id)


def _state(db: Any, actor: Any, session_id: uuid.UUID) -> SessionDetail:
    return room.detail(db, actor, session_id)


def _session_step(step: str) -> Callable[[DecoratedCallable], DecoratedCallable]:
    """A step of the status flow: a POST on the session that answers with the session as it
    now stands, so the client needs no second read."""
    return on_session.post(f"/{step}", response_model=SessionDetail)


@_session_step("join")
def join(session_id: uuid.UUID, db: DB, mechanic: Mechanic) -> SessionDetail:
    flow.join(db, mechanic, session_id)
    return _state(db, mechanic, session_id)


@_session_step("complete")
def complete(session_id: uuid.UUID, body: CompleteIn, db: DB, mechanic: Mechanic) -> SessionDetail:
    flow.complete(db, mechanic, session_id, body)
    return _state(db, mechanic, session_id)


@_session_step("cancel")
def cancel(
    session_id: uuid.UUID, db: DB, actor: CurrentActor, body: CancelIn | None = None
) -> SessionDetail:
    flow.cancel(db, actor, session_id, body.reason if body else "")
    return _state(db, actor, session_id)


@on_session.post(
    "/release",
)
def release(session_id: uuid.UUID, db: DB, mechanic: Mechanic) -> ReleasedOut:
    """Hand the session back before joining: it is offered to every mechanic again.

    The answer is not the session's detail: once handed back, it is no longer theirs to read.
    """
    status = flow.release(db, mechanic, session_id)
    return ReleasedOut(session_id=session_id, session_status=status)


@_session_step("rating")
def rate(session_id: uuid.UUID, body: RatingIn, db: DB, customer: Customer) -> SessionDetail:
    flow.rate(db, customer, session_id, body.rating, body.comment)
    return _state(db, customer, session_id)


@on_session.post(
    "/request-again",
    status_code=status.HTTP_201_CREATED,
)
def request_again(session_id: uuid.UUID, db: DB, customer: Customer) -> IntakeOut:
    return flow.request_again(db, customer, session_id)


@on_session.get(
    "/messages",
    response_model=list[MessageOut],
)
def list_messages(session_id: uuid.UUID, db: DB, actor: CurrentActor) -> list[MessageOut]:
    return room.messages(db, actor, session_id)


@on_session.post(
    "/messages",
    status_code=status.HTTP_201_CREATED,
)
def post_message(session_id: uuid.UUID, body: MessageIn, db: DB, actor: CurrentActor) -> MessageOut:
    return chat.post_message(db, actor, session_id, body.body)


@on_session.post("/read", response_model=ReadOut)
def read_up_to(session_id: uuid.UUID, body: ReadIn, db: DB, actor: CurrentActor) -> ReadOut:
    """I have read the chat up to this message. The marker only moves forward: an older
    message changes nothing, and the same one again answers the same."""
    state = reads.mark_read(db, actor, session_id, body.message_id)
    return ReadOut(session_id=state.session_id, message_id=state.message_id, unread=state.unread)


@on_session.get("/timeline", response_model=list[TimelineEntry])
def timeline(session_id: uuid.UUID, db: DB, actor: CurrentActor) -> list[TimelineEntry]:
    return room.timeline(db, actor, session_id)


# --- notifications ----------------------------------------------------------------------


@router.get("/notifications", responses=COMMON, tags=["notifications"])
def notifications(db: DB, actor: CurrentActor) -> Bell:
    """The bell: ``unread`` notifications (closed offers not counted), the newest 50, and
    ``messages_unread`` with the open sessions (``conversations``: session_id, name, unread)
    where the other party wrote since I last read."""
    with db.read() as s:
        rows = notify.list_for(s, actor.id)
        unread = notify.unread_count(s, actor.id)
        talks = reads.conversations(s, actor)
    return Bell(
        unread=unread,
        notifications=[NotificationOut.model_validate(r, from_attributes=True) for r in rows],
        messages_unread=sum(t.unread for t in talks),
        conversations=[
            Conversation(session_id=t.session_id, name=t.name, unread=t.unread) for t in talks
        ],
    )


@router.post(
    "/notifications/{notification_id}/read",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=READ_ONE,
    tags=["notifications"],
)
def mark_read(notification_id: uuid.UUID, db: DB, actor: CurrentActor) -> Response:
    if not db.run(lambda s: notify.mark_read(s, actor.id, notification_id)):
        raise NotFound("No such notification.")
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# Each router carries its whole path, so a route's template (in logs and metrics) is the URL.
ROUTERS = (router, on_auth, on_session)
