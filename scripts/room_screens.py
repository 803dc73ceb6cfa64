"""Screenshots of the session room for the README: a mechanic at a desktop, a driver on a phone.

    .venv/bin/python scripts/room_screens.py        # writes docs/screens/room-*.png

Runs the app against a fresh SQLite database in a temporary folder and drives Debian's
Chromium with the tests' own browser support (tests/support/), so the pictures show what the
browser tests check.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from argon2 import PasswordHasher  # noqa: E402
from tests.support.browser import DESKTOP, PHONE, World, world_at  # noqa: E402
from tests.support.databases import fresh_database  # noqa: E402
from tests.support.factories import Stage, start_session  # noqa: E402
from tests.support.live import chromium  # noqa: E402

from pitcrew import auth, chat  # noqa: E402
from pitcrew.db import Database  # noqa: E402
from pitcrew.models import Role  # noqa: E402

OUT = ROOT / "docs" / "screens"


def take(world: World) -> None:
    bea = world.sign_in(Role.MECHANIC, "Bea Mechanic", viewport=DESKTOP)
    dana = world.sign_in(Role.CUSTOMER, "Dana Driver", viewport=PHONE)
    live = start_session(world.db, dana.actor, Stage.LIVE, mechanic=bea.actor)
    chat.post_message(world.db, dana.actor, live.session_id, "It grinds when I brake hard.")
    chat.post_message(world.db, bea.actor, live.session_id, "Front or back? Any warning light?")
    chat.post_message(world.db, dana.actor, live.session_id, "Front, I think. No lights.")
    for person, name in ((bea, "room-desktop"), (dana, "room-phone")):
        page = person.page
        page.goto(f"/sessions/{live.sid}")
        page.locator(".msg").last.wait_for()
        page.wait_for_function("document.querySelector('[data-timer-clock]').textContent !== ''")
        page.screenshot(path=str(OUT / f"{name}.png"))
    dana.page.get_by_role("button", name="Car, issue and timeline").click()
    dana.page.screenshot(path=str(OUT / "room-phone-details.png"))


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    auth._hasher = PasswordHasher(time_cost=1, memory_cost=1024)  # pictures, not security
    with (
        tempfile.TemporaryDirectory() as folder,
        fresh_database("sqlite", "screens", Path(folder)) as url,
        chromium() as browser,
    ):
        db = Database(url)
        try:
            with world_at(db, url, browser) as world:
                take(world)
        finally:
            db.dispose()
    for path in sorted(OUT.glob("room-*.png")):
        print(f"{path.relative_to(ROOT)}: {path.stat().st_size // 1024} KiB")


if __name__ == "__main__":
    main()
