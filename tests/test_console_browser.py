"""The operator's console in Chromium, against uvicorn: what an admin sees change live.

Each person has their own browser context (their own cookies). Nothing reloads a page to
see a change made by someone else: it must arrive over the live stream.

PostgreSQL only, to keep CI time down; the pages are the same on SQLite.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Browser, ViewportSize, expect

from pitcrew.models import Role
from tests.support import screens
from tests.support.browser import DESKTOP, PHONE, World, log_in
from tests.support.factories import Stage, start_session

pytestmark = [
    pytest.mark.browser,
    pytest.mark.postgres_only,
    pytest.mark.usefixtures("quick_passwords"),
]

LIVE = 3_000  # ms: how soon a change must show on another person's page


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_the_floor_shows_a_new_request_the_moment_it_arrives(
    world: World, viewport: ViewportSize
) -> None:
    customer, _ = world.account(Role.CUSTOMER, "Dana Driver")
    admin = world.sign_in(Role.ADMIN, "Avery Admin", viewport=viewport).page
    expect(admin.get_by_role("heading", name="Console")).to_be_visible()
    expect(admin.locator('[data-count="pending"]')).to_have_text("0")
    expect(admin.get_by_text("No requests waiting")).to_be_visible()

    started = start_session(world.db, customer)

    row = admin.locator(f'[data-floor="pending"] tr[data-session="{started.sid}"]')
    expect(row).to_be_visible(timeout=LIVE)
    expect(row).to_contain_text("Dana Driver")
    expect(row.locator("time[data-until]")).to_have_text(re.compile(r"^1[45] min"))
    expect(admin.locator('[data-count="pending"]')).to_have_text("1")
    overflow = admin.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, "the floor scrolls sideways"


def test_reassign_moves_a_session_from_one_active_tab_to_the_other_live(world: World) -> None:
    customer, _ = world.account(Role.CUSTOMER, "Dana Driver")
    bea = world.sign_in(Role.MECHANIC, "Bea Mechanic")
    at_bea, at_cole = bea.page, world.sign_in(Role.MECHANIC, "Cole Mechanic").page
    waiting = start_session(world.db, customer, Stage.WAITING, mechanic=bea.actor)
    for page in (at_bea, at_cole):
        page.get_by_role("tab", name="Active Sessions").click()
    bea_row = at_bea.locator(f'#panel-active tr[data-session="{waiting.sid}"]')
    cole_row = at_cole.locator(f'#panel-active tr[data-session="{waiting.sid}"]')
    expect(bea_row).to_be_visible()
    expect(cole_row).to_have_count(0)

    admin = world.sign_in(Role.ADMIN, "Avery Admin").page
    admin.get_by_role("link", name="Sessions").click()
    admin.get_by_label("Customer").fill("dana")
    admin.get_by_role("button", name="Search").click()
    admin.locator(f'tr[data-session="{waiting.sid}"]').get_by_role("link").click()
    expect(admin.locator("[data-status-headline]")).to_have_text(
        "Bea Mechanic accepted — not joined yet"
    )
    admin.get_by_label("Reassign to another mechanic on duty").select_option(
        label="Cole Mechanic (holds 0)"
    )
    admin.get_by_role("button", name="Reassign").click()

    expect(cole_row).to_be_visible(timeout=LIVE)
    expect(bea_row).to_have_count(0, timeout=LIVE)
    expect(admin.locator("[data-status-headline]")).to_have_text(
        "Cole Mechanic accepted — not joined yet"
    )
    expect(admin.locator(".timeline")).to_contain_text(
        "Avery Admin moved the session from Bea Mechanic to Cole Mechanic."
    )


def test_an_admin_reads_a_live_session_from_outside(world: World) -> None:
    customer, _ = world.account(Role.CUSTOMER, "Dana Driver")
    bea, _ = world.account(Role.MECHANIC, "Bea Mechanic")
    live = start_session(world.db, customer, Stage.LIVE, mechanic=bea)
    admin = world.sign_in(Role.ADMIN, "Avery Admin", viewport=PHONE).page
    admin.goto(f"/sessions/{live.sid}")
    expect(admin.get_by_text("Live session between Dana Driver and Bea Mechanic.")).to_be_visible()
    expect(admin.get_by_text("You are in a live session")).to_have_count(0)
    expect(admin.get_by_role("button", name="Complete session")).to_have_count(0)
    admin.get_by_text("Cancel for the customer").click()
    admin.get_by_label("Reason (the customer and mechanic see it)").fill("Asked by phone")
    admin.get_by_role("button", name="Yes, cancel this session").click()
    expect(admin.locator("[data-status-headline]")).to_have_text("Cancelled", timeout=LIVE)
    expect(admin.locator(".timeline")).to_contain_text(
        "Avery Admin cancelled the session (Asked by phone)."
    )


def test_an_admin_adds_a_mechanic_who_can_then_sign_in(world: World) -> None:
    admin = world.sign_in(Role.ADMIN, "Avery Admin").page
    admin.get_by_role("link", name="People").click()
    admin.get_by_label("Name", exact=True).fill("Nia Newhire")
    admin.get_by_label("Email", exact=True).fill("nia@example.com")
    admin.get_by_role("button", name="Add mechanic").click()
    shown = admin.locator("[data-created]")
    expect(shown).to_contain_text("can sign in with this one-time password")
    password = admin.locator("[data-password]").inner_text()
    assert len(password) >= 12

    nia = world.visitor(viewport=PHONE)
    log_in(nia, "nia@example.com", password)
    expect(nia).to_have_url(re.compile("/mechanic/dashboard$"))
    expect(nia.get_by_role("tab", name="Incoming Requests")).to_be_visible()

    admin.reload()
    row = admin.locator("tr[data-account]").filter(has_text="Nia Newhire")
    expect(row).to_contain_text("Off duty")
    row.get_by_text("Deactivate…").click()
    row.get_by_role("button", name="Yes, deactivate Nia Newhire").click()
    expect(admin.locator("tr[data-account]").filter(has_text="Nia Newhire")).to_contain_text(
        "Deactivated"
    )
    nia.reload()
    expect(nia).to_have_url(re.compile("/login"))


def test_the_readme_screenshot_can_be_taken_again(tmp_path: Path, browser: Browser) -> None:
    taken = screens.take(tmp_path / "floor.png", browser)
    assert taken.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_every_console_page_fits_a_phone(world: World) -> None:
    customer, _ = world.account(Role.CUSTOMER, "Dana Driver")
    bea, _ = world.account(Role.MECHANIC, "Bea Mechanic")
    waiting = start_session(world.db, customer, Stage.WAITING, mechanic=bea)
    start_session(world.db, customer, Stage.COMPLETED, mechanic=bea)
    admin = world.sign_in(Role.ADMIN, "Avery Admin", viewport=PHONE).page
    for path in (
        "/admin",
        "/admin/sessions",
        "/admin/people",
        "/admin/health",
        "/admin/numbers?days=90",
        f"/sessions/{waiting.sid}",
    ):
        admin.goto(path)
        expect(admin.get_by_role("heading", level=1)).to_be_visible()
        overflow = admin.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{path} is {overflow}px too wide on a phone"
