"""The session room, and the forms that lead to it, as people use them in Chromium.

Desktop and phone widths; what a test waits for arrives over the live stream or the page's
own scripts, never by reloading to look. PostgreSQL only, to keep CI time down.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import ViewportSize, expect

from pitcrew import chat
from pitcrew.models import Role
from tests.support.browser import DESKTOP, PHONE, Person, World
from tests.support.factories import Stage, Started, create_account, start_session

pytestmark = [
    pytest.mark.browser,
    pytest.mark.postgres_only,
    pytest.mark.usefixtures("quick_passwords"),
]


def _live_session(
    world: World,
    *,
    mechanic_at: ViewportSize = DESKTOP,
    customer_at: ViewportSize = DESKTOP,
    **changes: Any,
) -> tuple[Person, Person, Started]:
    """Bea and Dana, each signed in at a browser of their own, in a live session together."""
    bea = world.sign_in(Role.MECHANIC, "Bea Mechanic", viewport=mechanic_at)
    dana = world.sign_in(Role.CUSTOMER, "Dana Driver", viewport=customer_at)
    return bea, dana, start_session(world.db, dana.actor, Stage.LIVE, mechanic=bea.actor, **changes)


# --- words for people -------------------------------------------------------------------


def test_a_refused_form_says_what_to_do_beside_each_field(world: World) -> None:
    """The browser's own checks stay out of the way, so the page shows the service's words."""
    page = world.browser.new_context(viewport=PHONE, base_url=world.url).new_page()
    page.goto("/signup")
    page.get_by_label("Your name").fill("Dana Driver")
    page.get_by_label("Email").fill("dana@example")
    page.get_by_label("Password").fill("short")
    page.get_by_role("button", name="Create account").click()
    expect(page.locator('[data-error-for="email"]')).to_have_text(
        "Enter an email address like name@example.com"
    )
    expect(page.locator('[data-error-for="password"]')).to_have_text(
        "Choose a password of at least 8 characters"
    )
    expect(page.get_by_label("Email")).to_have_attribute("aria-invalid", "true")
    page.context.close()

    dana = world.sign_in(Role.CUSTOMER, "Dana Driver", viewport=DESKTOP)
    c = dana.page
    c.goto("/intake")
    c.get_by_label("Make").fill("Honda")
    c.get_by_role("button", name="Find a mechanic").click()
    expect(c.locator('[data-error-for="vehicle.year"]')).to_have_text(
        "Enter the car's model year, like 2016"
    )
    expect(c.locator('[data-error-for="vehicle.model"]')).to_have_text(
        "Enter the model of the car, like Civic"
    )
    expect(c.locator('[data-error-for="issue_description"]')).to_have_text(
        "Describe the problem in a few words"
    )
    expect(c).to_have_url(re.compile("/intake$"))
    dana.assert_no_script_problems()


# --- the layout ---------------------------------------------------------------------------


def _box(locator: Any) -> dict[str, float]:
    box = locator.bounding_box()
    assert box is not None, "not shown"
    return dict(box)


def test_on_a_phone_the_chat_comes_first_and_the_details_are_one_tap_away(world: World) -> None:
    bea, dana, live = _live_session(world, mechanic_at=PHONE, customer_at=PHONE)
    chat.post_message(world.db, dana.actor, live.session_id, "It grinds when I brake hard")
    for person in (bea, dana):
        page = person.page
        page.goto(f"/sessions/{live.sid}")
        chat_box = page.locator("[data-part=chat]")
        expect(chat_box).to_contain_text("It grinds when I brake hard")
        # The message box is on the first screen; the car and the issue wait behind one tap.
        composer = _box(page.get_by_label("Message"))
        assert composer["y"] + composer["height"] <= PHONE["height"]
        issue = page.locator("#intake")
        expect(issue).to_be_hidden()
        page.get_by_role("button", name="Car, issue and timeline").click()
        expect(issue).to_be_visible()
        expect(issue).to_contain_text("Grinding noise")
        expect(page.locator("[data-part=timeline]")).to_be_visible()
        page.get_by_role("button", name="Back to the session").click()
        expect(issue).to_be_hidden()
        person.assert_no_script_problems()


def test_on_a_desktop_the_details_sit_beside_the_chat_and_completing_opens_a_panel(
    world: World,
) -> None:
    bea, dana, live = _live_session(world)
    m = bea.page
    m.goto(f"/sessions/{live.sid}")
    chat_box, issue = _box(m.locator("[data-part=chat]")), _box(m.locator("#intake"))
    assert issue["x"] >= chat_box["x"] + chat_box["width"], "the details sit beside the chat"
    assert chat_box["width"] > issue["width"], "the conversation is the main column"
    expect(m.get_by_label("Summary for Dana Driver")).to_be_hidden()
    expect(m.get_by_role("button", name="Car, issue and timeline")).to_be_hidden()
    m.get_by_role("button", name="Complete session").click()
    panel = m.get_by_role("dialog", name="Complete the session")
    expect(panel).to_be_visible()
    expect(m.get_by_label("Summary for Dana Driver")).to_be_focused()
    panel.get_by_role("button", name="Close").click()
    expect(panel).to_be_hidden()
    m.get_by_role("button", name="Complete session").click()
    m.get_by_label("Summary for Dana Driver").fill("Worn front pads.")
    m.get_by_role("button", name="Complete and send report").click()
    expect(m.locator("[data-status-headline]")).to_have_text("Completed")
    expect(panel).to_have_count(0)

    dana.page.goto(f"/sessions/{live.sid}")
    summary, issue = _box(dana.page.locator("#summary")), _box(dana.page.locator("#intake"))
    assert issue["x"] >= summary["x"] + summary["width"], "the customer's room has the same shape"
    for person in (bea, dana):
        person.assert_no_script_problems()


# --- drafts -------------------------------------------------------------------------------


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_a_draft_survives_a_reload_and_a_lost_connection_until_it_is_sent(
    world: World, viewport: Any
) -> None:
    bea, dana, live = _live_session(world, mechanic_at=viewport, customer_at=viewport)
    c, m = dana.page, bea.page
    c.goto(f"/sessions/{live.sid}")
    c.get_by_label("Message").fill("It started after the tyre change")
    c.reload()
    expect(c.get_by_label("Message")).to_have_value("It started after the tyre change")

    # Offline, the send fails and the words stay, also across a reload once back.
    c.context.set_offline(True)
    c.get_by_label("Message").press("Enter")
    expect(c.get_by_text("Could not reach pitcrew. Check your connection")).to_be_visible()
    c.context.set_offline(False)
    c.reload()
    expect(c.get_by_label("Message")).to_have_value("It started after the tyre change")
    c.get_by_label("Message").press("Enter")
    expect(c.locator(".msg.mine")).to_contain_text("It started after the tyre change")
    expect(c.get_by_label("Message")).to_have_value("")
    c.reload()
    expect(c.get_by_label("Message")).to_have_value("")

    m.goto(f"/sessions/{live.sid}")
    m.get_by_role("button", name="Complete session").click()
    m.get_by_label("Summary for Dana Driver").fill("Worn front pads.")
    m.get_by_label("Trouble codes").fill("P0301")
    m.reload()
    m.get_by_role("button", name="Complete session").click()
    expect(m.get_by_label("Summary for Dana Driver")).to_have_value("Worn front pads.")
    expect(m.get_by_label("Trouble codes")).to_have_value("P0301")
    m.get_by_role("button", name="Complete and send report").click()
    expect(m.locator("[data-status-headline]")).to_have_text("Completed")
    kept = m.evaluate("Object.keys(localStorage).filter((k) => k.startsWith('pitcrew:draft:'))")
    assert kept == []
    for person in (bea, dana):
        person.assert_no_script_problems()


# --- the timer ------------------------------------------------------------------------------


def test_the_timer_runs_tells_both_when_the_plan_is_up_and_the_duration_is_kept(
    world: World,
) -> None:
    bea, dana, live = _live_session(world, customer_at=PHONE, plan_code="basic")
    for page in (bea.page, dana.page):
        page.clock.install()  # the page's clock, which the test can move on
        page.goto(f"/sessions/{live.sid}")
        timer = page.locator("[data-timer]")
        expect(timer).to_contain_text("of 15 min")
        expect(timer.locator("[data-timer-clock]")).to_have_text(re.compile(r"^0:0\d$"))
        expect(page.locator("[data-plan-notice]")).to_be_hidden()
    for page in (bea.page, dana.page):
        page.clock.fast_forward("15:00")
        expect(page.locator("[data-timer-clock]")).to_have_text(re.compile(r"^15:0\d$"))
        expect(page.locator("[data-plan-notice]")).to_have_text(
            "The Basic plan's 15 minutes are up. There is no hard stop:"
            " take the time you need to finish."
        )
    # Nothing stops: the chat still takes messages past the plan's minutes.
    dana.page.get_by_label("Message").fill("Still here")
    dana.page.get_by_label("Message").press("Enter")
    expect(bea.page.locator(".msg.theirs")).to_contain_text("Still here")

    m = bea.page
    m.get_by_role("button", name="Complete session").click()
    m.get_by_label("Summary for Dana Driver").fill("Worn front pads.")
    m.get_by_role("button", name="Complete and send report").click()
    took = re.compile(r"took \d+ s of the plan's 15 min")
    expect(m.locator("[data-took]")).to_contain_text(took)
    expect(dana.page.locator("[data-took]")).to_contain_text(took)
    expect(m.locator("[data-timer]")).to_have_count(0)

    m.goto("/mechanic/dashboard")
    m.get_by_role("tab", name=re.compile("Completed")).click()
    row = m.locator(f'#panel-completed tr[data-session="{live.sid}"]')
    expect(row.locator('[data-label="Duration"]')).to_have_text(re.compile(r"^\d+ s$"))
    dana.page.goto("/sessions")
    expect(dana.page.locator(".session-card")).to_contain_text(re.compile(r"took \d+ s"))
    for person in (bea, dana):
        person.assert_no_script_problems()


# --- typing -------------------------------------------------------------------------------


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_the_other_party_sees_typing_within_a_second_and_it_clears(
    world: World, viewport: Any
) -> None:
    bea, dana, live = _live_session(world, mechanic_at=viewport, customer_at=viewport)
    c, m = dana.page, bea.page
    for page in (c, m):
        page.goto(f"/sessions/{live.sid}")
    note = m.locator("[data-typing]")
    # Each page's live stream is open once its connection badge is quiet and events flow;
    # a first message proves the mechanic's stream delivers.
    c.get_by_label("Message").fill("Hello")
    c.get_by_label("Message").press("Enter")
    expect(m.locator(".msg.theirs")).to_contain_text("Hello")

    c.get_by_label("Message").press_sequentially("It grinds")
    expect(note).to_have_text("Dana is typing…", timeout=1_000)
    expect(c.locator("[data-typing]")).to_have_text("")  # nobody is told of their own typing
    expect(note).to_have_text("", timeout=6_000)  # a few seconds after typing stops

    c.get_by_label("Message").press_sequentially(" when braking")
    expect(note).to_have_text("Dana is typing…", timeout=1_000)
    c.get_by_label("Message").press("Enter")
    expect(m.locator(".msg.theirs").last).to_contain_text("It grinds when braking")
    expect(note).to_have_text("")  # the message came: nobody is typing any more
    for person in (bea, dana):
        person.assert_no_script_problems()


# --- the waiting room -----------------------------------------------------------------------


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_the_waiting_room_counts_mechanics_and_time_and_back_returns_to_it(
    world: World, viewport: Any
) -> None:
    world.account(Role.MECHANIC, "Bea Mechanic")
    world.account(Role.MECHANIC, "Cy Mechanic")
    create_account(world.db, Role.MECHANIC, "Off Duty", on_duty=False)
    dana = world.sign_in(Role.CUSTOMER, "Dana Driver", viewport=viewport)
    c = dana.page
    c.get_by_role("link", name="New request").first.click()
    c.get_by_label("Year").fill("2016")
    c.get_by_label("Make").fill("Honda")
    c.get_by_label("Model").fill("Civic")
    c.get_by_label("Describe the issue").fill("Grinding noise when braking")
    c.get_by_role("button", name="Find a mechanic").click()
    expect(c).to_have_url(re.compile(r"/sessions/[0-9a-f-]{36}$"))
    waiting_page = c.url

    wait = c.locator("[data-wait]")
    expect(wait.locator("[data-on-duty]")).to_have_text("2")
    # REQUEST_TTL is 15 minutes: the time left counts down from there.
    expect(wait.locator("time[data-until]")).to_have_text(re.compile(r"^1[45] min"))

    c.go_back()  # the form it was sent from is gone from the history
    expect(c).to_have_url(waiting_page + "#sent")
    expect(c.locator("[data-status-headline]")).to_have_text("Waiting for a mechanic")

    # Another request while this one is open: asked first.
    c.get_by_role("link", name="New request").first.click()
    expect(c.get_by_role("heading", name="You already have a request open")).to_be_visible()
    expect(c.locator("form[data-intake]")).to_have_count(0)
    c.get_by_role("link", name="Go to my open request").click()
    expect(c).to_have_url(waiting_page)
    c.get_by_role("link", name="New request").first.click()
    c.get_by_role("link", name="Start another request").click()
    expect(c.get_by_label("Describe the issue")).to_be_visible()
    dana.assert_no_script_problems()
