"""The pages as a browser receives them: who sees what, where sign-in leads, and that user
text and forged requests do no harm. (The live behaviour is in test_pages_browser.py.)"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable
from html.parser import HTMLParser
from typing import Any

import pytest
from fastapi.testclient import TestClient

from pitcrew import auth, words
from pitcrew.db import Database
from pitcrew.events import BROWSER_KINDS, Kind
from pitcrew.models import Role
from tests.support.factories import INTAKE, PASSWORD, Person, start_session

CSRF = "pitcrew_csrf"


def _browser(app: Any, person: Person) -> TestClient:
    """A client signed in the way a browser is: by cookie, no bearer token."""
    client = TestClient(app)
    answer = client.post("/api/auth/login", json={"email": person.email, "password": PASSWORD})
    assert answer.status_code == 200, answer.text
    assert client.cookies.get(CSRF)
    return client


def _csrf(client: TestClient) -> dict[str, str]:
    return {"X-CSRF-Token": client.cookies.get(CSRF) or ""}


def _ok(answer: Any) -> None:
    assert answer.status_code in (200, 201), answer.text


def _text(html: str) -> str:
    """What a person reads: tags dropped, whitespace folded."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


class _Attributes(HTMLParser):
    """Each tag's attributes as a browser reads them (entities decoded)."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, {name: value or "" for name, value in attrs}))


def _tags(html: str) -> list[tuple[str, dict[str, str]]]:
    parser = _Attributes()
    parser.feed(html)
    return parser.tags


def _buttons(html: str) -> set[str]:
    found = re.findall(r"<(?:button|summary)[^>]*>(.*?)</(?:button|summary)>", html, flags=re.S)
    return {_text(b).strip() for b in found}


def test_home_sends_each_role_to_its_own_page(
    app: Any, anonymous: TestClient, customer: Person, mechanic: Person
) -> None:
    answer = anonymous.get("/", follow_redirects=False)
    assert (answer.status_code, answer.headers["location"]) == (303, "/login")
    with _browser(app, customer) as browser:
        assert browser.get("/", follow_redirects=False).headers["location"] == "/sessions"
    with _browser(app, mechanic) as browser:
        assert browser.get("/", follow_redirects=False).headers["location"] == (
            "/mechanic/dashboard"
        )


def test_pages_ask_for_sign_in_and_come_back_after(anonymous: TestClient, db: Database) -> None:
    for path in ("/sessions", "/intake", "/mechanic/dashboard", f"/sessions/{uuid.uuid4()}"):
        answer = anonymous.get(path, follow_redirects=False)
        assert answer.status_code == 303, path
        assert answer.headers["location"].startswith("/login?next=%2F"), path
    login = anonymous.get("/login?next=/intake")
    assert 'data-next="/intake"' in login.text


def test_sign_in_page_has_the_labelled_fields(anonymous: TestClient, db: Database) -> None:
    page = anonymous.get("/login")
    assert page.status_code == 200
    assert re.search(r'<label for="email">Email</label>', page.text)
    assert re.search(r'<label for="password">Password</label>', page.text)
    assert "Sign in" in _buttons(page.text)
    signup = anonymous.get("/signup")
    assert signup.status_code == 200 and "Create account" in _buttons(signup.text)


def test_sign_in_never_redirects_off_site(app: Any, customer: Person) -> None:
    with _browser(app, customer) as browser:
        for target in ("//evil.example/x", "https://evil.example/", "/\\evil.example"):
            answer = browser.get(f"/login?next={target}", follow_redirects=False)
            assert answer.headers["location"] == "/sessions", target
        answer = browser.get("/login?next=/intake", follow_redirects=False)
        assert answer.headers["location"] == "/intake"


def test_customer_pages_render(db: Database, app: Any, customer: Person) -> None:
    sid = start_session(db, customer).sid
    with _browser(app, customer) as browser:
        home = browser.get("/sessions")
        assert home.status_code == 200
        assert f'href="/sessions/{sid}"' in home.text
        assert "2016 Honda Civic" in _text(home.text)
        asking = browser.get("/intake")  # a request is open: asked first
        assert "You already have a request open" in _text(asking.text)
        assert f'href="/sessions/{sid}"' in asking.text
        intake = browser.get("/intake?another=1")
        assert intake.status_code == 200
        for label in ("Year", "Make", "Model", "Describe the issue", "Basic", "Premium"):
            assert label in _text(intake.text), label
        assert browser.get("/mechanic/dashboard").status_code == 403


def test_session_page_is_for_its_customer_and_mechanic_only(
    db: Database, app: Any, customer: Person, mechanic: Person, make_user: Callable[..., Person]
) -> None:
    sid, rid = start_session(db, customer).ids
    _ok(mechanic.client.post("/api/mechanic/accept", json={"request_id": rid}))
    stranger = make_user(Role.CUSTOMER, name="Another Driver")
    other_mechanic = make_user(Role.MECHANIC, name="Sam Wrench")
    with _browser(app, customer) as browser:
        page = browser.get(f"/sessions/{sid}")
        assert page.status_code == 200
        assert "Bea Mechanic accepted — joining shortly" in page.text
    with _browser(app, mechanic) as browser:
        assert browser.get(f"/sessions/{sid}").status_code == 200
    for person in (stranger, other_mechanic):
        with _browser(app, person) as browser:
            page = browser.get(f"/sessions/{sid}")
            assert page.status_code == 404  # someone else's session is as unknown as none
            assert page.headers["content-type"].startswith("text/html")
            assert "Grinding noise" not in page.text
            assert browser.get(f"/sessions/{sid}/parts").status_code == 404
    with _browser(app, customer) as browser:
        assert browser.get(f"/sessions/{uuid.uuid4()}").status_code == 404
        assert browser.get("/sessions/not-a-session").status_code == 404


def test_session_page_offers_what_the_flow_allows_now(
    db: Database, app: Any, customer: Person, mechanic: Person
) -> None:
    sid, rid = start_session(db, customer).ids
    with _browser(app, customer) as cust, _browser(app, mechanic) as mech:

        def seen(client: TestClient) -> tuple[str, set[str]]:
            page = client.get(f"/sessions/{sid}")
            assert page.status_code == 200
            headline = re.search(r"data-status-headline>([^<]*)<", page.text)
            assert headline is not None
            return headline.group(1), _buttons(page.text)

        headline, buttons = seen(cust)
        assert headline == "Waiting for a mechanic"
        assert "Cancel request" in buttons and "Join session" not in buttons

        _ok(mech.post("/api/mechanic/accept", json={"request_id": rid}, headers=_csrf(mech)))
        headline, buttons = seen(mech)
        assert {"Join session", "Hand back", "Cancel session"} <= buttons
        assert "Complete session" not in buttons
        _, buttons = seen(cust)
        assert "Join session" not in buttons and "Cancel session" in buttons

        _ok(mech.post(f"/api/sessions/{sid}/join", headers=_csrf(mech)))
        headline, buttons = seen(mech)
        assert headline == "Live"
        assert {"Complete session", "Send"} <= buttons and "Join session" not in buttons

        done = mech.post(
            f"/api/sessions/{sid}/complete", json={"summary": "Worn pads."}, headers=_csrf(mech)
        )
        _ok(done)
        headline, buttons = seen(cust)
        assert headline == "Completed" and "Send rating" in buttons
        assert "Worn pads." in cust.get(f"/sessions/{sid}").text
        assert not {"Cancel session", "Send"} & buttons

        rated = cust.post(
            f"/api/sessions/{sid}/rating",
            json={"rating": 4, "comment": "Thanks"},
            headers=_csrf(cust),
        )
        _ok(rated)
        _, buttons = seen(cust)
        assert "Send rating" not in buttons
        assert "4/5" in _text(mech.get(f"/sessions/{sid}").text)


def test_a_cancelled_session_offers_request_again(db: Database, app: Any, customer: Person) -> None:
    sid = start_session(db, customer).sid
    with _browser(app, customer) as browser:
        _ok(browser.post(f"/api/sessions/{sid}/cancel", json={}, headers=_csrf(browser)))
        page = browser.get(f"/sessions/{sid}")
        assert "Cancelled" in page.text
        assert "Request again" in _buttons(page.text)
        assert "Cancel request" not in _buttons(page.text)


def test_dashboard_has_the_four_tabs_with_counts(
    db: Database, app: Any, customer: Person, mechanic: Person
) -> None:
    start_session(db, customer)
    rid = start_session(db, customer).rid
    _ok(mechanic.client.post("/api/mechanic/accept", json={"request_id": rid}))
    with _browser(app, mechanic) as browser:
        page = browser.get("/mechanic/dashboard")
        assert page.status_code == 200
        tabs = re.findall(
            r'role="tab".*?<span class="tab-title">([^<]*)</span> '
            r'<span class="count" data-count="\w+">(\d+)</span>',
            page.text,
            flags=re.S,
        )
        assert tabs == [
            ("Incoming Requests", "1"),
            ("Active Sessions", "1"),
            ("Completed", "0"),
            ("History", "1"),
        ]
        assert "Accept" in _buttons(page.text) and "Join" in _buttons(page.text)
        parts = browser.get("/mechanic/dashboard/parts")
        assert parts.status_code == 200 and 'data-part="panel-active"' in parts.text


def test_pages_give_their_scripts_the_status_words_and_event_kinds(
    db: Database, app: Any, customer: Person, mechanic: Person
) -> None:
    """The scripts keep no copy of either: the page carries them, and each live region names
    the subjects of the events it redraws on, which must be subjects the stream has."""
    sid = start_session(db, customer).sid
    with TestClient(app) as anonymous:
        pages = [anonymous.get("/login").text]
    with _browser(app, customer) as browser:
        pages += [browser.get("/sessions").text, browser.get(f"/sessions/{sid}").text]
    with _browser(app, mechanic) as browser:
        pages.append(browser.get("/mechanic/dashboard").text)
    subjects = {kind.value.split(".")[0] for kind in Kind}
    regions = 0
    for html in pages:
        tags = _tags(html)
        body = next(attrs for tag, attrs in tags if tag == "body")
        kinds = [kind.value for kind in BROWSER_KINDS]
        assert json.loads(body["data-live-kinds"]) == [*kinds, "typing"]
        status_words = json.loads(body["data-status-words"])
        assert status_words == words.as_data()
        assert status_words["pending"]["label"] == "Waiting for a mechanic"
        for _, attrs in tags:
            if "data-live" in attrs:
                regions += 1
                named = attrs["data-live-subjects"].split()
                assert named and set(named) <= subjects, named
    assert regions == 3


def test_user_text_is_shown_as_text_never_as_markup(
    app: Any, db: Database, make_user: Callable[..., Person], mechanic: Person
) -> None:
    evil = '<script>alert("name")</script>'
    customer = make_user(Role.CUSTOMER, name=evil)
    sid, rid = start_session(
        db,
        customer,
        issue_description='<img src=x onerror="alert(1)"> brakes',
        vehicle={"year": 2016, "make": "<b>Honda</b>", "model": "Civic"},
    ).ids
    _ok(mechanic.client.post("/api/mechanic/accept", json={"request_id": rid}))
    _ok(mechanic.client.post(f"/api/sessions/{sid}/join"))
    _ok(customer.client.post(f"/api/sessions/{sid}/messages", json={"body": "</ol><script>x()"}))
    with _browser(app, mechanic) as browser:
        pages = [
            browser.get(f"/sessions/{sid}").text,
            browser.get(f"/sessions/{sid}/parts").text,
            browser.get("/mechanic/dashboard").text,
        ]
    with _browser(app, customer) as browser:
        pages.append(browser.get("/sessions").text)
        pages.append(browser.get(f"/sessions/{sid}").text)
    for html in pages:
        assert "<script>alert" not in html and "<script>x()" not in html
        assert "<img src=x" not in html and "<b>Honda" not in html
        assert "&lt;script&gt;" in html


def test_pages_carry_no_inline_script(
    db: Database, app: Any, customer: Person, mechanic: Person
) -> None:
    """Every script is a static file, so a policy without 'unsafe-inline' lets them all run."""
    sid, rid = start_session(db, customer).ids
    _ok(mechanic.client.post("/api/mechanic/accept", json={"request_id": rid}))
    pages = []
    with TestClient(app) as anonymous:
        pages += [
            anonymous.get(path)
            for path in (
                "/login",
                "/signup",
                "/forgot-password",
                "/reset-password",
                "/verify-email",
            )
        ]
    with _browser(app, customer) as browser:
        pages += [browser.get(p) for p in ("/sessions", "/intake", f"/sessions/{sid}")]
    with _browser(app, mechanic) as browser:
        pages += [browser.get("/mechanic/dashboard"), browser.get(f"/sessions/{sid}")]
    for page in pages:
        assert page.status_code == 200
        scripts = re.findall(r"<script\b([^>]*)>(.*?)</script>", page.text, flags=re.S)
        assert scripts and all('src="/static/' in attrs and not body for attrs, body in scripts)
        assert not re.search(r"\son[a-z]+\s*=", page.text), "no inline event handlers"
        assert "style=" not in page.text
        policy = page.headers.get("content-security-policy", "")
        assert "script-src 'self'" in policy and "unsafe-inline" not in policy
    for asset in ("app.js", "app.css", "live.js", "dashboard.js", "session.js"):
        assert TestClient(app).get(f"/static/{asset}").status_code == 200


def test_cookie_requests_need_the_csrf_token(app: Any, customer: Person) -> None:
    with _browser(app, customer) as browser:
        refused = browser.post("/api/intake/start", json=INTAKE)
        assert refused.status_code == 403
        assert refused.json()["error"]["code"] == "csrf"
        forged = browser.post("/api/intake/start", json=INTAKE, headers={"X-CSRF-Token": "x"})
        assert forged.status_code == 403
        assert browser.post("/api/auth/logout").status_code == 403
        home = browser.get("/sessions")
        assert "Grinding noise" not in home.text, "the refused requests changed nothing"
        accepted = browser.post("/api/intake/start", json=INTAKE, headers=_csrf(browser))
        assert accepted.status_code == 201
        out = browser.post("/api/auth/logout", headers=_csrf(browser))
        assert out.status_code == 204
        assert browser.get("/sessions", follow_redirects=False).status_code == 303


@pytest.mark.parametrize("path", ["/sessions/parts", "/mechanic/dashboard/parts", "/admin/parts"])
def test_live_fragments_need_sign_in(anonymous: TestClient, db: Database, path: str) -> None:
    assert anonymous.get(path).status_code == 401


def test_admin_has_a_home(app: Any, db: Database) -> None:
    auth.create_user(
        db, email="root@example.com", name="Avery Admin", role=Role.ADMIN, password=PASSWORD
    )
    with TestClient(app) as browser:
        _ok(
            browser.post(
                "/api/auth/login", json={"email": "root@example.com", "password": PASSWORD}
            )
        )
        assert browser.get("/", follow_redirects=False).headers["location"] == "/admin"
        home = browser.get("/admin").text
        assert "Pending requests" in home and "Mechanics on duty" in home


def test_scripts_are_kept_by_version_and_modules_checked_anew(anonymous: Any) -> None:
    """A page's versioned script may be cached for good; a module it imports by bare name
    is checked again each time, so a deploy never pairs a new page with an old module."""
    versioned = anonymous.get("/static/app.js?v=1")
    assert versioned.status_code == 200
    assert "immutable" in versioned.headers["cache-control"]
    module = anonymous.get("/static/video/call.js")
    assert module.status_code == 200
    assert module.headers["cache-control"] == "no-cache"
    again = anonymous.get(
        "/static/video/call.js", headers={"If-None-Match": module.headers["etag"]}
    )
    assert again.status_code == 304
