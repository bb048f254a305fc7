"""BookRoom's `respect_calendar` against the in-memory fakes: busy time as last read
refuses an overlapping booking, names nothing of it, and writes nothing. The reads
themselves run against real CalDAV servers (tests/system/test_calendar_busy.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from scheduling_service.domain import errors
from scheduling_service.service_layer.rooms import CreateRoom, RoomService
from tests.scheduling_service.service_layer.fakes import FakeClock, FakeDatabase, person

NOW = datetime(2030, 1, 1, 12, tzinfo=UTC)
STARTS = NOW + timedelta(days=1)
HOST, GUEST = person("host"), person("guest")


@pytest.fixture
def fake_db() -> FakeDatabase:
    return FakeDatabase()


@pytest.fixture
def rooms(fake_db: FakeDatabase) -> RoomService:
    return RoomService(fake_db, uid_domain="example.test", clock=FakeClock(NOW))


async def _room(rooms: RoomService) -> object:
    create = CreateRoom("Mock", "notes", STARTS, timedelta(hours=1), "Arrays", None)
    return (await rooms.create_room(HOST, create)).room.room_id


async def _busy(fake_db: FakeDatabase, rooms: RoomService, start: datetime, hours: float) -> None:
    await rooms.register(GUEST)
    fake_db.store.busy[fake_db.store.user_no("guest")] = [(start, start + timedelta(hours=hours))]


async def test_busy_time_refuses_an_overlapping_booking_and_writes_nothing(
    rooms: RoomService, fake_db: FakeDatabase
) -> None:
    room_id = await _room(rooms)
    await _busy(fake_db, rooms, STARTS + timedelta(minutes=30), 2)
    written = (list(fake_db.store.events), list(fake_db.store.outbox))
    with pytest.raises(errors.CalendarBusy) as refused:
        await rooms.book_room(GUEST, room_id, respect_calendar=True)
    assert refused.value.message == "the session overlaps busy time in your connected calendar"
    assert (fake_db.store.events, fake_db.store.outbox) == written
    # Without asking, the calendar is not consulted.
    assert (await rooms.book_room(GUEST, room_id)).room.guest_id == "guest"
    # A retry by the winner changes nothing and is not refused either.
    assert (await rooms.book_room(GUEST, room_id, respect_calendar=True)).room.guest_id


async def test_busy_time_that_only_touches_the_session_does_not_refuse(
    rooms: RoomService, fake_db: FakeDatabase
) -> None:
    room_id = await _room(rooms)
    await _busy(fake_db, rooms, STARTS + timedelta(hours=1), 1)  # starts as the session ends
    assert (await rooms.book_room(GUEST, room_id, respect_calendar=True)).room.guest_id


async def test_a_room_already_taken_is_that_first(
    rooms: RoomService, fake_db: FakeDatabase
) -> None:
    room_id = await _room(rooms)
    await rooms.book_room(person("early"), room_id)
    await _busy(fake_db, rooms, STARTS, 1)
    with pytest.raises(errors.RoomAlreadyBooked):
        await rooms.book_room(GUEST, room_id, respect_calendar=True)
