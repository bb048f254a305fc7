"""WatchRooms against fakes: the feed publishing the change log to the hub, and a
session's snapshot, SYNCED, resume, live events and heartbeats."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from scheduling_service.domain import errors
from scheduling_service.domain.watch import WatchFilter
from scheduling_service.service_layer.feed import ChangeFeed
from scheduling_service.service_layer.hub import Hub
from scheduling_service.service_layer.rooms import CreateRoom, RoomService
from scheduling_service.service_layer.watch import WatchRooms, WatchService
from tests.scheduling_service.service_layer.fakes import (
    FakeClock,
    FakeDatabase,
    FakeNotices,
    person,
)

NOW = datetime.now(UTC).replace(microsecond=0)  # rooms start on a whole second
HOST, GUEST = person("host"), person("guest")
TRUSTED = replace(person("backend"), trusted=True)
STRANGER = person("stranger")


class Markers:
    @staticmethod
    def synced(revision: int) -> bytes:
        return f"SYNCED {revision}".encode()

    @staticmethod
    def heartbeat(revision: int) -> bytes:
        return f"HEARTBEAT {revision}".encode()


class System:
    def __init__(self, heartbeat_s: float) -> None:
        self.db = FakeDatabase()
        self.rooms = RoomService(self.db, uid_domain="t", clock=FakeClock(NOW))
        self.notices = FakeNotices()
        self.hub = Hub(queue_size=8, max_per_user=3)
        self.feed = ChangeFeed(
            self.db,
            self.notices,
            self.hub,
            poll_s=60,
            retention=timedelta(hours=1),
            request_retention=timedelta(hours=1),
            prune_every_s=3600,
        )
        self.watch_service = WatchService(
            self.db, self.hub, Markers(), heartbeat_s, snapshot_concurrency=2
        )

    async def create(self, days: int) -> uuid.UUID:
        command = CreateRoom("Mock", "", NOW + timedelta(days=days), timedelta(hours=1), "A", None)
        seen = await self.rooms.create_room(HOST, command)
        self.notices.notify()
        return seen.room.room_id


@asynccontextmanager
async def running(heartbeat_s: float = 60.0) -> AsyncIterator[System]:
    system = System(heartbeat_s)
    await system.feed.start_position()
    task = asyncio.create_task(system.feed.run())
    try:
        yield system
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def _next(events: AsyncGenerator[bytes, None]) -> str:
    async with asyncio.timeout(5):
        return (await anext(events)).decode()


async def test_snapshot_then_synced_then_every_live_event_once() -> None:
    async with running() as system:
        first = await system.create(1)
        await system.create(2)
        session = system.watch_service.open(WatchRooms(0, WatchFilter(), HOST))
        events = session.events()
        assert [(await _next(events)).split()[0] for _ in range(3)] == [
            "SNAPSHOT",
            "SNAPSHOT",
            "SYNCED",
        ]
        await system.rooms.book_room(GUEST, first)
        system.notices.notify()
        assert await _next(events) == f"BOOKED {first} guest"
        session.close()


async def test_each_watcher_sees_what_it_may_of_a_booked_room() -> None:
    async with running() as system:
        room = await system.create(1)
        await system.rooms.book_room(GUEST, room)
        system.notices.notify()
        seen = {}
        for name, viewer in (("guest", GUEST), ("stranger", STRANGER), ("backend", TRUSTED)):
            session = system.watch_service.open(WatchRooms(0, WatchFilter(), viewer))
            events = session.events()
            seen[name] = (await _next(events), await _next(events))
            session.close()
        assert seen["guest"][0] == f"SNAPSHOT {room} guest"
        assert seen["backend"][0] == f"SNAPSHOT {room} guest"
        assert seen["stranger"][0] == f"SNAPSHOT {room} booked"
        resumed = system.watch_service.open(WatchRooms(1, WatchFilter(), STRANGER)).events()
        assert await _next(resumed) == f"BOOKED {room} booked"


async def test_only_a_trusted_backend_watches_someone_elses_schedule() -> None:
    async with running() as system:
        with pytest.raises(errors.NotOwnSchedule):
            system.watch_service.open(WatchRooms(0, WatchFilter(participant_id="guest"), STRANGER))
        system.watch_service.open(WatchRooms(0, WatchFilter(participant_id="guest"), GUEST)).close()
        system.watch_service.open(
            WatchRooms(0, WatchFilter(participant_id="guest"), TRUSTED)
        ).close()


async def test_resume_from_a_revision_replays_what_came_after_then_goes_live() -> None:
    async with running() as system:
        await system.create(1)
        second = await system.create(2)
        session = system.watch_service.open(WatchRooms(1, WatchFilter(), HOST))
        events = session.events()
        assert await _next(events) == f"CREATED {second} open"
        third = await system.create(3)
        assert await _next(events) == f"CREATED {third} open"
        session.close()


async def test_a_filtered_watcher_gets_heartbeats_with_resume_points() -> None:
    async with running(heartbeat_s=0.05) as system:
        await system.create(1)
        session = system.watch_service.open(
            WatchRooms(0, WatchFilter(participant_id="nobody"), TRUSTED)
        )
        events = session.events()
        assert await _next(events) == "SYNCED 1"
        await system.create(2)  # not in this watcher's view
        while (beat := await _next(events)) != "HEARTBEAT 2":
            assert beat == "HEARTBEAT 1"
        session.close()


async def test_a_revision_ahead_of_the_log_is_a_bad_argument() -> None:
    async with running() as system:
        await system.create(1)
        session = system.watch_service.open(WatchRooms(5, WatchFilter(), HOST))
        with pytest.raises(errors.InvalidArgument):
            await _next(session.events())
        session.close()


async def test_a_user_has_at_most_so_many_watches_and_a_closed_one_frees_its_place() -> None:
    async with running() as system:
        sessions = [
            system.watch_service.open(WatchRooms(0, WatchFilter(), GUEST)) for _ in range(3)
        ]
        with pytest.raises(errors.TooManyWatches):
            system.watch_service.open(WatchRooms(0, WatchFilter(), GUEST))
        system.watch_service.open(
            WatchRooms(0, WatchFilter(), HOST)
        ).close()  # others are not counted
        sessions[0].close()
        system.watch_service.open(WatchRooms(0, WatchFilter(), GUEST)).close()
        for session in sessions[1:]:
            session.close()


async def test_closing_the_hub_ends_every_watcher_and_waits_for_them() -> None:
    async with running() as system:
        await system.create(1)
        ended: list[BaseException] = []
        opened = asyncio.Semaphore(0)

        async def watcher() -> None:
            session = system.watch_service.open(WatchRooms(0, WatchFilter(), GUEST))
            opened.release()
            try:
                async for _ in session.events():
                    pass
            except asyncio.CancelledError as cancelled:
                ended.append(cancelled)
                assert session.end_reason is not None  # it knows why: the server closes
            finally:
                session.close()

        tasks = [asyncio.create_task(watcher()) for _ in range(3)]
        for _ in tasks:
            await opened.acquire()
        system.hub.close()
        await system.hub.wait_closed(5)
        assert all(task.done() for task in tasks) and len(ended) == 3


async def test_an_event_reaches_every_watcher_in_at_most_two_serializations() -> None:
    async with running(heartbeat_s=0.05) as system:
        room = await system.create(1)
        viewers = [HOST, GUEST, TRUSTED, *(person(f"stranger{i}") for i in range(20))]
        sessions = [system.watch_service.open(WatchRooms(1, WatchFilter(), v)) for v in viewers]
        streams = [session.events() for session in sessions]
        for stream in streams:  # a heartbeat: past its backlog, waiting for live events
            assert await _next(stream) == "HEARTBEAT 1"
        await system.rooms.book_room(GUEST, room)
        system.notices.notify()
        got = []
        for stream in streams:
            async with asyncio.timeout(5):
                while (data := await anext(stream)).startswith(b"HEARTBEAT"):
                    pass
            got.append(data)
        for session in sessions:
            session.close()
        # The very same bytes objects: one for the participants (and the trusted
        # backend), one for everyone else; nothing serialized per watcher.
        assert len({id(data) for data in got}) == 2
        assert got[0] is got[1] is got[2] and got[3] is got[-1]
        assert got[0].decode() == f"BOOKED {room} guest"
        assert got[3].decode() == f"BOOKED {room} booked"


async def test_a_watcher_cut_for_overflow_frees_its_users_place_at_once() -> None:
    async with running() as system:
        cut = []
        opened = asyncio.Semaphore(0)

        async def never_reading() -> None:
            session = system.watch_service.open(WatchRooms(0, WatchFilter(), GUEST))
            opened.release()
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                cut.append(session)  # ended by the hub; its handler has not closed it yet

        tasks = [asyncio.create_task(never_reading()) for _ in range(3)]
        for _ in tasks:
            await opened.acquire()
        for days in range(1, 10):  # more than a queue of 8 holds
            await system.create(days)
        system.notices.notify()
        async with asyncio.timeout(5):
            await asyncio.gather(*tasks)
        assert len(cut) == 3
        for _ in range(3):  # the user's places are free again at once
            system.watch_service.open(WatchRooms(0, WatchFilter(), GUEST)).close()


async def test_a_snapshot_is_read_whole_before_its_first_event_goes_out() -> None:
    async with running() as system:
        for days in range(1, 4):
            await system.create(days)
        # Two slots (snapshot_concurrency=2): two watchers that never read past their
        # first event must not keep a third from its snapshot.
        stalled = []
        for _ in range(2):
            session = system.watch_service.open(WatchRooms(0, WatchFilter(), GUEST))
            events = session.events()
            assert (await _next(events)).startswith("SNAPSHOT")
            stalled.append((session, events))
        third = system.watch_service.open(WatchRooms(0, WatchFilter(), HOST)).events()
        assert [(await _next(third)).split()[0] for _ in range(4)] == ["SNAPSHOT"] * 3 + ["SYNCED"]
        for session, events in stalled:
            await events.aclose()
            session.close()


async def test_a_resume_reads_the_log_in_pages_and_misses_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("scheduling_service.service_layer.watch._BACKLOG_PAGE", 2)
    async with running() as system:
        rooms = [await system.create(days) for days in range(1, 6)]
        session = system.watch_service.open(WatchRooms(1, WatchFilter(), HOST))
        events = session.events()
        assert [await _next(events) for _ in range(4)] == [
            f"CREATED {room} open" for room in rooms[1:]
        ]
        later = await system.create(6)
        assert await _next(events) == f"CREATED {later} open"
        session.close()
