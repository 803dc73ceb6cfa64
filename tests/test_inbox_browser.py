"""The mechanic's inbox in Chromium, at desktop and phone width: the car before accepting,
sessions named by car and customer, unread marks, notifications that close themselves, and
a page that says when it is not live.

PostgreSQL only, like the other browser tests; the pages are the same on SQLite.
"""

from __future__ import annotations

import re
import time

import pytest
from playwright.sync_api import Browser, ViewportSize, expect

from pitcrew import chat, flow
from pitcrew.config import Settings
from pitcrew.db import Database
from pitcrew.models import Role
from pitcrew.web.app import create_app
from tests.support.browser import DESKTOP, LIVE, PHONE, Person, World, shot
from tests.support.factories import Stage, start_session
from tests.support.live import free_port, serve_in_thread
from tests.test_pages_browser import count, incoming_row

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("quick_passwords")]


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
    session_id, request_id = world.start_intake(customer, vehicle=vehicle, issue_description=issue)
    chat.post_message(world.db, customer, session_id, "The warning light came on too.")

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
    expect(dialog).to_contain_text("Added while waiting")
    expect(dialog).to_contain_text("The warning light came on too.")
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


@VIEWPORTS
@pytest.mark.postgres_only
def test_a_customer_message_marks_the_active_row_and_the_bell_until_the_room_is_opened(
    world: World, viewport: ViewportSize
) -> None:
    bea = world.sign_in(Role.MECHANIC, "Bea Mechanic", viewport=viewport)
    casey = world.sign_in(Role.CUSTOMER, "Casey Driver")
    m, c = bea.page, casey.page
    session_id, _ = start_session(world.db, casey.actor, Stage.LIVE, mechanic=bea.actor).ids
    m.get_by_role("tab", name="Active Sessions").click()
    row = m.locator(f'#panel-active tr[data-session="{session_id}"]')
    expect(row).to_contain_text("2016 Honda Civic · Casey Driver", timeout=LIVE)
    expect(row.locator("[data-unread-row]")).to_have_count(0)

    c.goto(f"/sessions/{session_id}")
    c.get_by_label("Message").fill("It grinds when I brake hard.")
    c.get_by_role("button", name="Send", exact=True).click()

    expect(row.locator("[data-unread-row]")).to_have_text("1 unread", timeout=LIVE)
    expect(m.locator('[data-unread-tab="active"]')).to_have_text("1 unread", timeout=LIVE)
    expect(m.locator("[data-unread-badge]")).to_have_text("1", timeout=LIVE)
    expect(m).to_have_title(re.compile(r"^\(1\) "), timeout=LIVE)
    shot(m, "inbox-unread-active")
    m.locator("[data-bell]").click()
    expect(m.locator("[data-conversation]")).to_contain_text("1 unread message")
    m.keyboard.press("Escape")

    row.get_by_role("link", name="Open").click()
    expect(m.locator(".msg.theirs")).to_contain_text("It grinds when I brake hard.")
    expect(c.locator("[data-seen]")).to_be_visible(timeout=LIVE)
    expect(m.locator("[data-unread-badge]")).to_be_hidden(timeout=LIVE)
    m.go_back()
    m.get_by_role("tab", name="Active Sessions").click()
    expect(row.locator("[data-unread-row]")).to_have_count(0)
    expect(m.locator('[data-unread-tab="active"]')).to_be_hidden()
    expect(m.locator("[data-unread-badge]")).to_be_hidden()
    for person in (bea, casey):
        person.assert_no_script_problems()


@VIEWPORTS
@pytest.mark.postgres_only
def test_a_new_request_notification_closes_when_another_mechanic_accepts(
    world: World, viewport: ViewportSize
) -> None:
    bea = world.sign_in(Role.MECHANIC, "Bea Mechanic", viewport=viewport)
    sam = world.sign_in(Role.MECHANIC, "Sam Wrench")
    m = bea.page
    customer, _ = world.account(Role.CUSTOMER, "Casey Driver")
    _, request_id = world.start_intake(customer)
    expect(m.locator("[data-unread-badge]")).to_have_text("1", timeout=LIVE)

    flow.accept(world.db, sam.actor, request_id)
    expect(m.locator("[data-unread-badge]")).to_be_hidden(timeout=LIVE)
    expect(incoming_row(m, request_id)).to_have_count(0, timeout=LIVE)
    m.locator("[data-bell]").click()
    note = m.locator(".notif-item").filter(has_text="New request: 2016 Honda Civic · Casey Driver")
    expect(note).to_contain_text("Closed")
    expect(note.get_by_role("button", name="Mark as read")).to_have_count(0)
    shot(m, "inbox-notification-closed")
    bea.assert_no_script_problems()


@VIEWPORTS
@pytest.mark.postgres_only
def test_the_page_says_within_seconds_that_it_is_not_live_and_when_it_caught_up(
    pg_db: Database, pg_url: str, browser: Browser, viewport: ViewportSize
) -> None:
    port = free_port()
    with serve_in_thread(create_app(Settings(database_url=pg_url), pg_db), port) as url:
        world = World(db=pg_db, browser=browser, url=url)
        bea = world.sign_in(Role.MECHANIC, "Bea Mechanic", viewport=viewport)
        m = bea.page
        banner = m.get_by_role("status").filter(has=m.locator("[data-conn]"))
        expect(m.locator("[data-conn]")).to_be_hidden()
    try:
        stopped = time.monotonic()
        expect(banner).to_contain_text("Reconnecting…", timeout=5_000)
        assert time.monotonic() - stopped < 5
        expect(m.get_by_role("switch", name="On duty")).to_be_disabled()
        described = m.get_by_role("switch", name="On duty").get_attribute("aria-describedby")
        assert described == "conn-banner"
        shot(m, "inbox-reconnecting")

        customer, _ = world.account(Role.CUSTOMER, "Casey Driver")
        _, request_id = world.start_intake(customer)  # while the page is away
        with serve_in_thread(create_app(Settings(database_url=pg_url), pg_db), port):
            expect(banner).to_contain_text("caught up", timeout=15_000)
            expect(incoming_row(m, request_id)).to_be_visible(timeout=LIVE)
            expect(m.get_by_role("switch", name="On duty")).to_be_enabled()
            bea.assert_no_script_problems()
    finally:
        m.context.close()


@pytest.mark.postgres_only
def test_off_duty_is_said_at_the_top_and_requests_stay_listed(world: World) -> None:
    bea = world.sign_in(Role.MECHANIC, "Bea Mechanic", viewport=PHONE)
    m = bea.page
    expect(m.locator("[data-off-duty]")).to_be_hidden()
    duty = m.get_by_role("switch", name="On duty")
    m.get_by_text("On duty", exact=True).click()  # the switch's label, as a person clicks it
    expect(duty).not_to_be_checked()
    expect(m.locator("[data-off-duty]")).to_contain_text("You are off duty")
    customer, _ = world.account(Role.CUSTOMER, "Casey Driver")
    _, request_id = world.start_intake(customer)
    expect(incoming_row(m, request_id)).to_be_visible(timeout=LIVE)
    m.reload()
    expect(m.locator("[data-off-duty]")).to_be_visible()
    expect(m.locator("[data-unread-badge]")).to_be_hidden()
    shot(m, "inbox-off-duty")
    m.get_by_text("On duty", exact=True).click()
    expect(duty).to_be_checked()
    expect(m.locator("[data-off-duty]")).to_be_hidden()
    bea.assert_no_script_problems()


# Counts the tones the page starts, so a test can hear the chime.
COUNT_TONES = """
window.__tones = 0;
const start = OscillatorNode.prototype.start;
OscillatorNode.prototype.start = function (...args) {
  window.__tones += 1;
  return start.apply(this, args);
};
"""


def _tones(person: Person) -> int:
    tones: int = person.page.evaluate("window.__tones")
    return tones


@pytest.mark.postgres_only
def test_sound_is_opt_in_kept_and_silent_off_duty(world: World) -> None:
    bea = world.sign_in(Role.MECHANIC, "Bea Mechanic", init=COUNT_TONES)
    m = bea.page
    customer, _ = world.account(Role.CUSTOMER, "Casey Driver")
    _, first = world.start_intake(customer)
    expect(incoming_row(m, first)).to_be_visible(timeout=LIVE)
    assert _tones(bea) == 0, "no sound unless chosen"

    m.get_by_text("Sound", exact=True).click()
    expect(m.get_by_role("switch", name="Sound")).to_be_checked()
    expect(m.locator("[data-notice]")).to_contain_text("Sound on")
    heard = _tones(bea)
    assert heard > 0, "turning it on plays the chime once"
    _, second = world.start_intake(customer)
    expect(incoming_row(m, second)).to_be_visible(timeout=LIVE)
    m.wait_for_function(f"window.__tones > {heard}", timeout=LIVE)

    m.reload()
    expect(m.get_by_role("switch", name="Sound")).to_be_checked()
    m.get_by_text("On duty", exact=True).click()
    expect(m.locator("[data-off-duty]")).to_be_visible()
    heard = _tones(bea)
    _, third = world.start_intake(customer)
    expect(incoming_row(m, third)).to_be_visible(timeout=LIVE)
    assert _tones(bea) == heard, "off duty: no sound for requests"
    bea.assert_no_script_problems()
