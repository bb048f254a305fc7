"""The threads that read busy answers (delivery/calendar/busy.py BusyWorkers): a few of
their own, never queued onto, each read under a CPU budget, and a read its caller gave up
on stops at its next checkpoint and frees its thread."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from notification_service.delivery.calendar.busy import TOO_EXPENSIVE, BusyWorkers
from notification_service.delivery.calendar.busy_events import Checkpoint
from notification_service.domain.errors import (
    CalendarProtocolError,
    CalendarRetryLater,
    CalendarTimeout,
)

WAIT_S = 30  # how long a test waits for a thread before it fails (never reached when sound)


async def until(condition: threading.Event) -> None:
    assert await asyncio.to_thread(condition.wait, WAIT_S)


async def test_work_runs_on_the_readers_own_threads() -> None:
    workers = BusyWorkers(2, cpu_s=30)
    name = await workers.run(lambda checkpoint: threading.current_thread().name)
    assert name.startswith("caldav-busy")
    assert workers.at_work == 0


async def test_when_every_reader_is_at_work_a_read_is_refused_at_once() -> None:
    workers = BusyWorkers(2, cpu_s=30)
    release, started = threading.Event(), [threading.Event(), threading.Event()]

    def holding(begun: threading.Event) -> Callable[[Checkpoint], None]:
        def hold(checkpoint: Checkpoint) -> None:
            begun.set()
            release.wait(WAIT_S)

        return hold

    holders = [asyncio.create_task(workers.run(holding(begun))) for begun in started]
    try:
        for begun in started:
            await until(begun)
        assert workers.at_work == 2
        with pytest.raises(CalendarRetryLater) as refused:
            await workers.run(lambda checkpoint: "never run")
        with pytest.raises(CalendarRetryLater):
            workers.refuse_when_all_at_work()
        later = datetime.now(UTC) + timedelta(seconds=15)
        assert later - timedelta(seconds=5) <= refused.value.retry_at <= later
        assert "at work" in refused.value.detail
    finally:
        release.set()
        await asyncio.gather(*holders)
    assert workers.at_work == 0
    assert await workers.run(lambda checkpoint: "read") == "read"


async def test_a_read_past_its_cpu_budget_is_too_expensive() -> None:
    workers = BusyWorkers(1, cpu_s=0.0)

    def spin(checkpoint: Checkpoint) -> None:
        while True:
            checkpoint()

    with pytest.raises(CalendarProtocolError, match=TOO_EXPENSIVE):
        await workers.run(spin)
    assert workers.at_work == 0


async def test_a_read_given_up_stops_at_its_next_checkpoint_and_frees_its_thread() -> None:
    """What CALDAV_TIMEOUT_S does: the caller stops waiting, and the thread must not go
    on reading for nobody."""
    workers = BusyWorkers(1, cpu_s=60)
    begun, stopped = threading.Event(), threading.Event()
    seen: list[BaseException] = []

    def read_forever(checkpoint: Checkpoint) -> None:
        begun.set()
        try:
            while True:
                checkpoint()
                threading.Event().wait(0.001)
        except CalendarTimeout as error:
            seen.append(error)
            stopped.set()
            raise

    reading = asyncio.create_task(workers.run(read_forever))
    await until(begun)
    reading.cancel()
    with pytest.raises(asyncio.CancelledError):
        await reading
    await until(stopped)
    assert "given up" in str(seen[0])
    for _ in range(WAIT_S * 100):  # the thread counts as at work until its work returns
        if workers.at_work == 0:
            break
        await asyncio.sleep(0.01)
    assert await workers.run(lambda checkpoint: "read") == "read"
