"""The pages in a real browser: Debian's Chromium driven by Playwright, against uvicorn.

Customers and mechanics each have their own browser context (their own cookies), as two
people on two machines would. Nothing reloads a page to see a change: what a test waits
for must arrive over the live stream. Screenshots of every page at phone and desktop width
are written to test-artifacts/.

PostgreSQL only, to keep CI time down; the pages are the same on SQLite.
"""

from __future__ import annotations

import io
import re
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, Route, expect
from pypdf import PdfReader

from pitcrew import chat, flow
from pitcrew.models import Role
from pitcrew.schemas import CompleteIn
from tests.support.browser import (
    DESKTOP,
    LIVE,
    PHONE,
    World,
    shot,
    watch,
)
from tests.support.factories import PASSWORD, Stage, start_session

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("quick_passwords")]


def headline(page: Page) -> Any:
    return page.locator("[data-status-headline]")


def tab(page: Page, title: str) -> Any:
    return page.get_by_role("tab", name=title)


def count(page: Page, key: str) -> Any:
    return page.locator(f'[data-count="{key}"]')


def incoming_row(page: Page, request_id: str) -> Any:
    return page.locator(f'#panel-incoming tr[data-request="{request_id}"]')


# --- the whole way through --------------------------------------------------------------


@pytest.mark.postgres_only
def test_customer_and_mechanic_meet_chat_and_finish(world: World) -> None:
    bea = world.sign_in(Role.MECHANIC, "Bea Mechanic")
    m = bea.page
    expect(tab(m, "Incoming Requests")).to_be_visible()
    expect(count(m, "incoming")).to_have_text("0")
    expect(m.locator("[data-unread-badge]")).to_be_hidden()

    casey = world.sign_in(Role.CUSTOMER, "Casey Driver")
    c = casey.page
    c.get_by_role("link", name="New request").first.click()
    expect(c).to_have_url(re.compile("/intake$"))
    c.get_by_label("Year").fill("2016")
    c.get_by_label("Make").fill("Honda")
    c.get_by_label("Model").fill("Civic")
    c.get_by_label("Mileage").fill("84000")
    c.get_by_label("Describe the issue").fill("Grinding noise when braking")
    c.get_by_text("Chat", exact=True).click()
    c.get_by_text("Premium", exact=True).click()
    c.get_by_role("button", name="Find a mechanic").click()
    expect(c).to_have_url(re.compile(r"/sessions/[0-9a-f-]{36}$"))
    session_id = c.url.rsplit("/", 1)[1]
    expect(headline(c)).to_have_text("Waiting for a mechanic")

    # The mechanic's Incoming Requests shows it without a reload, and the badge counts it.
    row = m.locator("#panel-incoming tbody tr").filter(has_text="Casey Driver")
    expect(row).to_be_visible(timeout=LIVE)
    expect(row).to_contain_text("Chat")
    expect(row).to_contain_text("Premium")
    expect(count(m, "incoming")).to_have_text("1")
    expect(m.locator("[data-unread-badge]")).to_have_text("1", timeout=LIVE)
    shot(m, "dashboard-incoming")

    m.get_by_role("button", name="Notifications").click()
    note = m.locator(".notif-item").filter(has_text="New request: 2016 Honda Civic · Casey Driver")
    expect(note).to_be_visible()
    note.get_by_role("button", name="Mark as read").click()
    expect(m.locator("[data-unread-badge]")).to_be_hidden()
    m.keyboard.press("Escape")

    row.get_by_role("button", name="Accept").click()
    expect(row).to_be_hidden()
    expect(m.locator("[data-notice]")).to_contain_text("Active Sessions")
    expect(count(m, "active")).to_have_text("1")
    tab(m, "Active Sessions").click()
    active = m.locator("#panel-active tbody tr").filter(has_text="Casey Driver")
    expect(active).to_be_visible()
    expect(active).to_contain_text("Accepted")
    shot(m, "dashboard-active")

    expect(headline(c)).to_have_text("Bea Mechanic accepted — joining shortly", timeout=LIVE)
    shot(c, "session-accepted")

    active.get_by_role("button", name="Join", exact=True).click()
    expect(m).to_have_url(re.compile(f"/sessions/{session_id}$"))
    expect(headline(m)).to_have_text("Live")
    expect(headline(c)).to_have_text("Live", timeout=LIVE)

    c.get_by_label("Message").fill("Hi! It grinds when I brake hard.")
    c.get_by_role("button", name="Send", exact=True).click()
    expect(m.locator(".msg.theirs")).to_contain_text("It grinds when I brake hard", timeout=LIVE)
    m.get_by_label("Message").fill("Sounds like worn front pads.")
    m.get_by_label("Message").press("Enter")
    expect(c.locator(".msg.theirs")).to_contain_text("worn front pads", timeout=LIVE)
    expect(c.locator(".msg.mine")).to_contain_text("It grinds")
    shot(c, "session-live")
    shot(m, "session-live-mechanic")

    m.get_by_role("button", name="Complete session").click()
    m.get_by_label("Summary for Casey Driver").fill("Replace the front pads and check rotors.")
    m.get_by_role("button", name="Complete and send report").click()
    expect(headline(m)).to_have_text("Completed")
    expect(headline(c)).to_have_text("Completed", timeout=LIVE)
    expect(c.locator("#summary")).to_contain_text("Replace the front pads and check rotors.")

    shot(c, "session-rate")
    c.locator("label", has_text="5 stars").click()
    c.get_by_label("Comment (optional)").fill("Clear and quick, thank you!")
    c.get_by_role("button", name="Send rating").click()
    expect(c.locator("#summary")).to_contain_text("5/5")
    expect(c.get_by_role("button", name="Send rating")).to_have_count(0)
    timeline = c.locator("[data-part=timeline]")
    for words in ("asked for a chat session", "accepted the request", "joined", "completed"):
        expect(timeline).to_contain_text(words)
    shot(c, "session-completed")

    m.goto("/mechanic/dashboard")
    expect(count(m, "completed")).to_have_text("1")
    tab(m, "Completed").click()
    done = m.locator("#panel-completed tbody tr").filter(has_text="Casey Driver")
    expect(done.get_by_label("5 out of 5 stars")).to_be_visible()
    done.get_by_role("link", name="View intake details").click()
    dialog = m.locator("dialog[open]")
    expect(dialog).to_contain_text("Grinding noise when braking")
    expect(dialog).to_contain_text("2016 Honda Civic")
    shot(m, "dashboard-intake-dialog")
    dialog.get_by_role("button", name="Close").click()
    done.get_by_role("link", name="View session summary").click()
    expect(m.locator("dialog[open]")).to_contain_text("Replace the front pads and check rotors.")
    m.keyboard.press("Escape")
    tab(m, "History").click()
    expect(m.locator("#panel-history tbody tr").filter(has_text="Casey Driver")).to_contain_text(
        "Completed"
    )

    for person in (bea, casey):
        person.assert_no_script_problems()


@pytest.mark.postgres_only
def test_two_mechanics_race_for_one_request(world: World) -> None:
    bea = world.sign_in(Role.MECHANIC, "Bea Mechanic")
    sam = world.sign_in(Role.MECHANIC, "Sam Wrench")
    customer, _ = world.account(Role.CUSTOMER, "Casey Driver")
    _, request_id = world.start_intake(customer)
    for person in (bea, sam):
        expect(incoming_row(person.page, request_id)).to_be_visible(timeout=LIVE)

    # Hold both clicks' requests in the browsers, then let them go together: the server
    # alone decides who wins, whatever the order in which the pages hear of it.
    held: list[Route] = []

    def hold(route: Route) -> None:
        held.append(route)

    for person in (bea, sam):
        person.page.route("**/api/mechanic/accept", hold)
    for person in (bea, sam):
        incoming_row(person.page, request_id).get_by_role("button", name="Accept").click()
    deadline = time.monotonic() + 5
    while len(held) < 2 and time.monotonic() < deadline:
        bea.page.wait_for_timeout(20)
    assert len(held) == 2
    for route in held:
        route.continue_()

    taken = "Another mechanic accepted this request first."
    for person in (bea, sam):
        expect(incoming_row(person.page, request_id)).to_have_count(0)
        expect(person.page.locator("[data-notice]")).to_be_visible()
    winners = [
        p for p in (bea, sam) if "You accepted" in p.page.locator("[data-notice]").inner_text()
    ]
    losers = [p for p in (bea, sam) if p.page.locator("[data-notice]").inner_text() == taken]
    assert len(winners) == 1 and len(losers) == 1
    [winner], [loser] = winners, losers
    expect(count(winner.page, "active")).to_have_text("1")
    expect(count(loser.page, "active")).to_have_text("0")
    expect(count(loser.page, "incoming")).to_have_text("0")
    shot(loser.page, "dashboard-race-lost")
    for person in (bea, sam):
        person.assert_no_script_problems()


@pytest.mark.postgres_only
def test_hand_back_cancel_and_request_again_show_live(world: World) -> None:
    bea = world.sign_in(Role.MECHANIC, "Bea Mechanic")
    casey = world.sign_in(Role.CUSTOMER, "Casey Driver", viewport=PHONE)
    m, c = bea.page, casey.page
    session_id, request_id = world.start_intake(casey.actor)
    c.goto(f"/sessions/{session_id}")
    expect(headline(c)).to_have_text("Waiting for a mechanic")
    shot(c, "session-waiting")

    incoming_row(m, request_id).get_by_role("button", name="Accept").click()
    expect(headline(c)).to_have_text("Bea Mechanic accepted — joining shortly", timeout=LIVE)
    tab(m, "Active Sessions").click()
    m.locator(f'#panel-active tr[data-session="{session_id}"]').get_by_role(
        "button", name="Hand back"
    ).click()
    expect(m.locator("[data-notice]")).to_contain_text("Handed back")
    expect(count(m, "active")).to_have_text("0")
    expect(headline(c)).to_have_text("Waiting for a mechanic", timeout=LIVE)
    expect(count(m, "incoming")).to_have_text("1")

    c.get_by_text("Cancel request", exact=True).click()
    c.get_by_label("Reason (optional)").fill("Fixed it myself")
    c.get_by_role("button", name="Yes, cancel request").click()
    expect(headline(c)).to_have_text("Cancelled")
    expect(count(m, "incoming")).to_have_text("0", timeout=LIVE)
    expect(incoming_row(m, request_id)).to_have_count(0)
    shot(c, "session-cancelled")

    c.get_by_role("button", name="Request again").click()
    c.wait_for_url(lambda url: "/sessions/" in url and session_id not in url)
    expect(headline(c)).to_have_text("Waiting for a mechanic")
    expect(m.locator("#panel-incoming tbody tr")).to_have_count(1, timeout=LIVE)

    c.goto("/sessions")
    expect(c.locator(".session-card")).to_have_count(2)
    shot(c, "sessions")
    for person in (bea, casey):
        person.assert_no_script_problems()


DESKTOP_ALERTS = """
(() => {
  window.__alerts = [];
  window.__asked = 0;
  class FakeNotification {
    constructor(title, options) { window.__alerts.push({ title, body: (options || {}).body }); }
    close() {}
    static requestPermission() {
      window.__asked += 1;
      FakeNotification.permission = "granted";
      return Promise.resolve("granted");
    }
  }
  FakeNotification.permission = "default";
  window.Notification = FakeNotification;
  Object.defineProperty(document, "hidden", { get: () => true });
})();
"""


@pytest.mark.postgres_only
def test_desktop_alert_for_a_new_request_once_permitted(world: World) -> None:
    """Permission is asked for by a button, never on load; then a hidden tab still alerts."""
    bea = world.sign_in(Role.MECHANIC, "Bea Mechanic", init=DESKTOP_ALERTS)
    m = bea.page
    enable = m.get_by_role("button", name="Enable desktop alerts")
    expect(enable).to_be_visible()
    assert m.evaluate("window.__asked") == 0
    enable.click()
    expect(m.get_by_text("Desktop alerts on")).to_be_visible()
    assert m.evaluate("window.__asked") == 1

    customer, _ = world.account(Role.CUSTOMER, "Dana Driver")
    world.start_intake(customer, session_type="video", plan_code="basic")
    # Polled from here: the page's CSP forbids the eval that wait_for_function relies on.
    deadline = time.monotonic() + LIVE / 1000
    while not m.evaluate("window.__alerts.length") and time.monotonic() < deadline:
        m.wait_for_timeout(50)
    assert m.evaluate("window.__alerts") == [
        {"title": "New request from Dana Driver", "body": "video session · basic plan"}
    ]
    bea.assert_no_script_problems()


# --- how every page looks ---------------------------------------------------------------


@pytest.mark.postgres_only
def test_every_page_at_phone_and_desktop_width(world: World) -> None:
    """Screenshots for people to look at; the test itself checks nothing scrolls sideways."""
    mechanic, mechanic_email = world.account(Role.MECHANIC, "Bea Mechanic")
    customer, customer_email = world.account(Role.CUSTOMER, "Casey Driver")
    db = world.db
    sessions = {}
    for state in ("pending", "waiting", "live", "completed", "cancelled"):
        sid, rid = world.start_intake(
            customer,
            vehicle={"year": 2019, "make": "Toyota", "model": "RAV4", "mileage": 42000},
            issue_description="Check engine light came on after refuelling; idles rough.",
        )
        sessions[state] = sid
        if state in ("waiting", "live", "completed"):
            flow.accept(db, mechanic, rid)
        if state in ("live", "completed"):
            flow.join(db, mechanic, sid)
            chat.post_message(db, customer, sid, "Hello! The light came on this morning.")
            chat.post_message(db, mechanic, sid, "Is it steady or flashing?")
        if state == "completed":
            flow.complete(db, mechanic, sid, "Loose fuel cap. Tighten it; the light clears.")
            flow.rate(db, customer, sid, 4, "Helpful.")
        if state == "cancelled":
            flow.cancel(db, customer, sid, "Found a garage nearby")

    for viewport in (PHONE, DESKTOP):
        context = world.browser.new_context(viewport=viewport, base_url=world.url)
        page = context.new_page()
        problems: list[str] = []
        watch(page, problems)
        try:
            page.goto("/login")
            shot(page, "login")
            page.get_by_label("Email").fill(customer_email)
            page.get_by_label("Password").fill("not the password")
            page.get_by_role("button", name="Sign in").click()
            expect(page.get_by_role("alert")).to_have_text("Wrong email or password.")
            shot(page, "login-error")
            page.goto("/signup")
            shot(page, "signup")

            page.goto("/login")
            page.get_by_label("Email").fill(customer_email)
            page.get_by_label("Password").fill(PASSWORD)
            page.get_by_role("button", name="Sign in").click()
            expect(page).to_have_url(re.compile("/sessions$"))
            shot(page, "customer-home")
            page.goto("/intake")
            shot(page, "intake-asks-first")
            page.get_by_role("link", name="Start another request").click()
            shot(page, "intake")
            page.get_by_text("A different car").click()
            page.get_by_label("Year").fill("2016")
            page.get_by_label("Make").fill("Honda")
            page.get_by_label("Model").fill("Civic")
            page.get_by_label("Describe the issue").fill("Squeal")
            page.evaluate("document.getElementById('vin').removeAttribute('pattern')")
            page.get_by_label("VIN").fill("IOQ")
            page.get_by_role("button", name="Find a mechanic").click()
            expect(page.locator('[data-error-for="vehicle.vin"]')).to_be_visible()
            shot(page, "intake-error")
            for state, sid in sessions.items():
                page.goto(f"/sessions/{sid}")
                expect(headline(page)).to_be_visible()
                shot(page, f"session-{state}-customer")
            page.get_by_role("button", name="Notifications").click()
            expect(page.locator(".notif-item").first).to_be_visible()
            shot(page, "notifications")
            page.goto(f"/sessions/{uuid.uuid4()}")
            shot(page, "not-found")
            page.get_by_role("button", name="Sign out").click()
            expect(page).to_have_url(re.compile("/login$"))

            page.get_by_label("Email").fill(mechanic_email)
            page.get_by_label("Password").fill(PASSWORD)
            page.get_by_role("button", name="Sign in").click()
            expect(page).to_have_url(re.compile(r"/mechanic/dashboard(#\w+)?$"))
            for key, title in (
                ("incoming", "Incoming Requests"),
                ("active", "Active Sessions"),
                ("completed", "Completed"),
                ("history", "History"),
            ):
                tab(page, title).click()
                expect(page.locator(f"#panel-{key}")).to_be_visible()
                shot(page, f"dashboard-{key}")
            for state in ("waiting", "live", "completed"):
                page.goto(f"/sessions/{sessions[state]}")
                shot(page, f"session-{state}-mechanic")
            # Not accepted yet, so not the mechanic's: as unknown as a made-up address.
            page.goto(f"/sessions/{sessions['pending']}")
            expect(page.get_by_role("heading", name="Not found")).to_be_visible()
            shot(page, "not-found")
            assert problems == []
        finally:
            context.close()


# --- the report and the car's history -------------------------------------------------------


@pytest.mark.postgres_only
def test_a_saved_car_brings_its_history_and_the_report_comes_as_a_pdf(world: World) -> None:
    casey = world.sign_in(Role.CUSTOMER, "Casey Driver", viewport=PHONE)
    c = casey.page
    ann, _ = world.account(Role.MECHANIC, "Ann Earlier")
    earlier = start_session(world.db, casey.actor, Stage.LIVE, mechanic=ann)
    found = {"summary": "Worn front pads.", "trouble_codes": ["C1234"]}
    flow.complete(world.db, ann, earlier.session_id, CompleteIn.model_validate(found))
    bea = world.sign_in(Role.MECHANIC, "Bea Mechanic")
    m = bea.page

    # The customer picks the car kept from last time instead of typing it again.
    c.goto("/intake")
    saved = c.get_by_role("radio", name=re.compile("2016 Honda Civic"))
    expect(saved).to_be_checked()
    expect(c.get_by_label("Make")).to_be_hidden()
    c.get_by_label("Mileage").fill("86000")
    c.get_by_label("Describe the issue").fill("The grinding is back")
    shot(c, "intake-saved-car")
    c.get_by_role("button", name="Find a mechanic").click()
    expect(c).to_have_url(re.compile(r"/sessions/[0-9a-f-]{36}$"))
    session_id = c.url.rsplit("/", 1)[1]

    # After accepting, the mechanic sees the car's earlier report and can open it.
    row = m.locator("#panel-incoming tbody tr").filter(has_text="Casey Driver")
    row.get_by_role("button", name="Accept").click()
    expect(row).to_be_hidden()
    m.goto(f"/sessions/{session_id}")
    history = m.locator("[data-part=history]")
    expect(history).to_contain_text("This car's history")
    expect(history).to_contain_text("Ann Earlier")
    expect(history).to_contain_text("C1234")
    history.get_by_role("link", name=re.compile("Report of")).click()
    expect(m.locator("main")).to_contain_text("Worn front pads.")
    m.go_back()

    # The mechanic joins and completes with a whole report.
    m.get_by_role("button", name="Join session").click()
    expect(headline(m)).to_have_text("Live")
    m.get_by_role("button", name="Complete session").click()
    m.get_by_label("Summary for Casey Driver").fill("Pads again, and a misfire.")
    m.get_by_label("Findings").fill("Cylinder 1 misfires at idle.")
    m.get_by_label("Step 1").fill("Replace the front pads")
    m.get_by_label("How soon").select_option("now")
    m.get_by_role("button", name="Add a step").click()
    m.get_by_label("Step 2").fill("Swap the ignition coil")
    m.get_by_label("Trouble codes").fill("P0301, p0300 X9")
    m.get_by_role("button", name="Complete and send report").click()
    expect(m.locator('[data-error-for="trouble_codes"]')).to_contain_text(
        "X9 is not a trouble code"
    )
    m.get_by_label("Trouble codes").fill("P0301, p0300")
    m.get_by_role("button", name="Complete and send report").click()
    expect(headline(m)).to_have_text("Completed")

    # The customer reads the report on the page and downloads its PDF.
    report = c.locator("#summary")
    expect(report).to_contain_text("Replace the front pads", timeout=LIVE)
    expect(report).to_contain_text("P0300")
    shot(c, "session-report")
    with c.expect_download() as download:
        c.get_by_role("link", name="Download the report (PDF)").click()
    pdf = Path(download.value.path()).read_bytes()
    assert pdf.startswith(b"%PDF")
    words = " ".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)
    assert "Swap the ignition coil" in words and "P0301" in words
    casey.assert_no_script_problems()
    bea.assert_no_script_problems()
