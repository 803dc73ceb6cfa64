"""Signing up, confirming the address and setting a forgotten password, in Chromium, with
the emails delivered to a real SMTP server and their links opened as a person would.

PostgreSQL only, to keep CI time down; the same flows run through the API on both
databases in test_accounts.py.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from pitcrew.config import Settings
from pitcrew.db import Database
from pitcrew.models import Role
from pitcrew.web.app import create_app
from tests.support.factories import PASSWORD, create_account
from tests.support.live import serve_in_thread, wait_for
from tests.support.smtp import SmtpServer

pytestmark = [
    pytest.mark.browser,
    pytest.mark.postgres_only,
    pytest.mark.usefixtures("quick_passwords"),
]

LINK = re.compile(r"http://\S+#token=\S+")
NEW_PASSWORD = "a brand new secret"


@pytest.fixture
def site(pg_db: Database, pg_url: str, smtp: SmtpServer) -> Iterator[str]:
    smtp.start()
    settings = Settings(
        database_url=pg_url, smtp_url=f"smtp://127.0.0.1:{smtp.port}", email_poll_seconds=0.05
    )
    with serve_in_thread(create_app(settings, pg_db)) as url:
        yield url


@pytest.fixture
def page(browser: Browser, site: str) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 390, "height": 844}, base_url=site)
    opened = context.new_page()
    opened.set_default_timeout(10_000)
    problems: list[str] = []
    opened.on("pageerror", lambda error: problems.append(str(error)))
    try:
        yield opened
        assert problems == []
    finally:
        context.close()


def link_to(smtp: SmtpServer, address: str, count: int = 1) -> str:
    """The link in the ``count``-th email to ``address``."""
    wait_for(lambda: len(smtp.inbox.to(address)) >= count, f"email {count} to {address}", 20)
    found = LINK.search(smtp.inbox.to(address)[count - 1].part("plain"))
    assert found is not None
    return found.group(0)


def test_sign_up_confirm_and_sign_in_from_the_email(page: Page, smtp: SmtpServer) -> None:
    page.goto("/signup")
    page.get_by_label("Your name").fill("Nia New")
    page.get_by_label("Email").fill("nia@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    expect(page.locator("[data-sent]")).to_contain_text("Check your email")
    expect(page.locator("form[data-signup]")).to_be_hidden()

    page.goto("/login")
    page.get_by_label("Email").fill("nia@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("Confirm your email address first")
    page.get_by_role("button", name="Send the link again").click()
    expect(page.locator("[data-sent]")).to_contain_text("Check your email")

    page.goto(link_to(smtp, "nia@example.com", 2))
    expect(page).to_have_url(re.compile(r"/verify-email$"))  # the token left the address bar
    page.get_by_role("button", name="Confirm and sign in").click()
    page.wait_for_url(re.compile(r"/intake$"))
    expect(page.get_by_role("heading", level=1)).to_be_visible()


def test_forgot_password_from_the_sign_in_page(
    page: Page, pg_db: Database, smtp: SmtpServer
) -> None:
    account = create_account(pg_db, Role.CUSTOMER, "Casey Driver")
    page.goto("/login")
    page.get_by_role("link", name="Forgot password?").click()
    page.get_by_label("Email").fill(account.email)
    page.get_by_role("button", name="Email me a link").click()
    expect(page.locator("[data-sent]")).to_contain_text("If an account has that address")

    link = link_to(smtp, account.email)
    page.goto(link)
    page.get_by_label("New password").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Set password and sign in").click()
    page.wait_for_url(re.compile(r"/sessions$"))

    page.goto(link)  # a second time: it worked once
    page.get_by_label("New password").fill("yet another secret")
    page.get_by_role("button", name="Set password and sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("expired or was already used")
