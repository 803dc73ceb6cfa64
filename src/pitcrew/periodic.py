"""Background work that repeats: a job run every few seconds, and at once when woken.

The expiry sweep, the count of invariant violations and the email sender all run this way
inside the server. A round that fails is logged and the next round runs as planned; a
blocking job (a database query) runs in a worker thread so it never holds up the event
loop; stopping ends the wait at once instead of sleeping out the period, lets the round in
progress finish (or cuts it off after a grace period), and undoes every subscription made
at the start, so a stopped job is never woken again.

The wait is ``asyncio.timeout`` around an event, never ``asyncio.wait_for``: on Python
3.11 ``wait_for`` can swallow a cancellation that lands together with a wake-up.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager

log = logging.getLogger(__name__)

Job = Callable[[], Awaitable[object]]
# Something that calls a callback on some occurrence (a commit that wrote events, say)
# until the callable it returned is called: ``Database.on_events_committed`` is one.
Subscribe = Callable[[Callable[[], None]], Callable[[], None]]


def in_thread(job: Callable[[], object]) -> Job:
    """``job`` run in a worker thread: a query that blocks must not stop the event loop."""
    return functools.partial(asyncio.to_thread, job)


class Periodic:
    """Runs ``job`` every ``every_seconds``, and at once when woken, between start and stop.

    ``wake_on`` are subscriptions made at the start (and undone at the stop) whose
    callbacks wake the job; :meth:`wake` does the same from any thread. A wake-up during a
    round makes the next round start as soon as this one ends. At the stop a round in
    progress may finish within ``grace_seconds`` (``None``: however long it takes), after
    which it is cancelled; jobs that loop over work can look at :attr:`stopping`. With
    ``first_after_seconds`` the first round waits that long (or for a wake-up) instead of
    running at the start.
    """

    def __init__(
        self,
        name: str,
        job: Job,
        *,
        every_seconds: float,
        wake_on: Iterable[Subscribe] = (),
        grace_seconds: float | None = None,
        first_after_seconds: float = 0.0,
    ) -> None:
        self.name = name
        self.job = job
        self.every_seconds = every_seconds
        self.wake_on = tuple(wake_on)
        self.grace_seconds = grace_seconds
        self.first_after_seconds = first_after_seconds
        self.stopping = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._woken: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._unsubscribe: list[Callable[[], None]] = []

    @asynccontextmanager
    async def running(self) -> AsyncIterator[Periodic]:
        """Run the job while inside; on the way out, stop as :meth:`stop` says."""
        self.start()
        try:
            yield self
        finally:
            await self.stop()

    def start(self) -> None:
        """Start the first round now (called from the event loop that will run the job)."""
        if self._task is not None:
            raise RuntimeError(f"{self.name} is already running")
        self.stopping = False
        self._loop = asyncio.get_running_loop()
        self._woken = asyncio.Event()
        self._unsubscribe = [subscribe(self.wake) for subscribe in self.wake_on]
        self._task = asyncio.create_task(self._rounds(), name=f"pitcrew {self.name}")

    async def stop(self) -> None:
        """Stop waking, let the round in progress end (within the grace period), and return."""
        task, woken = self._task, self._woken
        if task is None or woken is None:
            return
        self.stopping = True
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe = []
        woken.set()
        try:
            _, late = await asyncio.wait({task}, timeout=self.grace_seconds)
            if late:
                log.warning(
                    "%s did not finish within %g s of the stop; its work waits for next time",
                    self.name,
                    self.grace_seconds,
                )
        finally:
            task.cancel()  # nothing to do when the task has ended
            await asyncio.wait({task})
            self._task = self._woken = self._loop = None

    def wake(self) -> None:
        """Run a round now (or right after the one in progress). Safe from any thread."""
        loop, woken = self._loop, self._woken
        if loop is None or woken is None or loop.is_closed():
            return
        with contextlib.suppress(RuntimeError):  # the loop closed in between
            loop.call_soon_threadsafe(woken.set)

    async def _rounds(self) -> None:
        woken = self._woken
        assert woken is not None
        if self.first_after_seconds > 0:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.first_after_seconds):
                    await woken.wait()
        while not self.stopping:
            woken.clear()
            try:
                await self.job()
            except Exception:
                log.exception("%s failed; trying again next round", self.name)
            if self.stopping:
                return
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.every_seconds):
                    await woken.wait()
