"""Background rounds (the sweeper, the gauges, the email sender): they survive a failing
round, wake on demand, stop at once and leave no subscription behind."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable

import pytest

from pitcrew.periodic import Periodic, in_thread

LONG = 3600.0  # a period no test waits out
PATIENCE = 10.0  # how long a test waits for what should happen at once


class Rounds:
    """A job that counts its rounds and lets a test await the n-th."""

    def __init__(self, failing: int = 0) -> None:
        self.count = 0
        self.failing = failing
        self._changed = asyncio.Event()

    async def __call__(self) -> None:
        self.count += 1
        self._changed.set()
        if self.count <= self.failing:
            raise RuntimeError("the database is away")

    async def reach(self, n: int) -> None:
        async with asyncio.timeout(PATIENCE):
            while self.count < n:
                self._changed.clear()
                await self._changed.wait()


class Subscriptions:
    """Stands in for ``Database.on_events_committed``."""

    def __init__(self) -> None:
        self.callbacks: list[Callable[[], None]] = []

    def subscribe(self, callback: Callable[[], None]) -> Callable[[], None]:
        self.callbacks.append(callback)
        return lambda: self.callbacks.remove(callback)

    def fire(self) -> None:
        for callback in list(self.callbacks):
            callback()


def test_a_failing_round_is_logged_and_the_next_one_still_runs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    rounds = Rounds(failing=1)

    async def scenario() -> None:
        async with Periodic("expiry sweep", rounds, every_seconds=0.01).running():
            await rounds.reach(2)

    asyncio.run(scenario())
    [failure] = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert failure.getMessage() == "expiry sweep failed; trying again next round"
    assert failure.exc_info is not None


def test_a_wake_from_another_thread_runs_a_round_now() -> None:
    rounds = Rounds()
    events = Subscriptions()

    async def scenario() -> None:
        periodic = Periodic("email sender", rounds, every_seconds=LONG, wake_on=[events.subscribe])
        async with periodic.running():
            await rounds.reach(1)
            threading.Thread(target=events.fire).start()
            await rounds.reach(2)
            threading.Thread(target=periodic.wake).start()
            await rounds.reach(3)

    asyncio.run(scenario())
    assert rounds.count >= 2, "the wake-up ran no round before the period was up"


def test_stopping_ends_the_wait_at_once_and_undoes_the_subscriptions() -> None:
    rounds = Rounds()
    events = Subscriptions()

    async def scenario() -> float:
        periodic = Periodic("email sender", rounds, every_seconds=LONG, wake_on=[events.subscribe])
        async with periodic.running():
            await rounds.reach(1)
            assert len(events.callbacks) == 1
            stopping = time.monotonic()
        return time.monotonic() - stopping

    took = asyncio.run(scenario())
    assert took < 1.0, f"stopping took {took:.1f} s"
    assert events.callbacks == [], "a stopped job must not be woken again"
    assert rounds.count == 1


def test_a_blocking_job_runs_off_the_event_loop() -> None:
    threads: list[threading.Thread] = []
    done = threading.Event()

    def count_invariants() -> None:
        threads.append(threading.current_thread())
        done.set()

    async def scenario() -> threading.Thread:
        async with Periodic("count", in_thread(count_invariants), every_seconds=LONG).running():
            async with asyncio.timeout(PATIENCE):
                await asyncio.to_thread(done.wait)
        return threading.current_thread()

    loop_thread = asyncio.run(scenario())
    assert threads and threads[0] is not loop_thread


def test_a_round_that_outlasts_the_grace_period_is_cut_off(
    caplog: pytest.LogCaptureFixture,
) -> None:
    started, cancelled = asyncio.Event(), asyncio.Event()

    async def send_forever() -> None:
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise

    async def scenario() -> None:
        periodic = Periodic("email sender", send_forever, every_seconds=LONG, grace_seconds=0.05)
        async with periodic.running():
            async with asyncio.timeout(PATIENCE):
                await started.wait()
        assert cancelled.is_set()

    asyncio.run(scenario())
    assert any("did not finish within" in r.getMessage() for r in caplog.records)
