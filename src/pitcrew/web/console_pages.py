"""The operator's console as pages: ``/admin`` and its sections, for admins only.

Like every page, they read through the domain's functions and change nothing themselves:
their buttons are scripts (``static/console.js``) calling ``/api/admin/...``. The floor
re-reads its ``/admin/parts`` when the live stream says a request or session moved.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from pitcrew import console, health, numbers, people
from pitcrew.admin_schemas import AccountQuery, SessionQuery
from pitcrew.auth import Actor
from pitcrew.models import Role, SessionStatus
from pitcrew.web.deps import DB, Photos
from pitcrew.web.pages import AdminPage, PageRoute, _fragment, _render, part_for

router = APIRouter(include_in_schema=False, route_class=PageRoute)

AdminPart = Annotated[Actor, Depends(part_for(Role.ADMIN))]


def _floor(request: Request, db: DB) -> dict[str, Any]:
    with db.read() as s:
        return {"floor": console.floor(s, request.app.state.settings.request_ttl)}


@router.get("/admin", response_class=HTMLResponse)
def floor_page(request: Request, db: DB, viewer: AdminPage) -> Response:
    return _render(request, "console_floor.html", {"viewer": viewer, **_floor(request, db)})


@router.get("/admin/parts", response_class=HTMLResponse)
def floor_parts(request: Request, db: DB, actor: AdminPart) -> Response:
    return _fragment(request, "console_floor_parts.html", _floor(request, db))


SEARCH_FIELDS = ("customer", "mechanic", "vehicle", "vin", "status", "since", "until", "page")


@router.get("/admin/sessions", response_class=HTMLResponse)
def sessions_page(request: Request, db: DB, viewer: AdminPage) -> Response:
    asked = {k: v for k, v in request.query_params.items() if k in SEARCH_FIELDS and v.strip()}
    problem = ""
    try:
        query = SessionQuery.model_validate(asked)
    except ValidationError:
        query, problem = SessionQuery(), "Check the search: a day is written like 2026-03-31."
    with db.read() as s:
        found = console.find_sessions(s, query)
    more = {**asked, "page": str(query.page + 1)}
    context = {
        "viewer": viewer,
        "asked": asked,
        "found": found,
        "problem": problem,
        "statuses": list(SessionStatus),
        "next_page": f"/admin/sessions?{urlencode(more)}" if found.more else "",
    }
    return _render(request, "console_sessions.html", context)


@router.get("/admin/people", response_class=HTMLResponse)
def people_page(request: Request, db: DB, viewer: AdminPage) -> Response:
    asked = {k: v for k, v in request.query_params.items() if k in ("q", "role", "page") and v}
    try:
        query = AccountQuery.model_validate(asked)
    except ValidationError:
        query = AccountQuery()
    with db.read() as s:
        found = people.find(s, query)
    context = {
        "viewer": viewer,
        "asked": asked,
        "found": found,
        "roles": list(Role),
        "email_on": bool(db.email_enabled),
        "next_page": (
            f"/admin/people?{urlencode({**asked, 'page': str(query.page + 1)})}"
            if found.more
            else ""
        ),
    }
    return _render(request, "console_people.html", context)


@router.get("/admin/health", response_class=HTMLResponse)
def health_page(request: Request, db: DB, photos: Photos, viewer: AdminPage) -> Response:
    checked = health.check(db, viewer.actor, photos)
    with db.read() as s:
        audit = health.audit(s)
    context = {"viewer": viewer, "health": checked, "audit": audit}
    return _render(request, "console_health.html", context)


PERIODS = ((1, "Today"), (7, "7 days"), (30, "30 days"), (90, "90 days"))


@router.get("/admin/numbers", response_class=HTMLResponse)
def numbers_page(request: Request, db: DB, viewer: AdminPage, days: str = "7") -> Response:
    chosen = int(days) if days.isdigit() and int(days) in dict(PERIODS) else 7
    with db.read() as s:
        counted = numbers.period(s, chosen)
    context = {"viewer": viewer, "numbers": counted, "periods": PERIODS, "chosen": chosen}
    return _render(request, "console_numbers.html", context)
