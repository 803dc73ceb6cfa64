"""The pages: server-rendered HTML for customers and mechanics.

Pages read through the same functions as the JSON API (``room``, ``dashboard``, ``notify``)
and change nothing themselves: every button is a static script calling the JSON API with the
CSRF header, so a page can never do what the API would refuse. Which buttons a session shows
comes from ``flow.allowed_actions``; this module only words and arranges what it is told.

Live pages re-read their ``/parts`` fragment when the event stream says something changed,
so the same templates render the first view and every update.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, urlsplit

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from sqlalchemy.exc import SQLAlchemyError
from starlette.types import Scope

from pitcrew import (
    __version__,
    auth,
    console,
    dashboard,
    events,
    flow,
    notify,
    payloads,
    plans,
    reads,
    report,
    room,
    vehicles,
    waiting,
    words,
)
from pitcrew.admin_schemas import OnDuty
from pitcrew.auth import Actor
from pitcrew.errors import DomainError, Forbidden, Invalid, NotFound
from pitcrew.events import Kind
from pitcrew.flow import Action
from pitcrew.models import RequestStatus, Role, SessionStatus
from pitcrew.schemas import DashboardQuery, HistoryEntry, SessionDetail, SessionOut
from pitcrew.web.deps import DB, MaybeActor, optional_actor

HERE = Path(__file__).parent
STATIC_DIR = HERE / "static"


# Pages show personal data: never from a shared cache. (The policy headers, CSP included,
# come from ``web.security`` for every response.)
PAGE_HEADERS = {"Cache-Control": "no-store"}


PLAN_NAMES = {p.code: p.name for p in plans.PLANS}

SESSION_TYPES = (
    ("chat", "Chat", "Type back and forth with your mechanic."),
    ("video", "Video", "Show the problem on camera while you talk."),
)

# The buttons each role's pages carry; whether one shows depends on what the flow allows now.
ROLE_ACTIONS: dict[Role, frozenset[Action]] = {
    Role.CUSTOMER: frozenset({Action.CANCEL, Action.RATE, Action.MESSAGE}),
    Role.MECHANIC: frozenset(
        {Action.JOIN, Action.COMPLETE, Action.CANCEL, Action.RELEASE, Action.MESSAGE}
    ),
    Role.ADMIN: frozenset(),
}

STEPS = ("Requested", "Accepted", "Live", "Completed")
STEP_OF = {
    SessionStatus.PENDING: 0,
    SessionStatus.WAITING: 1,
    SessionStatus.LIVE: 2,
    SessionStatus.COMPLETED: 3,
}

# --- templates --------------------------------------------------------------------------


@lru_cache(maxsize=64)
def _static_version(name: str) -> str:
    """A short content hash, so a browser never runs yesterday's script against today's page."""
    path = STATIC_DIR / name
    if not path.is_file():
        return __version__
    return hashlib.sha256(path.read_bytes()).hexdigest()[:10]


def static_url(name: str) -> str:
    return f"/static/{name}?v={_static_version(name)}"


def _as_datetime(value: datetime | str | None) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(value)


def when(value: datetime | str | None) -> str:
    """A date and time a person reads at a glance (pages rewrite it to local time)."""
    moment = _as_datetime(value)
    if moment is None:
        return ""
    return moment.astimezone(UTC).strftime("%-d %b %Y, %H:%M UTC")


def iso(value: datetime | str | None) -> str:
    moment = _as_datetime(value)
    return moment.astimezone(UTC).isoformat() if moment else ""


def _span(seconds: float) -> str:
    whole = max(0, int(seconds))
    if whole < 60:
        return f"{whole} s"
    if whole < 3600:
        return f"{whole // 60} min {whole % 60} s"
    return f"{whole // 3600} h {whole % 3600 // 60} min"


def waited(value: datetime | str | None) -> str:
    moment = _as_datetime(value)
    if moment is None:
        return ""
    return _span((datetime.now(UTC) - moment).total_seconds())


def left(value: datetime | str | None) -> str:
    """The time left until a moment (pages count it down), or "due now" once it has passed."""
    moment = _as_datetime(value)
    if moment is None:
        return ""
    seconds = (moment - datetime.now(UTC)).total_seconds()
    return _span(seconds) if seconds > 0 else "due now"


def plan_name(code: str | None) -> str:
    if not code:
        return ""
    return PLAN_NAMES.get(code, code.replace("_", " ").replace("-", " ").title())


def short_id(value: uuid.UUID | str | None) -> str:
    return str(value)[:8] if value else ""


def status_label(status: str | None) -> str:
    if not status:
        return ""
    try:
        return words.label(SessionStatus(status))
    except ValueError:
        return status.title()


def status_sentence(status: str | None) -> str:
    """What follows "is": "waiting for a mechanic", "live"."""
    try:
        return words.sentence(SessionStatus(status or ""))
    except ValueError:
        return str(status or "")


def vehicle_line(vehicle: dict[str, Any] | None) -> str:
    return words.vehicle(vehicle)


def session_name(row: Any) -> str:
    """A dashboard row's or a session's name: its car and its customer."""
    vehicle = row.get("vehicle") if isinstance(row, dict) else None
    return words.session_name(vehicle, row["customer_name"] if isinstance(row, dict) else "")


def urgency(value: str) -> str:
    return report.URGENCY_WORDS.get(str(value), str(value))


def cost_range(step: Any) -> str:
    return report.cost_words(step.cost_min, step.cost_max)


def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    filters: dict[str, Callable[..., str]] = {
        "when": when,
        "iso": iso,
        "waited": waited,
        "left": left,
        "seconds": lambda value: "—" if value is None else _span(value),
        "plan_name": plan_name,
        "short_id": short_id,
        "status_label": status_label,
        "status_sentence": status_sentence,
        "vehicle_line": vehicle_line,
        "session_name": session_name,
        "mileage": words.mileage,
        "first_lines": words.first_lines,
        "urgency": urgency,
        "cost_range": cost_range,
        "duration": plans.duration_words,
    }
    env.filters.update(filters)
    env.globals["static_url"] = static_url
    env.globals["product"] = "pitcrew"
    env.globals["plan_minutes"] = plans.minutes
    # For the scripts, as data on the page: the status words and the kinds to listen for.
    env.globals["status_words"] = words.as_data()
    env.globals["live_kinds"] = list(events.LIVE_NAMES)
    return env


templates = Jinja2Templates(env=_environment())


class _Static(StaticFiles):
    """Scripts and styles: a versioned address is kept for good, any other is checked anew.

    Pages name their files with ``?v=<content hash>``, so those never go stale. A script
    module imported by another (the video call's) is fetched by its bare name: the browser
    must ask again each time (a 304 while unchanged), or a deploy would pair a new page
    with an old module.
    """

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        versioned = b"v=" in scope.get("query_string", b"")
        response.headers["Cache-Control"] = (
            "public, max-age=31536000, immutable" if versioned else "no-cache"
        )
        return response


def mount_static(app: Any) -> None:
    app.mount("/static", _Static(directory=STATIC_DIR), name="static")


# --- rendering helpers ------------------------------------------------------------------


@dataclass(frozen=True)
class Viewer:
    """The signed-in user as the header shows them."""

    actor: Actor
    unread: int  # notifications, and messages in open sessions
    # The newest event when the page was read: the live stream resumes from here, so an
    # event committed between rendering and connecting still reaches the page.
    last_event: int

    @property
    def role(self) -> str:
        return self.actor.role

    @property
    def name(self) -> str:
        return self.actor.name

    @property
    def initials(self) -> str:
        parts = [p for p in self.actor.name.split() if p]
        return "".join(p[0] for p in parts[:2]).upper() or "?"


def _viewer(db: DB, actor: Actor | None) -> Viewer | None:
    if actor is None:
        return None
    with db.read() as s:
        last_event = events.latest_id(s)
        unread = notify.unread_count(s, actor.id)
        unread += sum(talk.unread for talk in reads.conversations(s, actor))
    return Viewer(actor=actor, unread=unread, last_event=last_event)


def _render(
    request: Request,
    name: str,
    context: dict[str, Any],
    *,
    status_code: int = 200,
) -> HTMLResponse:
    context.setdefault("viewer", None)
    context.setdefault("page", name.removesuffix(".html"))
    return templates.TemplateResponse(
        request, name, context, status_code=status_code, headers=PAGE_HEADERS
    )


def _error_page(
    request: Request, viewer: Viewer | None, status_code: int, title: str, message: str
) -> HTMLResponse:
    return _render(
        request,
        "error.html",
        {"viewer": viewer, "title": title, "message": message, "status": status_code},
        status_code=status_code,
    )


def _domain_error_page(request: Request, viewer: Viewer | None, error: DomainError) -> HTMLResponse:
    if isinstance(error, NotFound | Invalid):
        return _error_page(
            request, viewer, 404, "Not found", "There is nothing here. Check the link."
        )
    if isinstance(error, Forbidden):
        return _error_page(request, viewer, 403, "Not yours", error.message)
    return _error_page(request, viewer, error.status, "Something is not right", error.message)


def error_page(request: Request, status_code: int, title: str, message: str) -> HTMLResponse:
    """The styled error page for a URL no page route answers, with whoever is signed in."""
    db: DB = request.app.state.db
    try:
        viewer = _viewer(db, optional_actor(request, db))
    except (DomainError, SQLAlchemyError):  # a stale CSRF token, a database away: still a page
        viewer = None
    return _error_page(request, viewer, status_code, title, message)


def _to_login(request: Request) -> RedirectResponse:
    target = request.url.path
    if request.url.query:
        target += "?" + request.url.query
    return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)


def _home_for(actor: Actor) -> str:
    return {
        Role.CUSTOMER: "/sessions",
        Role.MECHANIC: "/mechanic/dashboard",
        Role.ADMIN: "/admin",
    }[actor.role]


def safe_next(value: str | None) -> str | None:
    """Only a path on this site: never a redirect to somewhere else.

    Browsers drop tabs and line breaks from a URL and read a backslash as a slash, so
    ``/\t/evil.example`` would leave the site: any control character, white space or
    backslash refuses the value outright, and what remains must parse as a bare path.
    """
    if not value or any(ch.isspace() or not ch.isprintable() or ch == "\\" for ch in value):
        return None
    parts = urlsplit(value)
    if not value.startswith("/") or value.startswith("//") or parts.scheme or parts.netloc:
        return None
    return value


def _fragment(request: Request, name: str, context: dict[str, Any]) -> HTMLResponse:
    return templates.TemplateResponse(request, name, context, headers=PAGE_HEADERS)


def _fragment_error(error: DomainError) -> HTMLResponse:
    return HTMLResponse(f"<p>{error.status}</p>", status_code=error.status, headers=PAGE_HEADERS)


# --- what a session page shows ------------------------------------------------------------


@dataclass(frozen=True)
class TimelineLine:
    at: datetime
    who: str
    words: str
    kind: str
    tone: str  # the session status the event led to, when it names one


@dataclass
class SessionView:
    """A session as one of its parties sees it: words, the actions open to them, its history."""

    detail: SessionDetail
    viewer_id: uuid.UUID
    viewer_role: Role
    actions: frozenset[str]
    headline: str
    explanation: str
    tone: str
    can_request_again: bool
    messages: list[Any] = field(default_factory=list)
    timeline: list[TimelineLine] = field(default_factory=list)
    history: list[HistoryEntry] | None = None  # the car's earlier reports, for its mechanic
    on_duty: list[OnDuty] = field(default_factory=list)  # an admin's choices to reassign to
    seen_id: uuid.UUID | None = None  # my newest message the other party has read
    wait: waiting.Waiting | None = None  # for the customer while nobody has accepted

    @property
    def session(self) -> SessionOut:
        return self.detail.session

    @property
    def key(self) -> str:
        """Changes whenever the state part must be drawn again."""
        s = self.detail.session
        return "|".join(
            str(x) for x in (s.status, self.detail.request.status, s.mechanic_id, s.rating)
        )

    @property
    def cancel_label(self) -> str:
        pending = self.detail.session.status == SessionStatus.PENDING
        return "Cancel request" if pending else "Cancel session"

    @property
    def steps(self) -> list[tuple[str, str]]:
        """The way from request to completion, as done / current / todo marks."""
        status = SessionStatus(self.detail.session.status)
        if status not in STEP_OF:
            return []
        at = STEP_OF[status]
        marks = []
        for i, label in enumerate(STEPS):
            done = i < at or status == SessionStatus.COMPLETED
            marks.append((label, "done" if done else "current" if i == at else "todo"))
        return marks

    @property
    def name(self) -> str:
        """The session's name for its title and heading: its car and its customer."""
        intake = self.detail.intake
        return words.session_name(
            intake.vehicle_info if intake else None, self.detail.session.customer_name
        )

    @property
    def other_party(self) -> str:
        s = self.detail.session
        if self.viewer_role == Role.CUSTOMER:
            return s.mechanic_name or "your mechanic"
        if self.viewer_role == Role.ADMIN:
            return f"{s.customer_name} and {s.mechanic_name or 'no mechanic'}"
        return s.customer_name

    @property
    def reassignable(self) -> bool:
        """An admin may move it to another mechanic: it waits for the one who accepted it."""
        return self.viewer_role == Role.ADMIN and self.session.status == SessionStatus.WAITING

    @property
    def cancellable_by_admin(self) -> bool:
        status = SessionStatus(self.session.status)
        return self.viewer_role == Role.ADMIN and Action.CANCEL in flow.allowed_actions(status)


def _headline(detail: SessionDetail, role: Role) -> tuple[str, str, str]:
    """The status in words for the person looking, with a line on what happens next."""
    s = detail.session
    status = SessionStatus(s.status)
    mechanic = s.mechanic_name or "A mechanic"
    mine = role == Role.MECHANIC
    if role == Role.ADMIN:
        return _headline_for_admin(detail)
    if status == SessionStatus.PENDING:
        return (
            words.label(status),
            "Every mechanic on duty can see your request. This page updates by itself.",
            status,
        )
    if status == SessionStatus.WAITING:
        if mine:
            return "You accepted — join when ready", f"{s.customer_name} is waiting.", status
        return (
            f"{mechanic} accepted — joining shortly",
            "The chat opens as soon as they join.",
            status,
        )
    if status == SessionStatus.LIVE:
        other = s.customer_name if mine else mechanic
        return words.label(status), f"You are in a live session with {other}.", status
    if status == SessionStatus.COMPLETED:
        return words.label(status), "The session is over. The summary is below.", status
    if detail.request.status == RequestStatus.EXPIRED:
        return (
            f"{words.label(status)} — no mechanic was free in time",
            "Nobody accepted the request before it expired.",
            status,
        )
    return words.label(status), "This session was cancelled.", status


def _headline_for_admin(detail: SessionDetail) -> tuple[str, str, str]:
    """The same session told from outside: who is in it, never "you"."""
    s = detail.session
    status = SessionStatus(s.status)
    between = f"{s.customer_name} and {s.mechanic_name}" if s.mechanic_name else ""
    if status == SessionStatus.PENDING:
        return (
            words.label(status),
            f"{s.customer_name}'s request is offered to every mechanic on duty.",
            status,
        )
    if status == SessionStatus.WAITING:
        return (
            f"{s.mechanic_name} accepted — not joined yet",
            f"{s.customer_name} is waiting for {s.mechanic_name} to join.",
            status,
        )
    if status == SessionStatus.LIVE:
        return words.label(status), f"Live session between {between}.", status
    if status == SessionStatus.COMPLETED:
        return words.label(status), f"The session between {between} is over.", status
    if detail.request.status == RequestStatus.EXPIRED:
        return words.label(status), "Nobody accepted the request before it expired.", status
    return words.label(status), "This session was cancelled.", status


# Chat lines are in the chat, and a cancelled request is told by its session's own line.
TIMELINE_SKIPS = {Kind.MESSAGE_CREATED, Kind.REQUEST_CANCELLED}


def _session_view(db: DB, actor: Actor, session_id: str, ttl: timedelta) -> SessionView:
    detail = room.detail(db, actor, session_id)
    status = SessionStatus(detail.session.status)
    allowed = set(flow.allowed_actions(status)) & ROLE_ACTIONS[actor.role]
    if detail.session.rating is not None:
        allowed.discard(Action.RATE)
    headline, explanation, tone = _headline(detail, actor.role)
    entries = room.timeline(db, actor, session_id)
    messages = list(room.messages(db, actor, session_id))
    lines = [
        TimelineLine(
            at=e.at,
            who=e.actor_name or "",
            words=e.text,
            kind=e.kind,
            tone=str(payloads.session_status(e.kind, e.payload) or ""),
        )
        for e in entries
        if e.kind not in TIMELINE_SKIPS and e.text
    ]
    return SessionView(
        detail=detail,
        viewer_id=actor.id,
        viewer_role=actor.role,
        actions=frozenset(allowed),
        headline=headline,
        explanation=explanation,
        tone=tone,
        can_request_again=actor.role == Role.CUSTOMER and flow.can_request_again(status),
        messages=messages,
        timeline=lines,
        history=_history(db, actor, detail),
        on_duty=_reassign_choices(db, actor, detail),
        seen_id=_seen(db, actor, detail, messages),
        wait=(
            waiting.facts(db, detail.session.id, ttl)
            if actor.role == Role.CUSTOMER and status == SessionStatus.PENDING
            else None
        ),
    )


def _reassign_choices(db: DB, actor: Actor, detail: SessionDetail) -> list[OnDuty]:
    """For an admin looking at a waiting session: the other mechanics on duty."""
    if actor.role != Role.ADMIN or detail.session.status != SessionStatus.WAITING:
        return []
    with db.read() as s:
        return [m for m in console.mechanics_on_duty(s) if m.id != detail.session.mechanic_id]


def _seen(db: DB, actor: Actor, detail: SessionDetail, messages: list[Any]) -> uuid.UUID | None:
    """My newest message at or before the other party's read marker: where "Seen" shows."""
    s = detail.session
    other = s.mechanic_id if actor.id == s.customer_user_id else s.customer_user_id
    if other is None or actor.id not in (s.customer_user_id, s.mechanic_id):
        return None
    with db.read() as dbs:
        marker = reads.marker(dbs, s.id, other)
    if marker is None:
        return None
    seen = None
    for message in messages:
        if message.sender_id == actor.id:
            seen = message.id
        if message.id == marker.message_id:
            return seen
    return None


def _history(db: DB, actor: Actor, detail: SessionDetail) -> list[HistoryEntry] | None:
    """The car's earlier reports when the viewer is the mechanic holding this session."""
    if actor.role != Role.MECHANIC or detail.session.mechanic_id != actor.id:
        return None
    try:
        return report.history(db, actor, detail.session.id)
    except NotFound:
        return None


# --- the mechanic's dashboard -----------------------------------------------------------

TAB_TITLES = (
    ("incoming", "Incoming Requests"),
    ("active", "Active Sessions"),
    ("completed", "Completed"),
    ("history", "History"),
)


def _with_actions(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for row in rows:
        status = SessionStatus(row["session_status"]) if row.get("session_status") else None
        actions = flow.allowed_actions(status) if status else []
        out.append({**row, "actions": frozenset(actions)})
    return out


# The tabs a mechanic can search, and the words of History's status filter.
SEARCHABLE = ("completed", "history")
HISTORY_FILTER = (("accepted", "Accepted"), ("cancelled", "Cancelled"), ("released", "Handed back"))


def _dashboard_context(
    db: DB, actor: Actor, request: Request, query: DashboardQuery | None = None
) -> dict[str, Any]:
    """The four tabs' first pages; the one named by ``?tab=`` is cut to ``query``'s search."""
    searched = request.query_params.get("tab")
    search = dashboard.NO_SEARCH
    if query and searched in SEARCHABLE:
        search = dashboard.search_for(query)
    with db.read() as s:
        pages = dashboard.whole(s, actor.id)
        if search:
            pages[str(searched)] = dashboard.tab_page(s, actor.id, str(searched), search=search)
    tabs = []
    for key, title in TAB_TITLES:
        page = pages[key]
        tabs.append(
            {
                "key": key,
                "title": title,
                "unread": sum(row.get("unread") or 0 for row in page.rows),
                "rows": _with_actions(page.rows),
                "count": f"{len(page.rows)}+" if page.next_cursor else str(len(page.rows)),
                "more": page.next_cursor,
                "search": _finder(key, query if key == searched else None),
            }
        )
    live = "/mechanic/dashboard/parts" + (f"?{request.url.query}" if search else "")
    return {"tabs": tabs, "live_url": live, "active_key": searched if search else None}


def _finder(tab: str, query: DashboardQuery | None) -> dict[str, Any] | None:
    """What the tab's search form shows: the search it holds, and the choices it offers."""
    if tab not in SEARCHABLE:
        return None
    values = query.model_dump(exclude_none=True) if query else {}
    return {
        "values": values,
        "active": bool(set(values) - {"cursor"}),
        "statuses": HISTORY_FILTER if tab == "history" else (),
    }


def _sessions_context(db: DB, actor: Actor) -> dict[str, Any]:
    sessions = room.customer_sessions(db, actor)
    intakes = room.customer_intakes(db, actor, [x.id for x in sessions])
    return {"sessions": sessions, "intakes": intakes}


# --- who may see a page ------------------------------------------------------------------


class Refused(Exception):
    """A page (or part) the visitor may not see, with the answer they get instead."""

    def __init__(self, answer: Response) -> None:
        super().__init__(answer.status_code)
        self.answer = answer


class PageRoute(APIRoute):
    """A page route: a :class:`Refused` raised while reading who asks becomes its answer."""

    def get_route_handler(self) -> Callable[[Request], Any]:
        handler = super().get_route_handler()

        async def answer(request: Request) -> Response:
            try:
                response: Response = await handler(request)
            except Refused as refused:
                return refused.answer
            return response

        return answer


router = APIRouter(include_in_schema=False, route_class=PageRoute)

ROLE_PAGES: dict[Role, tuple[str, str]] = {
    Role.CUSTOMER: ("For customers", "Only customers can see this page."),
    Role.MECHANIC: ("For mechanics", "Only mechanics have a dashboard."),
    Role.ADMIN: ("For admins", "Only admins can see this page."),
}


def signed_in_as(*roles: Role) -> Callable[[Request, DB, MaybeActor], Viewer]:
    """A page for ``roles``: anyone else signs in first, or is shown the 403 page."""

    def viewer(request: Request, db: DB, actor: MaybeActor) -> Viewer:
        if actor is None:
            raise Refused(_to_login(request))
        seen = _viewer(db, actor)
        assert seen is not None
        if actor.role not in roles:
            title, message = ROLE_PAGES[roles[0]]
            raise Refused(_error_page(request, seen, 403, title, message))
        return seen

    return viewer


def part_for(*roles: Role) -> Callable[[MaybeActor], Actor]:
    """A live page's part for ``roles``: a bare 401 or 403 the page's script acts on."""

    def reader(actor: MaybeActor) -> Actor:
        if actor is None:
            raise Refused(HTMLResponse("", status_code=401, headers=PAGE_HEADERS))
        if actor.role not in roles:
            raise Refused(_fragment_error(Forbidden(ROLE_PAGES[roles[0]][1])))
        return actor

    return reader


CustomerPage = Annotated[Viewer, Depends(signed_in_as(Role.CUSTOMER))]
MechanicPage = Annotated[Viewer, Depends(signed_in_as(Role.MECHANIC))]
AdminPage = Annotated[Viewer, Depends(signed_in_as(Role.ADMIN))]
AnyonePage = Annotated[Viewer, Depends(signed_in_as(*Role))]
CustomerPart = Annotated[Actor, Depends(part_for(Role.CUSTOMER))]
MechanicPart = Annotated[Actor, Depends(part_for(Role.MECHANIC))]
AnyonePart = Annotated[Actor, Depends(part_for(*Role))]


# --- routes -------------------------------------------------------------------------------


@router.get("/", response_class=HTMLResponse)
def home(actor: MaybeActor) -> Response:
    if actor is None:
        return RedirectResponse("/login", status_code=303)
    return RedirectResponse(_home_for(actor), status_code=303)


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, actor: MaybeActor, next: str | None = None) -> Response:
    if actor is not None:
        return RedirectResponse(safe_next(next) or _home_for(actor), status_code=303)
    return _render(request, "login.html", {"next": safe_next(next) or "/"})


@router.get("/signup", response_class=HTMLResponse)
def signup_page(request: Request, actor: MaybeActor) -> Response:
    if actor is not None:
        return RedirectResponse(_home_for(actor), status_code=303)
    return _render(request, "signup.html", {})


@router.get("/forgot-password", response_class=HTMLResponse)
def forgot_password_page(request: Request) -> Response:
    email_available = bool(request.app.state.db.email_enabled)
    return _render(request, "forgot_password.html", {"email_available": email_available})


@router.get("/reset-password", response_class=HTMLResponse)
def reset_password_page(request: Request) -> Response:
    """The link's token is in the fragment: the page's script sends it with the password."""
    return _render(request, "reset_password.html", {})


@router.get("/verify-email", response_class=HTMLResponse)
def verify_email_page(request: Request) -> Response:
    """A button, not an automatic confirmation: mail scanners that open links press none."""
    return _render(request, "verify_email.html", {})


@router.get("/sessions", response_class=HTMLResponse)
def customer_home(request: Request, db: DB, viewer: CustomerPage) -> Response:
    context = _sessions_context(db, viewer.actor)
    return _render(request, "sessions.html", {"viewer": viewer, **context})


@router.get("/sessions/parts", response_class=HTMLResponse)
def customer_home_parts(request: Request, db: DB, actor: CustomerPart) -> Response:
    return _fragment(request, "sessions_parts.html", _sessions_context(db, actor))


@router.get("/intake", response_class=HTMLResponse)
def intake_page(request: Request, db: DB, viewer: CustomerPage, another: bool = False) -> Response:
    """The intake form; with a request still open, first the question whether to start another
    (``?another=1`` answers yes)."""
    still_open = (SessionStatus.PENDING, SessionStatus.WAITING, SessionStatus.LIVE)
    open_now = [s for s in room.customer_sessions(db, viewer.actor) if s.status in still_open]
    context = {
        "open_session": None if another or not open_now else open_now[0],
        "viewer": viewer,
        "plans": plans.PLANS,
        "session_types": SESSION_TYPES,
        "this_year": _year(),
        "cars": vehicles.mine(db, viewer.actor),
    }
    return _render(request, "intake.html", context)


def _ttl(request: Request) -> timedelta:
    """How long a request is offered before it expires (REQUEST_TTL)."""
    ttl: timedelta = request.app.state.settings.request_ttl
    return ttl


def _year() -> int:
    return datetime.now(UTC).year


@router.get("/sessions/{session_id}", response_class=HTMLResponse)
def session_page(request: Request, session_id: str, db: DB, viewer: AnyonePage) -> Response:
    try:
        view = _session_view(db, viewer.actor, session_id, _ttl(request))
    except DomainError as error:
        return _domain_error_page(request, viewer, error)
    return _render(request, "session.html", {"viewer": viewer, "view": view})


@router.get("/sessions/{session_id}/parts", response_class=HTMLResponse)
def session_parts(request: Request, session_id: str, db: DB, actor: AnyonePart) -> Response:
    try:
        view = _session_view(db, actor, session_id, _ttl(request))
    except DomainError as error:
        return _fragment_error(error)
    return _fragment(request, "session_parts.html", {"view": view})


@router.get("/mechanic/dashboard", response_class=HTMLResponse)
def mechanic_dashboard(
    request: Request, db: DB, viewer: MechanicPage, query: Annotated[DashboardQuery, Query()]
) -> Response:
    user = auth.load_user(db, viewer.actor.id)
    context = {
        "viewer": viewer,
        "on_duty": user.on_duty,
        "email_alerts": user.notify_by_email,
        "sound": user.sound_alerts,
        "email_available": bool(request.app.state.settings.smtp_url),
        **_dashboard_context(db, viewer.actor, request, query),
    }
    return _render(request, "dashboard.html", context)


@router.get("/mechanic/dashboard/parts", response_class=HTMLResponse)
def mechanic_dashboard_parts(
    request: Request, db: DB, actor: MechanicPart, query: Annotated[DashboardQuery, Query()]
) -> Response:
    context = _dashboard_context(db, actor, request, query)
    return _fragment(request, "dashboard_parts.html", context)
