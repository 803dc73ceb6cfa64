"""Accounts proven by email, end to end through a real SMTP server: a forgotten password set
again from its link, a sign-up confirmed by its link, and an owner never locked out by
strangers' guesses."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from pitcrew import auth, retention
from pitcrew.accounts import DEVICES_KEPT
from pitcrew.config import Settings
from pitcrew.db import Database
from pitcrew.models import AccountToken, TokenPurpose, User, utcnow
from pitcrew.web.app import create_app
from pitcrew.web.cookies import DEVICE_COOKIE
from tests.support.factories import PASSWORD, Person
from tests.support.live import wait_for
from tests.support.smtp import Received, SmtpServer

pytestmark = pytest.mark.usefixtures("quick_passwords")

NEW_PASSWORD = "a brand new secret"
LINK = re.compile(r"(http://\S+)#token=(\S+)")


@pytest.fixture
def settings(db: Database, smtp: SmtpServer, tmp_path: Path) -> Settings:
    return Settings(
        database_url=db.url,
        smtp_url=f"smtp://127.0.0.1:{smtp.port}",
        smtp_from="pitcrew <noreply@pitcrew.example.com>",
        email_poll_seconds=0.05,
        media_dir=tmp_path / "media",
    )


@pytest.fixture
def browser(app: FastAPI, smtp: SmtpServer) -> Iterator[TestClient]:
    """Someone at a browser, with the server's services (the email sender) running."""
    smtp.start()
    with TestClient(app) as client:
        yield client


def one_email(smtp: SmtpServer, address: str, count: int = 1) -> Received:
    """The ``count``-th email to ``address``, once it arrived."""
    wait_for(lambda: len(smtp.inbox.to(address)) >= count, f"email {count} to {address}", 20)
    return smtp.inbox.to(address)[count - 1]


def link_of(received: Received) -> tuple[str, str]:
    """The page a link leads to and its token, as a person clicking it would get them."""
    found = LINK.search(received.part("plain"))
    assert found is not None, received.part("plain")
    assert found.group(0) in received.part("html")
    return found.group(1), found.group(2)


def stored_tokens(db: Database, purpose: TokenPurpose) -> list[AccountToken]:
    with db.read() as s:
        return list(s.scalars(select(AccountToken).where(AccountToken.purpose == purpose)))


# --- a forgotten password ------------------------------------------------------------------


def test_a_forgotten_password_is_set_again_from_its_link_once(
    db: Database, browser: TestClient, smtp: SmtpServer, customer: Person, app: FastAPI
) -> None:
    known = browser.post("/api/auth/password-reset", json={"email": customer.email.upper()})
    unknown = browser.post("/api/auth/password-reset", json={"email": "nobody@example.com"})
    assert known.status_code == unknown.status_code == 202
    assert known.json() == unknown.json()
    assert "If an account has that address" in known.json()["message"]

    email = one_email(smtp, customer.email)
    assert email.subject == "Set a new password"
    page, token = link_of(email)
    assert page == f"{browser.base_url}/reset-password"
    assert "within 60 minutes" in email.part("plain")
    [stored] = stored_tokens(db, TokenPurpose.RESET_PASSWORD)
    assert token not in stored.token_hash, "only the token's hash is kept"
    assert browser.get("/reset-password").status_code == 200

    answer = browser.post(
        "/api/auth/password-reset/confirm", json={"token": token, "password": NEW_PASSWORD}
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["user"]["email"] == customer.email
    assert browser.get("/api/auth/me").status_code == 200, "signed in here by the cookie"
    assert customer.client.get("/api/auth/me").status_code == 401, "signed out elsewhere"

    again = browser.post(
        "/api/auth/password-reset/confirm", json={"token": token, "password": "yet another one"}
    )
    assert again.status_code == 404
    assert again.json()["error"]["code"] == "link_expired"
    fresh = TestClient(app)
    old = fresh.post("/api/auth/login", json={"email": customer.email, "password": PASSWORD})
    assert old.status_code == 401
    new = fresh.post("/api/auth/login", json={"email": customer.email, "password": NEW_PASSWORD})
    assert new.status_code == 200
    assert smtp.inbox.to("nobody@example.com") == []


def test_a_reset_link_expires_and_a_weak_password_keeps_it(
    db: Database, app: FastAPI, smtp: SmtpServer, customer: Person, settings: Settings
) -> None:
    smtp.start()
    short = create_app(settings.model_copy(update={"password_reset_ttl": timedelta(0)}), db)
    with TestClient(short) as client:
        client.post("/api/auth/password-reset", json={"email": customer.email})
        _, expired = link_of(one_email(smtp, customer.email))
        late = client.post(
            "/api/auth/password-reset/confirm", json={"token": expired, "password": NEW_PASSWORD}
        )
        assert late.status_code == 404 and late.json()["error"]["code"] == "link_expired"

    with TestClient(app) as client:
        client.post("/api/auth/password-reset", json={"email": customer.email})
        _, token = link_of(one_email(smtp, customer.email, 2))
        weak = client.post(
            "/api/auth/password-reset/confirm", json={"token": token, "password": "short"}
        )
        assert weak.status_code == 422
        assert [d["field"] for d in weak.json()["error"]["details"]] == ["password"]
        assert customer.client.get("/api/auth/me").status_code == 200, "nothing changed"
        good = client.post(
            "/api/auth/password-reset/confirm", json={"token": token, "password": NEW_PASSWORD}
        )
        assert good.status_code == 200


def test_without_email_the_forgot_page_says_who_can_help(db: Database) -> None:
    plain = create_app(Settings(database_url=db.url), db)
    with TestClient(plain) as client:
        page = client.get("/forgot-password")
        assert page.status_code == 200
        assert "does not send email" in page.text
        assert "data-forgot" not in page.text, "no form that could never send"
        asked = client.post("/api/auth/password-reset", json={"email": "x@example.com"})
        assert asked.status_code == 202


# --- a sign-up confirmed by email ----------------------------------------------------------


def test_sign_up_with_email_on_confirms_the_address_before_signing_in(
    db: Database, browser: TestClient, smtp: SmtpServer, customer: Person, app: FastAPI
) -> None:
    signup = {"name": "Nia New", "email": "nia@example.com", "password": PASSWORD}
    new = browser.post("/api/auth/register", json=signup)
    taken = browser.post(
        "/api/auth/register", json={**signup, "email": customer.email, "password": "guessing-it"}
    )
    assert new.status_code == taken.status_code == 202
    assert new.json() == taken.json()
    assert "Check your email" in new.json()["message"]
    assert DEVICE_COOKIE not in browser.cookies and "pitcrew_session" not in browser.cookies

    tried = one_email(smtp, customer.email)
    assert tried.subject == "Someone tried to sign up"
    assert "Nothing changed" in tried.part("plain")
    assert customer.client.get("/api/auth/me").status_code == 200

    first = one_email(smtp, "nia@example.com")
    assert first.subject == "Confirm your email address"
    login = {"email": "nia@example.com", "password": PASSWORD}
    refused = browser.post("/api/auth/login", json=login)
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "email_unverified"
    assert "Confirm your email address first" in refused.json()["error"]["message"]

    resent = browser.post("/api/auth/verify-email/resend", json={"email": "nia@example.com"})
    assert resent.status_code == 202
    _, old_token = link_of(first)
    page, token = link_of(one_email(smtp, "nia@example.com", 2))
    assert page == f"{browser.base_url}/verify-email"
    stale = browser.post("/api/auth/verify-email", json={"token": old_token})
    assert stale.status_code == 404, "a new link replaces the old one"

    confirmed = browser.post("/api/auth/verify-email", json={"token": token})
    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json()["user"]["email"] == "nia@example.com"
    assert browser.get("/api/auth/me").json()["name"] == "Nia New"
    assert browser.post("/api/auth/verify-email", json={"token": token}).status_code == 404
    with TestClient(app) as elsewhere:
        assert elsewhere.post("/api/auth/login", json=login).status_code == 200


def test_an_unconfirmed_sign_up_by_someone_else_is_undone_by_the_owners(
    db: Database, browser: TestClient, smtp: SmtpServer
) -> None:
    """Someone who signs up with another's address first cannot keep the account: the
    owner's own sign-up chooses the password, and only its link confirms it."""
    squatter = {"name": "Squatter", "email": "ola@example.com", "password": "squatters-pw"}
    owner = {"name": "Ola Owner", "email": "ola@example.com", "password": PASSWORD}
    assert browser.post("/api/auth/register", json=squatter).status_code == 202
    assert browser.post("/api/auth/register", json=owner).status_code == 202
    _, squatters_link = link_of(one_email(smtp, "ola@example.com"))
    _, owners_link = link_of(one_email(smtp, "ola@example.com", 2))
    assert browser.post("/api/auth/verify-email", json={"token": squatters_link}).status_code == 404
    assert browser.post("/api/auth/verify-email", json={"token": owners_link}).status_code == 200
    browser.cookies.clear()
    pick = {"email": "ola@example.com", "password": "squatters-pw"}
    assert browser.post("/api/auth/login", json=pick).status_code == 401
    with db.read() as s:
        [user] = s.scalars(select(User).where(User.email == "ola@example.com"))
    assert user.name == "Ola Owner" and user.email_verified


def test_a_reset_link_also_confirms_the_address(
    db: Database, browser: TestClient, smtp: SmtpServer
) -> None:
    signup = {"name": "Pat", "email": "pat@example.com", "password": PASSWORD}
    assert browser.post("/api/auth/register", json=signup).status_code == 202
    browser.post("/api/auth/password-reset", json={"email": "pat@example.com"})
    _, token = link_of(one_email(smtp, "pat@example.com", 2))
    answer = browser.post(
        "/api/auth/password-reset/confirm", json={"token": token, "password": NEW_PASSWORD}
    )
    assert answer.status_code == 200
    assert browser.get("/api/auth/me").status_code == 200


# --- no lock-out by strangers -------------------------------------------------------------


def test_strangers_guessing_never_lock_out_the_owners_browser(
    db: Database, app: FastAPI, anonymous: TestClient, customer: Person, settings: Settings
) -> None:
    owner = TestClient(app)
    right = {"email": customer.email, "password": PASSWORD}
    signed = owner.post("/api/auth/login", json=right)
    assert signed.status_code == 200
    device = owner.cookies.get(DEVICE_COOKIE)
    assert device, "a browser that signed in is remembered"
    set_cookie = next(
        h for h in signed.headers.get_list("set-cookie") if h.startswith(DEVICE_COOKIE)
    )
    assert "HttpOnly" in set_cookie and "SameSite=lax" in set_cookie
    assert "Path=/api/auth" in set_cookie
    owner.post("/api/auth/logout", headers={"X-CSRF-Token": owner.cookies["pitcrew_csrf"]})

    wrong = {"email": customer.email, "password": "not the password"}
    for _ in range(settings.login_max_failures + 2):
        anonymous.post("/api/auth/login", json=wrong)
    stranger = TestClient(app, client=("203.0.113.9", 5000))
    assert stranger.post("/api/auth/login", json=right).status_code == 429, "still limited"

    back = owner.post("/api/auth/login", json=right)
    assert back.status_code == 200, back.text
    assert owner.cookies.get(DEVICE_COOKIE) == device

    # The owner's browser is limited by its own failures only.
    for _ in range(settings.login_max_failures):
        assert owner.post("/api/auth/login", json=wrong).status_code == 401
    assert owner.post("/api/auth/login", json=right).status_code == 429


def test_a_device_cookie_of_another_account_changes_nothing(
    db: Database, app: FastAPI, anonymous: TestClient, customer: Person, mechanic: Person
) -> None:
    other = TestClient(app)
    login = {"email": mechanic.email, "password": PASSWORD}
    assert other.post("/api/auth/login", json=login).status_code == 200
    wrong = {"email": customer.email, "password": "not the password"}
    for _ in range(10):
        anonymous.post("/api/auth/login", json=wrong)
    right = {"email": customer.email, "password": PASSWORD}
    assert other.post("/api/auth/login", json=right).status_code == 429


def test_after_a_reset_the_owner_is_not_locked_out(
    db: Database, browser: TestClient, smtp: SmtpServer, customer: Person, app: FastAPI
) -> None:
    stranger = TestClient(app, client=("203.0.113.9", 5000))
    for _ in range(12):
        stranger.post("/api/auth/login", json={"email": customer.email, "password": "guess"})
    browser.post("/api/auth/password-reset", json={"email": customer.email})
    _, token = link_of(one_email(smtp, customer.email))
    answer = browser.post(
        "/api/auth/password-reset/confirm", json={"token": token, "password": NEW_PASSWORD}
    )
    assert answer.status_code == 200
    browser.post("/api/auth/logout", headers={"X-CSRF-Token": browser.cookies["pitcrew_csrf"]})
    for _ in range(12):
        stranger.post("/api/auth/login", json={"email": customer.email, "password": "guess"})
    again = browser.post(
        "/api/auth/login", json={"email": customer.email, "password": NEW_PASSWORD}
    )
    assert again.status_code == 200, again.text


def test_asking_for_emails_is_limited_without_locking_anyone_out(
    db: Database, browser: TestClient, smtp: SmtpServer, customer: Person, settings: Settings
) -> None:
    for _ in range(settings.login_max_failures + 3):
        answer = browser.post("/api/auth/password-reset", json={"email": customer.email})
        assert answer.status_code == 202
    wait_for(
        lambda: len(smtp.inbox.to(customer.email)) >= settings.login_max_failures,
        "the emails within the limit",
        20,
    )
    assert len(stored_tokens(db, TokenPurpose.RESET_PASSWORD)) == settings.login_max_failures
    login = {"email": customer.email, "password": PASSWORD}
    assert browser.post("/api/auth/login", json=login).status_code == 200


# --- what is kept ---------------------------------------------------------------------------


def test_expired_links_and_browsers_are_pruned(
    db: Database, browser: TestClient, smtp: SmtpServer, customer: Person, settings: Settings
) -> None:
    browser.post("/api/auth/password-reset", json={"email": customer.email})
    one_email(smtp, customer.email)
    assert browser.post(
        "/api/auth/login", json={"email": customer.email, "password": PASSWORD}
    ).is_success
    kept = [
        *stored_tokens(db, TokenPurpose.RESET_PASSWORD),
        *stored_tokens(db, TokenPurpose.DEVICE),
    ]
    assert len(kept) >= 2
    assert retention.prune(db, settings).account_tokens == 0
    later = utcnow() + timedelta(days=400)
    assert retention.prune(db, settings, now=later).account_tokens == len(kept)
    assert stored_tokens(db, TokenPurpose.DEVICE) == []


def test_an_account_remembers_its_newest_browsers_only(
    db: Database, anonymous: TestClient, customer: Person
) -> None:
    login = {"email": customer.email, "password": PASSWORD}
    for _ in range(DEVICES_KEPT + 3):
        assert anonymous.post("/api/auth/login", json=login).status_code == 200
        anonymous.cookies.clear()  # a script that keeps no cookie
    newest = anonymous.post("/api/auth/login", json=login).cookies[DEVICE_COOKIE]
    kept = stored_tokens(db, TokenPurpose.DEVICE)
    assert len(kept) == DEVICES_KEPT
    assert auth.token_hash(newest) in {t.token_hash for t in kept}
