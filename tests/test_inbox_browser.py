"""The mechanic's inbox in Chromium, at desktop and phone width: the car before accepting,
sessions named by car and customer, unread marks, notifications that close themselves, and
a page that says when it is not live.

PostgreSQL only, like the other browser tests; the pages are the same on SQLite.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, ViewportSize, expect

from pitcrew.config import Settings
from pitcrew.db import Database
from pitcrew.models import Role
from pitcrew.web.app import create_app
from tests.support.live import chromium, serve_in_thread
from tests.test_pages_browser import DESKTOP, LIVE, PHONE, World, count, incoming_row, shot

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("quick_passwords")]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


@pytest.fixture
def world(pg_db: Database, pg_url: str, browser: Browser) -> Iterator[World]:
    app = create_app(Settings(database_url=pg_url), pg_db)
    with serve_in_thread(app) as url:
        here = World(db=pg_db, browser=browser, url=url)
        try:
            yield here
        finally:
            for person in here.people:
                person.page.context.close()


VIEWPORTS = pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
VIN = "1HGCM82633A004352"


@VIEWPORTS
@pytest.mark.postgres_only
def test_a_request_shows_its_car_and_problem_before_accepting(
    world: World, viewport: ViewportSize
) -> None:
    bea = world.sign_in(Role.MECHANIC, "Bea Mechanic", viewport=viewport)
    m = bea.page
    customer, _ = world.account(Role.CUSTOMER, "Dana Driver")
    issue = "Grinding noise when braking.\nWorse in the morning when it is cold.\nThird line."
    vehicle = {"year": 2016, "make": "Honda", "model": "Civic", "mileage": 84000, "vin": VIN}
    _, request_id = world.start_intake(customer, vehicle=vehicle, issue_description=issue)

    row = incoming_row(m, request_id)
    expect(row).to_contain_text("2016 Honda Civic", timeout=LIVE)
    expect(row).to_contain_text("84,000 miles")
    expect(row).to_contain_text("Grinding noise when braking. Worse in the morning")
    expect(row).not_to_contain_text("Third line")
    shot(m, "inbox-incoming-preview")

    row.get_by_role("button", name="Details").click()
    dialog = m.get_by_role("dialog")
    expect(dialog).to_contain_text("2016 Honda Civic · Dana Driver")
    expect(dialog).to_contain_text("Third line")
    expect(dialog).to_contain_text(VIN)
    expect(dialog).not_to_contain_text("@example.com")
    shot(m, "inbox-request-details")
    dialog.get_by_role("button", name="Accept").click()
    expect(dialog).to_be_hidden()
    expect(count(m, "active")).to_have_text("1")
    m.get_by_role("tab", name="Active Sessions").click()
    active = m.locator("#panel-active")
    expect(active).to_contain_text("2016 Honda Civic · Dana Driver")
    expect(active.get_by_role("button", name="Join", exact=True)).to_be_visible()
    bea.assert_no_script_problems()
