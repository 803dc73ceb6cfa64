"""The session room in a real browser: a video call and photos between customer and mechanic.

Debian's Chromium (never a downloaded browser) drives two browser contexts, the customer's
and the mechanic's, against a real uvicorn server on loopback. Chromium's fake camera and
microphone stand in for real ones; the call is real WebRTC between the two contexts, set up
through pitcrew's own signalling.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from playwright.sync_api import Browser, BrowserContext, Page
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from pitcrew.config import Settings
from pitcrew.db import Database
from tests.support.factories import PASSWORD, Person, intake_through_api
from tests.support.live import chromium

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("quick_passwords")]

# Chromium's fake camera and microphone, and host candidates a loopback peer can reach.
MEDIA_ARGS = [
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
    "--disable-features=WebRtcHideLocalIpsWithMdns",
]
WAIT_MS = 30_000

REMOTE_PLAYS = """() => {
  const v = document.querySelector('[data-remote-video]');
  return !!v && v.videoWidth > 0 && v.readyState >= 2 && v.currentTime > 0;
}"""
REMOTE_ADVANCES = """(start) => {
  const v = document.querySelector('[data-remote-video]');
  return v.currentTime > start + 0.3;
}"""


@pytest.fixture
def settings(db: Database, tmp_path: Path) -> Settings:
    return Settings(
        database_url=db.url if isinstance(db.url, str) else str(db.url),
        media_dir=tmp_path / "media",
        events_poll_seconds=1.0,
    )


@pytest.fixture
def browser() -> Iterator[Browser]:
    with chromium(MEDIA_ARGS) as launched:
        yield launched


# A slow network for one read: the call's setup answers late, after the stream has moved on.
SLOW_SETUP = """(() => {
  const original = window.fetch;
  window.fetch = function (url) {
    const answer = original.apply(this, arguments);
    if (!String(url).endsWith('/call')) return answer;
    return answer.then((r) => new Promise((done) => setTimeout(() => done(r), 1500)));
  };
})();"""


def _signed_in(
    browser: Browser, base: str, person: Person, *, slow_setup: bool = False
) -> BrowserContext:
    context = browser.new_context(base_url=base, permissions=["camera", "microphone"])
    if slow_setup:
        context.add_init_script(SLOW_SETUP)
    context.set_default_timeout(WAIT_MS)
    answer = context.request.post(
        "/api/auth/login", data={"email": person.email, "password": PASSWORD}
    )
    assert answer.ok, answer.text()
    return context


# What each page wrote to its console, shown when a wait fails.
CONSOLE: dict[int, list[str]] = {}


def _room(context: BrowserContext, sid: str) -> Page:
    page = context.new_page()
    lines = CONSOLE.setdefault(id(page), [])
    page.on("console", lambda message: lines.append(f"{message.type}: {message.text}"))
    page.on("pageerror", lambda error: lines.append(f"error: {error}"))
    page.goto(f"/sessions/{sid}")
    page.wait_for_selector("[data-call]")
    return page


def _state(page: Page) -> str:
    return str(page.get_attribute("[data-call]", "data-state"))


def _describe(page: Page) -> str:
    seen = page.evaluate(
        """() => {
          const call = document.querySelector('[data-call]');
          const v = document.querySelector('[data-remote-video]');
          return {state: call.dataset.state, connection: call.dataset.connection,
                  note: document.querySelector('[data-call-note]').textContent,
                  width: v.videoWidth, time: v.currentTime, ready: v.readyState};
        }"""
    )
    return f"{seen} console={CONSOLE.get(id(page), [])[-10:]}"


def _until(page: Page, script: str, arg: Any = None, what: str = "") -> None:
    try:
        page.wait_for_function(script, arg=arg, timeout=WAIT_MS)
    except PlaywrightTimeoutError:
        raise AssertionError(f"timed out waiting for {what or script}: {_describe(page)}") from None


def _wait_state(page: Page, *states: str) -> None:
    _until(
        page,
        "(states) => states.includes(document.querySelector('[data-call]').dataset.state)",
        list(states),
        f"call state {states}",
    )


def _assert_playing(page: Page) -> None:
    """The other party's video is on screen and moving, over a connected call."""
    _wait_state(page, "connected")
    _until(page, REMOTE_PLAYS, what="the remote video to play")
    start = page.evaluate("() => document.querySelector('[data-remote-video]').currentTime")
    _until(page, REMOTE_ADVANCES, start, "the remote video to advance")
    assert page.evaluate("() => window.pitcrew.call.connection()") == "connected"
    assert page.evaluate("() => document.querySelector('[data-remote-video]').videoWidth") > 0


def _assert_call_ended(page: Page, state: str) -> None:
    _wait_state(page, state)
    assert page.evaluate("() => window.pitcrew.call.connection()") == "closed"
    assert page.evaluate("() => document.querySelector('[data-remote-video]').srcObject") is None
    assert page.evaluate("() => document.querySelector('[data-local-video]').srcObject") is None
    assert not page.is_visible("[data-call-action=hangup]")


def _video_session(customer: Person, mechanic: Person) -> str:
    sid, rid = intake_through_api(customer, session_type="video")
    accepted = mechanic.client.post("/api/mechanic/accept", json={"request_id": rid})
    assert accepted.status_code == 200, accepted.text
    return sid


def _photos_on(page: Page, count: int) -> None:
    """The chat shows ``count`` photos, each thumbnail loaded."""
    _until(
        page,
        """(count) => {
          const imgs = [...document.querySelectorAll('[data-messages] img[data-photo]')];
          return imgs.length === count && imgs.every((i) => i.complete && i.naturalWidth > 0);
        }""",
        count,
        f"{count} photos in the chat",
    )


def _jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (120, 90), (30, 120, 200)).save(out, "JPEG")
    return out.getvalue()


# Two real WebRTC peers negotiating over loopback while the rest of the suite loads both
# cores: connectivity checks occasionally stall past the wait (seen about once in ten runs of
# the reconnect case, never alone on a quiet machine). One more attempt from scratch tells
# such a stall from a broken call, which fails every attempt.
WEBRTC_RETRY = pytest.mark.flaky(reruns=1, reruns_delay=2)


@WEBRTC_RETRY
def test_video_call_from_join_to_completion(
    db: Database, live: str, browser: Browser, customer: Person, mechanic: Person
) -> None:
    sid = _video_session(customer, mechanic)
    # The customer's first read of the call answers "waiting" only after the session is live.
    at_customer = _room(_signed_in(browser, live, customer, slow_setup=True), sid)
    at_mechanic = _room(_signed_in(browser, live, mechanic), sid)
    for page in (at_customer, at_mechanic):
        assert _state(page) == "waiting"

    at_mechanic.click("[data-action=join]")  # the session goes live: the call starts itself
    for page in (at_customer, at_mechanic):
        _assert_playing(page)
        assert page.is_visible("[data-call-action=hangup]")
        assert page.is_visible("[data-call-action=mute]")
        assert page.is_visible("[data-call-action=camera]")

    # Mute and camera off act on the sending tracks.
    at_customer.click("[data-call-action=mute]")
    at_customer.click("[data-call-action=camera]")
    tracks = at_customer.evaluate(
        """() => document.querySelector('[data-local-video]').srcObject.getTracks()
                   .map((t) => [t.kind, t.enabled])"""
    )
    assert sorted(tracks) == [["audio", False], ["video", False]]
    assert at_customer.inner_text("[data-call-action=mute]") == "Unmute"
    at_customer.click("[data-call-action=mute]")
    at_customer.click("[data-call-action=camera]")

    # Photos both ways, live: one picked by the customer, a still taken by the mechanic.
    at_customer.set_input_files(
        "[data-photo-input]",
        files=[{"name": "dashboard.jpg", "mimeType": "image/jpeg", "buffer": _jpeg()}],
    )
    for page in (at_customer, at_mechanic):
        _photos_on(page, 1)
    assert not at_customer.is_visible("[data-call-action=snapshot]")
    at_mechanic.click("[data-call-action=snapshot]")
    for page in (at_customer, at_mechanic):
        _photos_on(page, 2)
    messages = customer.client.get(f"/api/sessions/{sid}/messages").json()
    still = messages[-1]
    assert still["sender_id"] == str(mechanic.id)
    assert still["photo"]["width"] > 0 and still["body"] == "Still from the video call"
    at_mechanic.click("[data-messages] [data-photo-link] >> nth=0")  # full image on click
    at_mechanic.wait_for_function(
        "() => { const i = document.querySelector('dialog.photo-viewer img');"
        " return i && i.complete && i.naturalWidth === 120; }"
    )
    at_mechanic.keyboard.press("Escape")

    # The call kept running through all that.
    _assert_playing(at_customer)

    # Hang-up ends it on both sides.
    at_mechanic.click("[data-call-action=hangup]")
    _assert_call_ended(at_mechanic, "ended")
    _assert_call_ended(at_customer, "ended")
    assert at_customer.is_visible("[data-call-action=call]")

    # Calling again rings the other side, who joins.
    at_mechanic.click("[data-call-action=call]")
    _wait_state(at_customer, "ringing")
    assert at_customer.inner_text("[data-call-action=call]") == "Join call"
    at_customer.click("[data-call-action=call]")
    for page in (at_customer, at_mechanic):
        _assert_playing(page)

    # Completing the session ends the running call for both.
    done = mechanic.client.post(f"/api/sessions/{sid}/complete", json={"summary": "Pads worn."})
    assert done.status_code == 200, done.text
    for page in (at_customer, at_mechanic):
        _assert_call_ended(page, "over")
        assert not page.is_visible("[data-call-action=call]")


@WEBRTC_RETRY
def test_dropped_connection_offers_reconnect(
    db: Database, live: str, browser: Browser, customer: Person, mechanic: Person
) -> None:
    sid = _video_session(customer, mechanic)
    mechanic.client.post(f"/api/sessions/{sid}/join")
    customer_context = _signed_in(browser, live, customer)
    at_customer = _room(customer_context, sid)
    at_mechanic = _room(_signed_in(browser, live, mechanic), sid)
    for page in (at_customer, at_mechanic):
        _assert_playing(page)

    # The customer's side vanishes without a word (its tab crashed, its network went away).
    with contextlib.suppress(PlaywrightError):
        at_customer.goto("chrome://crash", timeout=5_000)
    at_customer.close()
    _wait_state(at_mechanic, "lost")
    assert at_mechanic.is_visible("[data-call-action=reconnect]")
    assert "dropped" in at_mechanic.inner_text("[data-call-note]")

    # The mechanic reconnects, and the call resumes as soon as the customer is back.
    at_mechanic.click("[data-call-action=reconnect]")
    _wait_state(at_mechanic, "awaiting")
    at_customer = _room(customer_context, sid)
    for page in (at_customer, at_mechanic):
        _assert_playing(page)
