"""What each session status is called, written once.

Pages, notifications, the session room and the browser's scripts all name a status with these
words, so a change of wording is one edit here. The page carries the table as data
(``as_data``) for the scripts.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

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
