"""In Chromium, on a desktop and a phone: a mechanic finds a past session in History by its VIN.

The search is a form on the tab; its answer is a page whose address holds the search (a link
to keep), whose other tabs are untouched, and which axe-core finds nothing serious in. The
pages are the same on both databases, so this runs on PostgreSQL only.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, expect

from pitcrew.config import Settings
from pitcrew.db import Database
from pitcrew.models import Role
from pitcrew.web.app import create_app
from tests.support.factories import PASSWORD, Account, Stage, create_account, start_session
from tests.support.live import serve_in_thread

pytestmark = [
    pytest.mark.browser,
    pytest.mark.postgres_only,
    pytest.mark.usefixtures("quick_passwords"),
]

VIEWPORTS = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}
VIN = "1HGCM82633A004352"


@pytest.fixture
def site(pg_db: Database, pg_url: str) -> Iterator[str]:
    with serve_in_thread(create_app(Settings(database_url=pg_url), pg_db)) as url:
        yield url


@pytest.fixture
def mechanic(pg_db: Database) -> Account:
    """Bea, with four completed sessions: Dana's Civic (with its VIN) and three of Olu's."""
    bea = create_account(pg_db, Role.MECHANIC, "Bea Mechanic")
    civic = {"year": 2016, "make": "Honda", "model": "Civic", "mileage": 84000, "vin": VIN}
    dana = create_account(pg_db, Role.CUSTOMER, "Dana Driver")
    start_session(pg_db, dana, Stage.COMPLETED, mechanic=bea, vehicle=civic)
    olu = create_account(pg_db, Role.CUSTOMER, "Olu Owner")
    for _ in range(3):
        start_session(pg_db, olu, Stage.COMPLETED, mechanic=bea)
    return bea


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_a_mechanic_finds_a_past_session_by_its_vin(
    site: str, browser: Browser, viewport: str, mechanic: Account
) -> None:
    context = browser.new_context(viewport=VIEWPORTS[viewport], base_url=site)  # type: ignore[arg-type]
    context.set_default_timeout(10_000)
    signed = context.request.post(
        "/api/auth/login", data={"email": mechanic.email, "password": PASSWORD}
    )
    assert signed.ok, signed.text()
    page = context.new_page()
    try:
        page.goto("/mechanic/dashboard")
        page.get_by_role("tab", name="History").click()
        history = page.locator("#panel-history")
        expect(history.locator("tbody tr")).to_have_count(4)

        history.get_by_role("searchbox", name="Search").fill(VIN.lower())
        history.get_by_role("button", name="Search").click()
        page.wait_for_url(f"**q={VIN.lower()}**")
        expect(history).to_be_visible()
        expect(history.locator("tbody tr")).to_have_count(1)
        expect(history.locator("tbody tr")).to_contain_text("Dana Driver")
        expect(page.get_by_role("tab", name="History")).to_have_attribute("aria-selected", "true")
        expect(history.get_by_role("searchbox", name="Search")).to_have_value(VIN.lower())
        results = Axe().run(page, options={"resultTypes": ["violations"]})
        serious = [
            v["id"]
            for v in results.response["violations"]
            if v["impact"] in ("serious", "critical")
        ]
        assert serious == [], results.generate_report()

        # Completed is not searched: all four sessions are there.
        page.get_by_role("tab", name="Completed").click()
        expect(page.locator("#panel-completed tbody tr")).to_have_count(4)

        page.get_by_role("tab", name="History").click()
        history.get_by_role("searchbox", name="Search").fill("Lamborghini")
        history.get_by_role("button", name="Search").click()
        expect(history.get_by_role("heading", name="Nothing matches your search")).to_be_visible()
        history.get_by_role("link", name="Clear the search").click()
        expect(history.locator("tbody tr")).to_have_count(4)
    finally:
        context.close()
