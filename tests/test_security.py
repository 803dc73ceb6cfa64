"""What an attacker gets from pitcrew: no guesses past the throttle, no list of accounts, no
cross-site requests, no script in a page, and headers that tell browsers to keep it so."""

from __future__ import annotations

import re
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from pitcrew import auth, throttle
from pitcrew.config import Settings
from pitcrew.db import Database
from pitcrew.models import LoginFailure, Role, User, utcnow
from pitcrew.web import deps
from pitcrew.web.app import create_app
from pitcrew.web.security import CONTENT_SECURITY_POLICY
from tests.support.factories import INTAKE, PASSWORD, Person

LIMIT = 10
WINDOW = timedelta(minutes=15)


@pytest.fixture
def client_at(app: FastAPI) -> Iterator[Callable[[str], TestClient]]:
    """Anonymous clients, each from the address given."""
    clients: list[TestClient] = []

    def make(address: str) -> TestClient:
        client = TestClient(app, client=(address, 40000))
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


def _login(client: TestClient, email: str, password: str) -> Any:
    return client.post("/api/auth/login", json={"email": email, "password": password})


# --- the sign-in throttle ---------------------------------------------------------------


def test_ten_failures_lock_the_account_with_retry_after(
    quick_passwords: None, db: Database, customer: Person, client_at: Callable[[str], TestClient]
) -> None:
    attacker = client_at("203.0.113.7")
    for _ in range(LIMIT):
        assert _login(attacker, customer.email, "not the password").status_code == 401
    locked = _login(attacker, customer.email, PASSWORD)
    assert locked.status_code == 429, "the right password must not get through the lock"
    assert locked.json()["error"]["code"] == "too_many_attempts"
    assert 0 < int(locked.headers["Retry-After"]) <= WINDOW.total_seconds()
    # The lock is on the account, from any address; the account is still the owner's later.
    elsewhere = _login(client_at("198.51.100.20"), customer.email, PASSWORD)
    assert elsewhere.status_code == 429
    # Other accounts from another address are not affected.
    other = auth.create_user(
        db, email="other@example.com", name="Other", role=Role.CUSTOMER, password=PASSWORD
    )
    assert _login(client_at("198.51.100.21"), other.email, PASSWORD).status_code == 200


def test_ten_failures_from_one_address_lock_the_address(
    quick_passwords: None, db: Database, customer: Person, client_at: Callable[[str], TestClient]
) -> None:
    attacker = client_at("203.0.113.8")
    for n in range(LIMIT):
        assert _login(attacker, f"guess{n}@example.com", "whatever1").status_code == 401
    refused = _login(attacker, customer.email, PASSWORD)
    assert refused.status_code == 429 and "Retry-After" in refused.headers
    assert _login(client_at("198.51.100.30"), customer.email, PASSWORD).status_code == 200


def _words(answer: Any) -> dict[str, Any]:
    """The error as a person reads it (each request's own id left out)."""
    error: dict[str, Any] = answer.json()["error"]
    return {k: v for k, v in error.items() if k != "request_id"}


def test_throttle_answers_the_same_for_unknown_and_known_emails(
    quick_passwords: None, db: Database, customer: Person, client_at: Callable[[str], TestClient]
) -> None:
    answers = {}
    for n, email in enumerate((customer.email, "nobody-here@example.com")):
        client = client_at(f"203.0.113.{20 + n}")
        first = _login(client, email, "wrong password")
        for _ in range(LIMIT - 1):
            _login(client, email, "wrong password")
        last = _login(client, email, "wrong password")
        answers[email] = (first.status_code, _words(first), last.status_code, _words(last))
    known, unknown = answers.values()
    assert known == unknown
    assert known[0] == 401 and known[2] == 429


def test_failures_expire_after_the_window(db: Database) -> None:
    policy = throttle.Policy(max_failures=LIMIT, window=WINDOW)
    start = utcnow()
    for n in range(LIMIT):
        throttle.begin_attempt(db, "victim@example.com", f"10.0.0.{n}", policy, now=start)
    with pytest.raises(throttle.Throttled) as locked:
        throttle.begin_attempt(
            db, "victim@example.com", "10.0.1.1", policy, now=start + WINDOW - timedelta(seconds=5)
        )
    assert locked.value.retry_after == 5
    throttle.begin_attempt(db, "victim@example.com", "10.0.1.1", policy, now=start + WINDOW)
    with db.read() as s:
        assert s.scalar(select(func.count()).select_from(LoginFailure)) == 1, "old rows pruned"


def test_a_correct_password_clears_the_account_failures(
    quick_passwords: None, db: Database, customer: Person, client_at: Callable[[str], TestClient]
) -> None:
    for n in range(LIMIT - 1):
        assert _login(client_at(f"192.0.2.{n}"), customer.email, "typo typo").status_code == 401
    assert _login(client_at("192.0.2.100"), customer.email, PASSWORD).status_code == 200
    for n in range(LIMIT - 1):
        assert _login(client_at(f"192.0.2.{n}"), customer.email, "typo typo").status_code == 401
    assert _login(client_at("192.0.2.101"), customer.email, PASSWORD).status_code == 200


def test_every_worker_counts_the_same_failures(
    quick_passwords: None, db: Database, customer: Person
) -> None:
    """Two app instances with their own engines (as two server processes would have)."""
    apps = [create_app(Settings(database_url=db.url), Database(db.url)) for _ in range(2)]
    clients = [TestClient(a, client=("203.0.113.50", 1)) for a in apps]
    try:
        for n in range(LIMIT):
            assert _login(clients[n % 2], customer.email, "wrong one").status_code == 401
        assert _login(clients[0], customer.email, PASSWORD).status_code == 429
        assert _login(clients[1], customer.email, PASSWORD).status_code == 429
    finally:
        for client in clients:
            client.close()
        for a in apps:
            a.state.db.dispose()


def test_a_burst_of_parallel_guesses_gets_exactly_the_limit(
    quick_passwords: None, db: Database, app: FastAPI, customer: Person
) -> None:
    """Attempts are counted before the slow password check, so parallel guessing gains nothing."""
    statuses: list[int] = []
    lock = threading.Lock()

    def guess(n: int) -> None:
        with TestClient(app, client=(f"203.0.113.{100 + n}", 1)) as client:
            answer = _login(client, customer.email, f"guess number {n}")
        with lock:
            statuses.append(answer.status_code)

    threads = [threading.Thread(target=guess, args=(n,)) for n in range(3 * LIMIT)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert Counter(statuses) == {401: LIMIT, 429: 2 * LIMIT}


# --- no list of accounts ------------------------------------------------------------------


def _shape(answer: Any) -> tuple[int, list[str], list[str], list[str]]:
    body = answer.json()
    cookies = sorted(re.findall(r"^([^=]+)=", c)[0] for c in answer.headers.get_list("set-cookie"))
    return answer.status_code, sorted(body), sorted(body["user"]), cookies


def test_sign_up_with_a_taken_email_answers_like_a_new_account(
    db: Database, customer: Person, anonymous: TestClient, app: FastAPI
) -> None:
    fresh = anonymous.post(
        "/api/auth/register",
        json={"email": "new-driver@example.com", "password": "a fine password", "name": "New"},
    )
    with TestClient(app) as other:
        taken = other.post(
            "/api/auth/register",
            json={"email": customer.email.upper(), "password": "a fine password", "name": "Eve"},
        )
    assert _shape(fresh) == _shape(taken) and fresh.status_code == 201
    assert taken.json()["user"]["email"] == customer.email
    assert taken.json()["user"]["id"] != str(customer.id)
    # The answer signs nobody in, and the account is untouched.
    assert (
        anonymous.get(
            "/api/auth/me", headers={"Authorization": f"Bearer {taken.json()['token']}"}
        ).status_code
        == 401
    )
    with db.read() as s:
        owner = s.scalar(select(User).where(User.email == customer.email))
        assert owner is not None and owner.name == "Casey Driver"
        assert s.scalar(select(func.count()).select_from(User)) == 2
    assert _login(anonymous, customer.email, PASSWORD).status_code == 200


def test_sign_up_again_with_the_right_password_just_signs_in(
    db: Database, customer: Person, anonymous: TestClient
) -> None:
    again = anonymous.post(
        "/api/auth/register", json={"email": customer.email, "password": PASSWORD, "name": "X"}
    )
    assert again.status_code == 201
    assert again.json()["user"]["id"] == str(customer.id)
    me = anonymous.get("/api/auth/me", headers={"Authorization": f"Bearer {again.json()['token']}"})
    assert me.status_code == 200 and me.json()["name"] == "Casey Driver"


def test_sign_up_cannot_be_used_to_guess_passwords(
    quick_passwords: None, db: Database, customer: Person, client_at: Callable[[str], TestClient]
) -> None:
    attacker = client_at("203.0.113.60")
    for n in range(LIMIT):
        attacker.post(
            "/api/auth/register",
            json={"email": customer.email, "password": f"guess {n} here", "name": "Eve"},
        )
    again = client_at("198.51.100.61").post(
        "/api/auth/register", json={"email": customer.email, "password": PASSWORD, "name": "E"}
    )
    assert again.status_code == 429


def test_login_answers_the_same_for_unknown_email_and_wrong_password(
    db: Database, customer: Person, client_at: Callable[[str], TestClient]
) -> None:
    wrong = _login(client_at("192.0.2.1"), customer.email, "wrong password")
    unknown = _login(client_at("192.0.2.2"), "no-such-person@example.com", "wrong password")
    assert wrong.status_code == unknown.status_code == 401
    assert _words(wrong) == _words(unknown)


def test_passwords_are_stored_as_argon2_hashes(db: Database, customer: Person) -> None:
    with db.read() as s:
        stored = s.scalar(select(User.password_hash).where(User.id == customer.id))
    assert stored is not None and stored.startswith("$argon2id$") and PASSWORD not in stored


# --- cookies and CSRF -------------------------------------------------------------------


def _cookie_attributes(answer: Any) -> dict[str, set[str]]:
    found = {}
    for header in answer.headers.get_list("set-cookie"):
        name = header.split("=", 1)[0]
        found[name] = {part.strip().lower() for part in header.split(";")[1:]}
    return found


def test_session_cookie_is_httponly_samesite_and_secure_behind_https(
    db: Database, app: FastAPI, customer: Person
) -> None:
    body = {"email": customer.email, "password": PASSWORD}
    with TestClient(app) as plain:
        cookies = _cookie_attributes(plain.post("/api/auth/login", json=body))
    session = cookies[deps.COOKIE]
    assert "httponly" in session and "samesite=lax" in session and "secure" not in session
    assert "httponly" not in cookies[deps.CSRF_COOKIE], "pages read the CSRF cookie"

    with TestClient(app) as proxied:
        answer = proxied.post("/api/auth/login", json=body, headers={"X-Forwarded-Proto": "https"})
    assert all("secure" in attrs for attrs in _cookie_attributes(answer).values())
    assert answer.headers["Strict-Transport-Security"].startswith("max-age=")

    with TestClient(app, base_url="https://testserver") as direct:
        answer = direct.post("/api/auth/login", json=body)
    assert all("secure" in attrs for attrs in _cookie_attributes(answer).values())

    configured = create_app(Settings(database_url=db.url, cookie_secure=True), db)
    with TestClient(configured) as client:
        answer = client.post("/api/auth/login", json=body)
    attrs = _cookie_attributes(answer)[deps.COOKIE]
    assert "secure" in attrs and sum(a == "secure" for a in attrs) == 1


def _depends_on(route: APIRoute, call: Callable[..., Any]) -> bool:
    pending = list(route.dependant.dependencies)
    while pending:
        dependant = pending.pop()
        if dependant.call is call:
            return True
        pending.extend(dependant.dependencies)
    return False


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", str(uuid.uuid4()), path)


UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}


def _api_routes(app: FastAPI) -> list[APIRoute]:
    """Every route of the app, through included routers (which newer FastAPI keeps nested)."""
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:  # FastAPI before lazily included routers
        return [r for r in app.routes if isinstance(r, APIRoute)]
    found = []
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if isinstance(route, APIRoute):
            found.append(route)
    return found


def _signed_in_routes(app: FastAPI) -> list[tuple[str, str]]:
    return [
        (method, route.path)
        for route in _api_routes(app)
        if _depends_on(route, deps.optional_actor)
        for method in sorted((route.methods or set()) & UNSAFE)
    ]


@pytest.mark.parametrize("role", [Role.CUSTOMER, Role.MECHANIC])
def test_every_unsafe_route_refuses_a_cookie_without_csrf_token(
    quick_passwords: None, db: Database, app: FastAPI, make_user: Callable[..., Person], role: Role
) -> None:
    person = make_user(role)
    routes = _signed_in_routes(app)
    assert {("POST", "/api/mechanic/accept"), ("POST", "/api/intake/start")} <= set(routes)
    assert ("POST", "/api/sessions/{session_id}/cancel") in routes
    unsafe = {(m, r.path) for r in _api_routes(app) for m in (r.methods or set()) & UNSAFE}
    # For someone not signed in yet: JSON bodies only, which no other site's form can send.
    assert unsafe - set(routes) == {
        ("POST", "/api/auth/login"),
        ("POST", "/api/auth/register"),
        ("POST", "/api/auth/verify-email"),
        ("POST", "/api/auth/verify-email/resend"),
        ("POST", "/api/auth/password-reset"),
        ("POST", "/api/auth/password-reset/confirm"),
    }
    with TestClient(app) as browser:
        signed_in = _login(browser, person.email, PASSWORD)
        assert signed_in.status_code == 200 and browser.cookies.get(deps.COOKIE)
        for method, path in routes:
            for headers in ({}, {"X-CSRF-Token": "forged-token"}):
                answer = browser.request(method, _concrete(path), json={}, headers=headers)
                assert answer.status_code == 403, (method, path, headers, answer.text)
                assert answer.json()["error"]["code"] == "csrf", (method, path)


def test_cookie_with_the_csrf_token_works_and_bearer_needs_none(
    db: Database, app: FastAPI, customer: Person
) -> None:
    with TestClient(app) as browser:
        _login(browser, customer.email, PASSWORD)
        token = browser.cookies.get(deps.CSRF_COOKIE)
        assert token
        started = browser.post("/api/intake/start", json=INTAKE, headers={"X-CSRF-Token": token})
        assert started.status_code == 201, started.text
    assert customer.client.post("/api/intake/start", json=INTAKE).status_code == 201


# --- headers ----------------------------------------------------------------------------


def _check_headers(answer: Any, where: str) -> None:
    h = answer.headers
    csp = h.get("Content-Security-Policy", "")
    if where.startswith(("/docs", "/redoc")):
        assert "frame-ancestors 'none'" in csp, where
    else:
        assert csp == CONTENT_SECURITY_POLICY, where
    assert h.get("X-Content-Type-Options") == "nosniff", where
    assert h.get("Referrer-Policy") == "same-origin", where
    assert h.get("X-Frame-Options") == "DENY", where


def test_security_headers_on_every_response(
    db: Database, app: FastAPI, customer: Person, mechanic: Person
) -> None:
    gets = [route.path for route in _api_routes(app) if "GET" in (route.methods or set())]
    assert "/api/mechanic/dashboard" in gets and "/healthz" in gets
    with TestClient(app, follow_redirects=False) as anonymous:
        for path in gets:
            _check_headers(anonymous.get(_concrete(path)), path)
        for path in ("/openapi.json", "/docs", "/no/such/page", "/static/app.css"):
            _check_headers(anonymous.get(path), path)
        _check_headers(anonymous.post("/api/auth/login", content=b"x" * 100_000), "413")
        _check_headers(anonymous.post("/api/auth/login", json={}), "422")
    for person in (customer, mechanic):
        for path in gets:
            if path == "/api/events":
                continue  # a stream that stays open; its headers are the same middleware's
            _check_headers(person.client.get(_concrete(path), follow_redirects=False), path)


def test_csp_forbids_inline_script_and_framing() -> None:
    directives = dict((d.split()[0], d.split()[1:]) for d in CONTENT_SECURITY_POLICY.split("; "))
    assert directives["script-src"] == ["'self'"]
    assert directives["frame-ancestors"] == ["'none'"]
    assert directives["default-src"] == ["'self'"]
    assert not any("unsafe" in v for values in directives.values() for v in values)


# --- no script in a page ----------------------------------------------------------------

SCRIPT = "<script>alert(1)</script>"
ATTRIBUTE = '"><img src=x onerror=alert(2)>'
HOSTILE = f"{SCRIPT}{ATTRIBUTE}"


def test_text_from_users_is_escaped_in_every_page(
    quick_passwords: None, db: Database, make_user: Callable[..., Person]
) -> None:
    customer = make_user(Role.CUSTOMER, name=HOSTILE)
    mechanic = make_user(Role.MECHANIC, name=HOSTILE)
    admin = make_user(Role.ADMIN, name=HOSTILE)
    intake = dict(
        INTAKE,
        vehicle={"year": 2016, "make": SCRIPT, "model": ATTRIBUTE[:60], "mileage": 1},
        issue_description=HOSTILE,
    )
    done = customer.client.post("/api/intake/start", json=intake).json()["session_id"]
    dropped = customer.client.post("/api/intake/start", json=intake).json()
    waiting = customer.client.post("/api/intake/start", json=intake).json()
    for started in (done, dropped["session_id"], waiting["session_id"]):
        rid = customer.client.get(f"/api/sessions/{started}").json()["request"]["id"]
        assert mechanic.client.post("/api/mechanic/accept", json={"request_id": rid}).is_success
    mechanic.client.post(f"/api/sessions/{done}/join")
    for person in (customer, mechanic):
        said = person.client.post(f"/api/sessions/{done}/messages", json={"body": HOSTILE})
        assert said.status_code == 201
    assert mechanic.client.post(
        f"/api/sessions/{done}/complete", json={"summary": HOSTILE}
    ).is_success
    rated = customer.client.post(
        f"/api/sessions/{done}/rating", json={"rating": 4, "comment": HOSTILE}
    )
    assert rated.is_success
    cancelled = customer.client.post(
        f"/api/sessions/{dropped['session_id']}/cancel", json={"reason": HOSTILE}
    )
    assert cancelled.is_success
    customer.client.post("/api/intake/start", json=intake)  # one left in Incoming

    sessions = [
        f"/sessions/{sid}{part}"
        for sid in (done, dropped["session_id"], waiting["session_id"])
        for part in ("", "/parts")
    ]
    pages = [
        (customer, ["/sessions", "/sessions/parts", *sessions]),
        (mechanic, ["/mechanic/dashboard", "/mechanic/dashboard/parts", *sessions]),
        (admin, ["/admin"]),
    ]
    shown = 0
    for person, paths in pages:
        for path in paths:
            page = person.client.get(path, follow_redirects=False)
            assert page.status_code == 200, (path, page.status_code)
            assert page.headers["content-type"].startswith("text/html"), path
            html = page.text
            assert "<script>alert" not in html, path
            assert "<img src=x" not in html, path
            shown += html.count("&lt;script&gt;alert(1)&lt;/script&gt;")
    assert shown > 10, "the hostile text is shown (escaped) on the pages"
    # The API never answers HTML: its JSON is not rendered by a browser (and nosniff holds).
    for person in (customer, mechanic):
        for path in (f"/api/sessions/{done}", f"/api/sessions/{done}/messages"):
            answer = person.client.get(path)
            assert answer.headers["content-type"] == "application/json", path
            assert answer.headers["x-content-type-options"] == "nosniff"


# --- lists show only what is yours --------------------------------------------------------


def test_lists_never_show_another_users_sessions_or_notifications(
    quick_passwords: None, db: Database, make_user: Callable[..., Person]
) -> None:
    """Object-level access in the answers themselves, not only in their status codes."""
    customers = [make_user(Role.CUSTOMER) for _ in range(2)]
    mechanics = [make_user(Role.MECHANIC) for _ in range(2)]
    owned: dict[str, set[str]] = {}
    for n, (customer, mechanic) in enumerate(zip(customers, mechanics, strict=True)):
        started = customer.client.post("/api/intake/start", json=INTAKE).json()
        accepted = mechanic.client.post(
            "/api/mechanic/accept", json={"request_id": started["request_id"]}
        )
        assert accepted.status_code == 200
        if n == 0:
            mechanic.client.post(f"/api/sessions/{started['session_id']}/join")
        owned[str(customer.id)] = owned[str(mechanic.id)] = {started["session_id"]}

    for person in customers:
        listed = {s["id"] for s in person.client.get("/api/sessions").json()}
        assert listed == owned[str(person.id)]
    for person in mechanics:
        tabs = person.client.get("/api/mechanic/dashboard").json()
        held = {
            row["session_id"] for tab in ("active", "completed", "history") for row in tabs[tab]
        }
        assert held == owned[str(person.id)]
    for person in customers:
        notes = person.client.get("/api/notifications").json()["notifications"]
        assert notes, "the customer was told of the accept"
        assert {n["session_id"] for n in notes} <= owned[str(person.id)]
    for person in mechanics:
        notes = person.client.get("/api/notifications").json()["notifications"]
        # New-request notices go to every mechanic on duty; the rest are about their own.
        about_others = [
            n
            for n in notes
            if n["session_id"] not in owned[str(person.id)] and n["kind"] != "request.created"
        ]
        assert about_others == []
