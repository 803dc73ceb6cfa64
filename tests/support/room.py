"""What the session room's tests share: a person's own event stream."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from tests.support.factories import Person
from tests.support.live import EventReader, open_events

READ_TIMEOUT = 10.0


@contextmanager
def listen(base: str, person: Person) -> Iterator[EventReader]:
    """Open the person's stream; returns once whatever commits from now on will reach it."""
    headers = {"Authorization": str(person.client.headers["Authorization"])}
    with open_events(base, headers, timeout=READ_TIMEOUT) as (_, reader):
        assert reader.line().startswith("retry:")
        yield reader
