"""What each session status is called, and what a session is called, written once.

Pages, notifications, the session room and the browser's scripts all name a status with these
words, so a change of wording is one edit here. The page carries the table as data
(``as_data``) for the scripts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from pitcrew.models import SessionStatus


@dataclass(frozen=True)
class StatusWords:
    label: str  # a badge or a column: "Waiting for a mechanic"
    sentence: str  # completes "this session is …": "waiting for a mechanic"


STATUS_WORDS: dict[SessionStatus, StatusWords] = {
    SessionStatus.PENDING: StatusWords("Waiting for a mechanic", "waiting for a mechanic"),
    SessionStatus.WAITING: StatusWords("Accepted", "accepted and waiting for the mechanic to join"),
    SessionStatus.LIVE: StatusWords("Live", "live"),
    SessionStatus.COMPLETED: StatusWords("Completed", "completed"),
    SessionStatus.CANCELLED: StatusWords("Cancelled", "cancelled"),
}


def label(status: SessionStatus) -> str:
    return STATUS_WORDS[status].label


def sentence(status: SessionStatus) -> str:
    return STATUS_WORDS[status].sentence


def as_data() -> dict[str, dict[str, str]]:
    """The table as JSON-ready data, keyed by the status's value, for the page's scripts."""
    return {status.value: asdict(words) for status, words in STATUS_WORDS.items()}


def vehicle(info: Mapping[str, Any] | None) -> str:
    """A car as people say it: "2016 Honda Civic"."""
    if not info:
        return ""
    return " ".join(str(info[k]) for k in ("year", "make", "model") if info.get(k))


def session_name(info: Mapping[str, Any] | None, customer_name: str) -> str:
    """A session as people name it, by car and customer: "2016 Honda Civic · Dana Driver".

    Tabs, notifications, emails and page titles all use it; the short code stays for support.
    """
    car = vehicle(info)
    return f"{car} \u00b7 {customer_name}" if car and customer_name else car or customer_name


def mileage(info: Mapping[str, Any] | None) -> str:
    """The mileage the customer gave, "84,000 miles", or nothing; a car adopted from the
    replaced system may keep it as text ("121,000 km"), shown as it was written."""
    value = info.get("mileage") if info else None
    if isinstance(value, str):
        return value.strip()
    return f"{value:,} miles" if isinstance(value, int) else ""


def first_lines(text: str | None, limit: int = 160) -> str:
    """The start of a text for a list: its first two lines, cut at a word near ``limit``."""
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    short = " ".join(lines[:2])
    if len(short) <= limit and len(lines) <= 2:
        return short
    cut = short[:limit].rsplit(" ", 1)[0] if len(short) > limit else short
    return cut.rstrip(" ,.;:") + "\u2026"
