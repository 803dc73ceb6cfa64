"""People at their own browsers against a real server: what the page tests share.

Customers and mechanics each have their own browser context (their own cookies), as two
people on two machines would. Screenshots go to test-artifacts/ (or where a script says).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, Page, ViewportSize

from pitcrew.auth import Actor
from pitcrew.config import Settings
from pitcrew.db import Database
from pitcrew.models import Role
from pitcrew.web.app import create_app
from tests.support.factories import PASSWORD, create_account, start_session
from tests.support.live import serve_in_thread

PHONE: ViewportSize = {"width": 390, "height": 844}
DESKTOP: ViewportSize = {"width": 1280, "height": 800}
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
LIVE = 2_000  # ms: how soon a change must show on another person's page
SOON = 5_000  # ms: a page answering its own click


@dataclass
class Person:
    """Someone at their own browser: one context, one page, and what went wrong in it."""

    actor: Actor
    email: str
    page: Page
    problems: list[str] = field(default_factory=list)

    def assert_no_script_problems(self) -> None:
        assert self.problems == [], self.problems


@dataclass
class World:
    db: Database
    browser: Browser
    url: str
    pages: list[Page] = field(default_factory=list)

    def account(self, role: Role, name: str) -> tuple[Actor, str]:
        made = create_account(self.db, role, name)
        return made.actor, made.email

    def visitor(self, *, viewport: ViewportSize = DESKTOP, init: str = "") -> Page:
        """A browser context of someone's own, not signed in; closed with the world."""
        context = self.browser.new_context(viewport=viewport, base_url=self.url)
        if init:
            context.add_init_script(init)
        page = context.new_page()
        page.set_default_timeout(SOON)
        self.pages.append(page)
        return page

    def sign_in(
        self, role: Role, name: str, *, viewport: ViewportSize = DESKTOP, init: str = ""
    ) -> Person:
        """A new person signs in through the sign-in page, in a browser context of their own."""
        actor, email = self.account(role, name)
        page = self.visitor(viewport=viewport, init=init)
        person = Person(actor=actor, email=email, page=page)
        watch(page, person.problems)
        log_in(page, email)
        return person

    def start_intake(self, customer: Actor, **changes: Any) -> tuple[str, str]:
        return start_session(self.db, customer, **changes).ids


def log_in(page: Page, email: str, password: str = PASSWORD) -> None:
    """Sign in through the sign-in page and wait for the page each role lands on."""
    page.goto("/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"/(sessions|mechanic/dashboard|admin)(#\w+)?$"))


def watch(page: Page, problems: list[str]) -> None:
    """Uncaught script errors and policy violations; refused requests are the app's business."""

    def on_console(message: Any) -> None:
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            problems.append(message.text)

    page.on("console", on_console)
    page.on("pageerror", lambda error: problems.append(str(error)))


@contextmanager
def world_at(db: Database, database_url: str, browser: Browser) -> Iterator[World]:
    """The app on a loopback port, for people at their browsers; their contexts closed after."""
    app = create_app(Settings(database_url=database_url), db)
    with serve_in_thread(app) as url:
        here = World(db=db, browser=browser, url=url)
        try:
            yield here
        finally:
            for page in here.pages:
                page.context.close()


def shot(page: Page, name: str) -> None:
    """Save what the page looks like now; at phone width, the page must not scroll sideways."""
    ARTIFACTS.mkdir(exist_ok=True)
    width = page.viewport_size["width"] if page.viewport_size else 0
    size = "phone" if width < 600 else "desktop"
    page.evaluate("window.scrollTo({top: 0, behavior: 'instant'})")
    page.screenshot(path=str(ARTIFACTS / f"{name}-{size}.png"), full_page=True)
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"{name} at {size} width is {overflow}px too wide"
