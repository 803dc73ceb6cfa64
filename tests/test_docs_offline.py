"""The API reference works on a machine without internet: all it loads comes from pitcrew.

Chromium opens ``/docs`` and ``/redoc`` with every request to a host other than 127.0.0.1
refused, and must still list the operations, with no script error and no policy violation.
The pages read no database, so they run on SQLite only.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, Page, Route, expect

pytestmark = [
    pytest.mark.browser,
    pytest.mark.sqlite_only,
    pytest.mark.parametrize("db", ["sqlite"], indirect=True),
]

OPERATIONS = ("/api/intake/start", "/api/mechanic/accept", "/api/sessions/{session_id}/complete")
# ms: the viewers parse about a megabyte of script and the whole API description
RENDERED = 60_000


class Offline:
    """A browser page whose network ends at this machine, noting what it tried beyond it."""

    def __init__(self, browser: Browser, base_url: str) -> None:
        self.context = browser.new_context(base_url=base_url)
        self.outside: list[str] = []
        self.problems: list[str] = []
        self.context.route("**/*", self._only_loopback)
        self.page: Page = self.context.new_page()
        self.page.on("console", self._on_console)
        self.page.on("pageerror", lambda error: self.problems.append(str(error)))

    def _only_loopback(self, route: Route) -> None:
        if urlsplit(route.request.url).hostname == "127.0.0.1":
            route.continue_()
        else:
            self.outside.append(route.request.url)
            route.abort("internetdisconnected")

    def _on_console(self, message: Any) -> None:
        """Script errors and policy refusals, but for ReDoc's footer logo from its makers' site:
        the policy keeps that from loading, as it should, and ReDoc then leaves it out."""
        text: str = message.text
        if message.type == "error" and not (
            text.startswith("Loading the image 'https://cdn.redoc.ly/") and "img-src" in text
        ):
            self.problems.append(text)


@pytest.fixture
def offline(browser: Browser, live: str) -> Iterator[Offline]:
    here = Offline(browser, live)
    try:
        yield here
    finally:
        here.context.close()


def test_swagger_ui_lists_the_operations_offline(offline: Offline) -> None:
    page = offline.page
    page.goto("/docs")
    expect(page.locator(".opblock-summary-path").first).to_be_visible(timeout=RENDERED)
    for path in OPERATIONS:
        expect(page.locator(".opblock-summary-path", has_text=path).first).to_be_visible()
    page.locator(".opblock-summary", has_text="/api/intake/start").first.click()
    expect(page.get_by_text("issue_description").first).to_be_visible()
    assert offline.outside == []
    assert offline.problems == []


def test_redoc_lists_the_operations_offline(offline: Offline) -> None:
    page = offline.page
    page.goto("/redoc")
    expect(page.get_by_role("heading", name="pitcrew")).to_be_visible(timeout=RENDERED)
    for path in OPERATIONS:
        operation = page.get_by_text(path, exact=True).first
        operation.scroll_into_view_if_needed()
        expect(operation).to_be_visible()
    assert offline.outside == []
    assert offline.problems == []
