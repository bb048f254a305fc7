"""ReadCalendarBusy against hostile answers that cost CPU rather than bytes (edited
instances by the ten thousand, RDATE bombs, a calendar past the CPU budget), and the few
threads of its own that read them: a read while all of them are at work is a temporary
failure at once, and the multistatus is never parsed on the event loop."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator

import pytest
from notification.v1 import notification_pb2 as pb

from notification_service.delivery.calendar import busy
from notification_service.delivery.calendar.busy_events import MAX_DATES, Checkpoint
from tests.notification_service.busy_answers import (
    END,
    START,
    XML,
    busy_server,
    multistatus,
    read_count,
    reports,
    utc,
    vcalendar,
    vevent,
)
from tests.notification_service.calendar_helpers import (
    busy_of,
    busy_request,
    calendar_config,
    retry_near,
)
from tests.notification_service.conftest import StartServer
from tests.notification_service.delivery.calendar.busy_data import edited_instances
from tests.notification_service.delivery.calendar.hostile_server import (
    Seen,
    respond,
)
from tests.notification_service.notification_helpers import Running
from tests.notification_service.scripted_calendar import (
    sealed_for,
    url_of,
)

TEMPORARY = pb.CALENDAR_WRITE_OUTCOME_TEMPORARY_FAILURE
PERMANENT = pb.CALENDAR_WRITE_OUTCOME_PERMANENT_FAILURE


@pytest.fixture
async def running(start_server: StartServer) -> Running:
    """CalDAV deadline of 5 s: scripted servers answer at once, reading takes a moment."""
    return await start_server(calendar_config(caldav_timeout_s=5.0))


@contextlib.asynccontextmanager
async def every_busy_reader_at_work() -> AsyncIterator[None]:
    """Every thread that reads busy answers holds a read until the block ends."""
    release = threading.Event()

    def hold(checkpoint: Checkpoint) -> None:
        release.wait(30)

    holders = [asyncio.create_task(busy.WORKERS.run(hold)) for _ in range(busy.BUSY_WORKERS)]
    await asyncio.sleep(0)  # each takes its thread before its first await
    assert busy.WORKERS.at_work == busy.BUSY_WORKERS
    try:
        yield
    finally:
        release.set()
        await asyncio.gather(*holders)


@pytest.mark.slow  # seconds of CPU
async def test_10k_masters_and_their_edited_instances_are_read(
    start_server: StartServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One object of 10,000 recurring masters and 10,000 edited instances: every
    occurrence where it is. (Its cost, 6 to 15 s of CPU when each master looked through
    every instance, is `make bench`'s busy_read figure: here the CPU budget is lifted, so
    that a loaded machine's slower CPU cannot fail a sound answer.)"""
    monkeypatch.setattr(busy, "WORKERS", busy.BusyWorkers(busy.BUSY_WORKERS, cpu_s=300.0))
    running = await start_server(calendar_config(caldav_timeout_s=300.0))
    answer = multistatus(edited_instances(10_000))
    async with busy_server(respond(207, answer, XML)) as server:
        response = await running.read_busy(busy_request(sealed_for(url_of(server)), START, END))
    assert response.outcome == pb.CALENDAR_WRITE_OUTCOME_WRITTEN, response.detail
    # Every master's own hour, the one RDATE left in place, the edited instances' hour.
    assert busy_of(response) == [
        (utc(3, 10), utc(3, 11)),
        (utc(4, 10), utc(4, 11)),
        (utc(4, 12), utc(4, 13)),
    ]
    assert response.detail == (
        "10000 recurring events came unexpanded: each counts at its own start and RDATEs only"
    )


async def test_an_rdate_bomb_is_a_permanent_failure(running: Running) -> None:
    """460,000 RDATE values in one event (7.8 MB) took 5 s of CPU and 300 MB before the
    occurrence bound refused them: the line filter refuses them as it counts."""
    bomb = vevent(
        "bomb@elsewhere",
        "20260303T100000Z",
        "20260303T100100Z",
        "RDATE:" + ",".join(["20260303T120000Z"] * 460_000),
    )
    async with busy_server(respond(207, multistatus(vcalendar(bomb)), XML)) as server:
        response = await running.read_busy(busy_request(sealed_for(url_of(server)), START, END))
    assert response.outcome == PERMANENT, response.detail
    assert response.detail == f"more than {MAX_DATES} RDATE and EXDATE values in the answer"
    assert not response.busy and not response.HasField("retry_time")


async def test_while_every_busy_reader_is_at_work_a_read_is_temporary_at_once(
    running: Running,
) -> None:
    """No queue behind reads that hold the threads (a hostile answer, a read its caller
    gave up on): a retry a little later, and no request sent for a body nobody can read."""
    before = read_count("TEMPORARY_FAILURE")
    answer = multistatus(vcalendar(vevent("a@x", "20260303T100000Z", "20260303T110000Z")))
    async with busy_server(respond(207, answer, XML)) as server:
        async with every_busy_reader_at_work():
            request = busy_request(sealed_for(url_of(server)), START, END)
            response = await running.read_busy(request)
        assert response.outcome == TEMPORARY, response.detail
        assert "busy-time readers are at work" in response.detail
        assert retry_near(response, busy.RETRY_WHEN_ALL_AT_WORK.total_seconds())
        assert read_count("TEMPORARY_FAILURE") == before + 1
        assert server.requests == []

        response = await running.read_busy(request)  # the threads free again
        assert response.outcome == pb.CALENDAR_WRITE_OUTCOME_WRITTEN, response.detail
        assert busy_of(response) == [(utc(3, 10), utc(3, 11))]


async def test_the_multistatus_is_parsed_on_a_busy_reader_not_on_the_event_loop(
    running: Running,
) -> None:
    """Malformed XML answered while every reader became busy: parsed before a reader
    was found (on the loop, which an 8 MB body stalled for 0.5 s) it would be a
    permanent failure; it is a temporary one, never parsed."""
    async with contextlib.AsyncExitStack() as held:

        async def script(seen: Seen, writer: asyncio.StreamWriter) -> None:
            await held.enter_async_context(every_busy_reader_at_work())
            body = b"<D:multistatus xmlns:D='DAV:'><D:response>"
            await respond(207, body, XML)(seen, writer)

        async with busy_server(script) as server:
            response = await running.read_busy(busy_request(sealed_for(url_of(server)), START, END))
    assert response.outcome == TEMPORARY, response.detail
    assert "busy-time readers are at work" in response.detail
    assert len(reports(server)) == 1


async def test_a_calendar_past_the_cpu_budget_is_too_expensive_to_read(
    running: Running, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(busy, "WORKERS", busy.BusyWorkers(busy.BUSY_WORKERS, cpu_s=0.0))
    answer = multistatus(vcalendar(vevent("a@x", "20260303T100000Z", "20260303T110000Z")))
    async with busy_server(respond(207, answer, XML)) as server:
        response = await running.read_busy(busy_request(sealed_for(url_of(server)), START, END))
    assert response.outcome == PERMANENT, response.detail
    assert response.detail.startswith("calendar too expensive to read")
    assert not response.busy
