"""The README's picture of the operator's console, taken again whenever the pages change:

    .venv/bin/python -m tests.support.screens

A fresh SQLite database under a temporary folder, a small floor (requests waiting, a session
accepted, one live), pitcrew under uvicorn on loopback, and Debian's Chromium signed in as an
admin; the floor is written to docs/screens/console-floor.png. The tests run it too
(tests/test_console_browser.py), so it keeps working.
"""

from __future__ import annotations

import re
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path

from playwright.sync_api import Browser

from pitcrew.config import Settings
from pitcrew.db import Database
from pitcrew.models import Role
from pitcrew.web.app import create_app
from tests.support.databases import fresh_database
from tests.support.factories import PASSWORD, Stage, create_account, start_session
from tests.support.live import chromium, serve_in_thread

SCREENS = Path(__file__).resolve().parents[2] / "docs" / "screens"
FLOOR = SCREENS / "console-floor.png"


def _a_busy_floor(db: Database) -> str:
    """Some requests waiting, a session accepted, one live; the admin's email."""
    dana = create_account(db, Role.CUSTOMER, "Dana Driver")
    sam = create_account(db, Role.CUSTOMER, "Sam Sedan")
    bea = create_account(db, Role.MECHANIC, "Bea Mechanic")
    create_account(db, Role.MECHANIC, "Cole Mechanic")
    start_session(db, dana, Stage.LIVE, mechanic=bea)
    start_session(db, sam, Stage.WAITING, mechanic=bea)
    start_session(db, sam, session_type="video", plan_code="premium")
    start_session(db, dana)
    return create_account(db, Role.ADMIN, "Avery Admin").email


def take(path: Path = FLOOR, browser: Browser | None = None) -> Path:
    """Write the console's floor, as an admin sees it, to ``path``.

    A test passes its own ``browser``: Playwright drives one at a time per thread.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    with (
        tempfile.TemporaryDirectory() as folder,
        fresh_database("sqlite", "pitcrew", Path(folder)) as url,
        ExitStack() as stack,
    ):
        db = Database(url)
        stack.callback(db.dispose)
        admin_email = _a_busy_floor(db)
        app = create_app(Settings(database_url=url, media_dir=Path(folder) / "media"), db)
        base = stack.enter_context(serve_in_thread(app))
        shown_in = browser or stack.enter_context(chromium())
        context = shown_in.new_context(viewport={"width": 1280, "height": 760}, base_url=base)
        stack.callback(context.close)
        page = context.new_page()
        page.goto("/login")
        page.get_by_label("Email").fill(admin_email)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(re.compile(r"/admin$"))
        page.locator('[data-floor="live"]').wait_for()
        page.screenshot(path=str(path))
    return path


if __name__ == "__main__":
    sys.stdout.write(f"{take()}\n")
