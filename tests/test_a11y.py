"""Every page passes axe-core's accessibility rules in Chromium, at desktop and phone width.

axe-core (shipped inside the axe-playwright-python package) runs in the page as it is shown:
after each page loads, with each dashboard tab picked, with the notifications panel and the
dashboard's dialog open, and in a video call between customer and mechanic (Chromium's fake
camera and microphone). A serious or critical finding fails the test, with axe's report of
what and where; lesser ones are left to judgement.

PostgreSQL only, to keep CI time down; the pages are the same on SQLite.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, Page, expect

from pitcrew import chat, flow
from pitcrew.auth import Actor
from pitcrew.config import Settings
from pitcrew.db import Database
from pitcrew.models import Role
from pitcrew.schemas import CompleteIn, IntakeIn
from pitcrew.web.app import create_app
from tests.support.factories import INTAKE, PASSWORD, Account, Stage, create_account, start_session
from tests.support.live import FAKE_MEDIA_ARGS, chromium, serve_in_thread

pytestmark = [
    pytest.mark.browser,
    pytest.mark.postgres_only,
    pytest.mark.usefixtures("quick_passwords"),
]

VIEWPORTS = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}
FAILING = ("serious", "critical")
STATES = ("pending", "waiting", "live", "completed", "cancelled")


@dataclass
class Findings:
    """What axe found on each view, named by where it was."""

    axe: Axe = field(default_factory=Axe)
    serious: list[str] = field(default_factory=list)
    views: int = 0

    def check(self, page: Page, where: str) -> None:
        results = self.axe.run(page, options={"resultTypes": ["violations"]})
        self.views += 1
        for violation in results.response["violations"]:
            if violation["impact"] in FAILING:
                report = results.generate_report(violation["id"])
                self.serious.append(f"{where}: {violation['impact']}{report}")


@dataclass
class Cast:
    customer: Actor
    customer_email: str
    mechanic: Actor
    mechanic_email: str
    admin_email: str
    sessions: dict[str, str]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """One Chromium for the module (Playwright runs one per thread), with a fake camera and
    microphone for the video call."""
    with chromium(FAKE_MEDIA_ARGS) as launched:
        yield launched


@pytest.fixture
def site(pg_db: Database, pg_url: str) -> Iterator[str]:
    app = create_app(Settings(database_url=pg_url), pg_db)
    with serve_in_thread(app) as url:
        yield url


REPORT = {
    "summary": "Worn front pads: replace them this week.",
    "findings": "Grinding from the front left under braking.",
    "steps": [
        {"text": "Replace the front pads", "urgency": "now", "cost_min": 120, "cost_max": 220},
        {"text": "Check the rear tyres", "urgency": "can_wait"},
    ],
    "trouble_codes": ["C1234", "P0301"],
}


def _person(db: Database, role: Role, name: str) -> tuple[Actor, str]:
    account = create_account(db, role, name)
    return account.actor, account.email


def _sessions_in_every_state(db: Database, customer: Actor, mechanic: Actor) -> dict[str, str]:
    sessions = {}
    for state in STATES:
        body = IntakeIn.model_validate(INTAKE)
        answer, _ = flow.start_intake(db, customer, body)
        sid, rid = answer.session_id, answer.request_id
        sessions[state] = str(sid)
        if state in ("waiting", "live", "completed"):
            flow.accept(db, mechanic, rid)
        if state in ("live", "completed"):
            flow.join(db, mechanic, sid)
            chat.post_message(db, customer, sid, "Hello! It grinds when I brake.")
            chat.post_message(db, mechanic, sid, "Front or back?")
        if state == "completed":
            flow.complete(db, mechanic, sid, CompleteIn.model_validate(REPORT))
            flow.rate(db, customer, sid, 4, "Helpful.")
        if state == "cancelled":
            flow.cancel(db, customer, sid, "Found a garage nearby")
    return sessions


def _sign_in(page: Page, email: str) -> None:
    page.goto("/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"/(sessions|mechanic/dashboard|admin)(#\w+)?$"))


def _sign_out(page: Page) -> None:
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(re.compile("/login$"))


def _with_notifications_open(page: Page, findings: Findings, where: str) -> None:
    page.get_by_role("button", name=re.compile("^Notifications")).click()
    expect(page.locator(".notif-item").first).to_be_visible()
    findings.check(page, f"{where} with notifications open")
    page.keyboard.press("Escape")


def _dashboard(page: Page, findings: Findings, where: str) -> None:
    page.goto("/mechanic/dashboard")
    for title in ("Incoming Requests", "Active Sessions", "Completed", "History"):
        page.get_by_role("tab", name=title).click()
        findings.check(page, f"{where}, {title}")


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_every_page_has_no_serious_accessibility_problem(
    pg_db: Database, site: str, browser: Browser, viewport: str
) -> None:
    db = pg_db
    findings = Findings()
    context = browser.new_context(viewport=VIEWPORTS[viewport], base_url=site)  # type: ignore[arg-type]
    page = context.new_page()
    page.set_default_timeout(10_000)
    try:
        for path in ("/signup", "/login", "/forgot-password", "/reset-password", "/verify-email"):
            page.goto(path)
            findings.check(page, path)
        page.goto("/reset-password")
        page.get_by_label("New password").fill("a brand new secret")
        page.get_by_role("button", name="Set password and sign in").click()
        expect(page.get_by_role("alert")).to_contain_text("This link is incomplete")
        findings.check(page, "/reset-password with its error")
        db.email_enabled = True  # as with SMTP_URL: the page offers its form
        page.goto("/forgot-password")
        findings.check(page, "/forgot-password with email on")
        page.get_by_label("Email").fill("nobody@example.com")
        page.get_by_role("button", name="Email me a link").click()
        expect(page.get_by_role("status")).to_contain_text("If an account has that address")
        findings.check(page, "/forgot-password once sent")
        page.goto("/signup")
        page.get_by_label("Your name").fill("Una Confirmed")
        page.get_by_label("Email").fill("una@example.com")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Create account").click()
        expect(page.locator("[data-sent]")).to_contain_text("Check your email")
        findings.check(page, "/signup once sent")
        page.goto("/login")
        page.get_by_label("Email").fill("una@example.com")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("button", name="Send the link again")).to_be_visible()
        findings.check(page, "/login before the address is confirmed")
        db.email_enabled = False
        page.goto("/login")
        page.get_by_label("Email").fill("nobody@example.com")
        page.get_by_label("Password").fill("not the password")
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("alert")).to_be_visible()
        findings.check(page, "/login with its error")

        mechanic, mechanic_email = _person(db, Role.MECHANIC, "Bea Mechanic")
        _sign_in(page, mechanic_email)
        _dashboard(page, findings, "an empty dashboard")
        _sign_out(page)

        customer, customer_email = _person(db, Role.CUSTOMER, "Casey Driver")
        sessions = _sessions_in_every_state(db, customer, mechanic)
        _sign_in(page, customer_email)
        findings.check(page, "/sessions")
        page.goto("/intake")
        findings.check(page, "/intake asking first, with a request open")
        page.get_by_role("link", name="Start another request").click()
        findings.check(page, "/intake with a saved car")
        page.get_by_text("A different car").click()
        findings.check(page, "/intake")
        page.get_by_label("Year").fill("2016")
        page.get_by_label("Make").fill("Honda")
        page.get_by_label("Model").fill("Civic")
        page.get_by_label("Describe the issue").fill("Squeal")
        page.evaluate("document.getElementById('vin').removeAttribute('pattern')")
        page.get_by_label("VIN").fill("IOQ")
        page.get_by_role("button", name="Find a mechanic").click()
        expect(page.locator('[data-error-for="vehicle.vin"]')).to_be_visible()
        findings.check(page, "/intake with its errors")
        for state, sid in sessions.items():
            page.goto(f"/sessions/{sid}")
            findings.check(page, f"a {state} session, for the customer")
        _with_notifications_open(page, findings, "the customer's session page")
        _sign_out(page)

        _sign_in(page, mechanic_email)
        _dashboard(page, findings, "the dashboard")
        page.get_by_role("tab", name="Completed").click()
        page.get_by_role("link", name="View intake details").click()
        expect(page.locator("dialog[open]")).to_contain_text("Grinding noise")
        findings.check(page, "the dashboard's intake dialog")
        page.keyboard.press("Escape")
        _with_notifications_open(page, findings, "the dashboard")
        for state in ("waiting", "live", "completed"):
            page.goto(f"/sessions/{sessions[state]}")
            findings.check(page, f"a {state} session, for the mechanic")
        page.goto(f"/sessions/{sessions['live']}")
        page.get_by_role("button", name="Complete session").click()
        page.get_by_role("button", name="Add a step").click()
        page.get_by_label("Trouble codes").fill("P9999")
        page.get_by_role("button", name="Complete and send report").click()
        expect(page.locator('[data-error-for="trouble_codes"]')).to_be_visible()
        findings.check(page, "the report form with its errors")
        page.keyboard.press("Escape")  # the report's panel closes
        details = page.get_by_role("button", name="Car, issue and timeline")
        if details.is_visible():  # on a phone the car's history is one tap away
            details.click()
            findings.check(page, "the car, the issue and the timeline over the chat")
        page.get_by_role("link", name=re.compile("Report of")).click()
        findings.check(page, "an earlier report on the same car")
        page.goto(f"/sessions/{sessions['pending']}")
        findings.check(page, "a session that is not the mechanic's (403)")
        _sign_out(page)

        _, admin_email = _person(db, Role.ADMIN, "Avery Admin")
        _sign_in(page, admin_email)
        _console(page, findings, sessions)
    finally:
        context.close()
    assert findings.views >= 40
    assert findings.serious == [], "\n\n".join(findings.serious)


CONSOLE_PAGES = (
    "/admin",
    "/admin/sessions",
    "/admin/people",
    "/admin/health",
    "/admin/numbers",
)


def _console(page: Page, findings: Findings, sessions: dict[str, str]) -> None:
    """The operator's console: each section, a session seen from outside, and its forms."""
    for path in CONSOLE_PAGES:
        page.goto(path)
        findings.check(page, path)
    page.goto("/admin/sessions?since=not-a-day")
    findings.check(page, "/admin/sessions with its error")
    page.goto("/admin/people")
    page.get_by_role("button", name="Add mechanic").click()  # empty: the browser says why
    page.get_by_label("Name", exact=True).fill("Nia Newhire")
    page.get_by_label("Email", exact=True).fill("nia@example.com")
    page.get_by_role("button", name="Add mechanic").click()
    expect(page.locator("[data-created]")).to_be_visible()
    findings.check(page, "/admin/people with a one-time password shown")
    page.locator("details").filter(has_text="Deactivate").first.locator("summary").click()
    findings.check(page, "/admin/people with a deactivation to confirm")
    for state in ("waiting", "live", "completed"):
        page.goto(f"/sessions/{sessions[state]}")
        findings.check(page, f"a {state} session, for an admin")
    page.goto(f"/sessions/{sessions['waiting']}")
    page.get_by_text("Cancel for the customer").click()
    page.get_by_role("button", name="Yes, cancel this session").click()
    findings.check(page, "an admin's cancel without its reason")


def test_a_missing_label_is_found(site: str, browser: Browser) -> None:
    """The check itself works: a field without a label is a critical finding."""
    findings = Findings()
    context = browser.new_context(base_url=site)
    page = context.new_page()
    try:
        page.goto("/login")
        page.evaluate("document.querySelector('label[for=email]').remove()")
        findings.check(page, "/login without its email label")
    finally:
        context.close()
    assert len(findings.serious) == 1 and "label" in findings.serious[0]


def _in_the_room(browser: Browser, site: str, viewport: str, who: Account, sid: str) -> Page:
    context = browser.new_context(
        viewport=VIEWPORTS[viewport],  # type: ignore[arg-type]
        base_url=site,
        permissions=["camera", "microphone"],
    )
    page = context.new_page()
    page.set_default_timeout(CALL_WAIT_MS)
    _sign_in(page, who.email)
    page.goto(f"/sessions/{sid}")
    return page


def _call_state(page: Page, state: str) -> None:
    expect(page.locator("[data-call]")).to_have_attribute("data-state", state, timeout=CALL_WAIT_MS)


CALL_WAIT_MS = 30_000


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_a_video_call_has_no_serious_accessibility_problem(
    pg_db: Database, site: str, browser: Browser, viewport: str
) -> None:
    customer = create_account(pg_db, Role.CUSTOMER, "Casey Driver")
    mechanic = create_account(pg_db, Role.MECHANIC, "Bea Mechanic")
    sid = str(
        start_session(
            pg_db, customer, Stage.LIVE, mechanic=mechanic, session_type="video"
        ).session_id
    )
    findings = Findings()
    at_customer = _in_the_room(browser, site, viewport, customer, sid)
    at_mechanic = _in_the_room(browser, site, viewport, mechanic, sid)
    sides = {"customer": at_customer, "mechanic": at_mechanic}
    try:
        for who, page in sides.items():
            _call_state(page, "ready")
            findings.check(page, f"a live video session before the call, for the {who}")
        at_mechanic.get_by_role("button", name="Check camera and microphone").click()
        _call_state(at_mechanic, "preview")
        findings.check(at_mechanic, "the check of camera and microphone, for the mechanic")
        at_mechanic.get_by_role("button", name="Start video").click()
        _call_state(at_customer, "ringing")
        findings.check(at_customer, "a video call ringing, for the customer")
        at_customer.locator("[data-call-action=call]").click()
        _call_state(at_customer, "preview")
        at_customer.get_by_role("button", name="Start video").click()
        for who, page in sides.items():
            _call_state(page, "connected")
            expect(page.get_by_role("button", name="Hang up")).to_be_visible()
            findings.check(page, f"a connected video call, for the {who}")
        at_customer.get_by_role("button", name="Mute").click()
        at_customer.get_by_role("button", name="Turn camera off").click()
        expect(at_mechanic.locator("[data-remote-camera-off]")).to_be_visible()
        findings.check(at_customer, "a video call muted with the camera off, for the customer")
        findings.check(at_mechanic, "a video call with the other camera off, for the mechanic")
    finally:
        for page in sides.values():
            page.context.close()
    assert findings.views == 8
    assert findings.serious == [], "\n\n".join(findings.serious)
