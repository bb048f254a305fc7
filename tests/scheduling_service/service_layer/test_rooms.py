"""The room use cases against in-memory fakes of the ports: every rule, and what each
change leaves in the change log and the outbox. In-process, no database, no server."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from scheduling_service.domain import errors
from scheduling_service.domain.changes import Change
from scheduling_service.domain.invites import Method
from scheduling_service.domain.outbox import State
from scheduling_service.domain.queries import RoomQuery
from scheduling_service.domain.room import Room
from scheduling_service.service_layer.rooms import CreateRoom, ListRooms, Reschedule, RoomService
from tests.scheduling_service.service_layer.fakes import FakeClock, FakeDatabase, Store, person

NOW = datetime(2030, 1, 1, 12, tzinfo=UTC)
HOST, GUEST, OTHER = person("host"), person("guest"), person("other")


@pytest.fixture
def fake_db() -> FakeDatabase:
    return FakeDatabase()


@pytest.fixture
def rooms(fake_db: FakeDatabase) -> RoomService:
    return RoomService(fake_db, uid_domain="example.test", clock=FakeClock(NOW))


def _create(
    starts: datetime = NOW + timedelta(days=1), request_id: uuid.UUID | None = None
) -> CreateRoom:
    return CreateRoom("Mock", "notes", starts, timedelta(hours=1), "Arrays", request_id)


def _invites(store: Store) -> list[tuple[str, Method, bool]]:
    return [
        (m.recipient.user_id, m.invite.method, m.invite.uninvite)
        for m in store.outbox
        if m.state.value == "pending" and m.reminder is None
    ]


def _changes(store: Store) -> list[Change]:
    return [entry.change for _, entry in store.events]


async def test_create_stores_the_room_and_its_first_round_and_sends_nothing(
    rooms: RoomService, fake_db: FakeDatabase
) -> None:
    room = (await rooms.create_room(HOST, _create())).room
    assert room.revision == 1 and room.sequence == 0
    assert room.ics_uid == f"{room.room_id}@example.test"
    assert [(r.number, r.topic) for r in room.rounds] == [(1, "Arrays")]
    assert fake_db.store.rooms[room.room_id] == room
    assert _changes(fake_db.store) == [Change.CREATED]
    assert fake_db.store.outbox == []


async def test_a_repeated_request_id_returns_the_first_room(
    rooms: RoomService, fake_db: FakeDatabase
) -> None:
    request_id = uuid.uuid4()
    first = (await rooms.create_room(HOST, _create(request_id=request_id))).room
    again = (await rooms.create_room(HOST, _create(request_id=request_id))).room
    assert again == first
    assert len(fake_db.store.rooms) == 1 and _changes(fake_db.store) == [Change.CREATED]
    # Scoped to the caller: another host's same id is another room.
    theirs = (await rooms.create_room(OTHER, _create(request_id=request_id))).room
    assert theirs.room_id != first.room_id


async def test_booking_invites_host_and_guest(rooms: RoomService, fake_db: FakeDatabase) -> None:
    room = (await rooms.create_room(HOST, _create())).room
    booked = (await rooms.book_room(GUEST, room.room_id)).room
    assert booked.guest_id == "guest" and booked.sequence == 1 and booked.revision == 2
    assert fake_db.store.rooms[room.room_id].guest_id == "guest"
    assert _changes(fake_db.store) == [Change.CREATED, Change.BOOKED]
    assert _invites(fake_db.store) == [
        ("host", Method.REQUEST, False),
        ("guest", Method.REQUEST, False),
    ]
    assert fake_db.store.holders[room.room_id] == {"host", "guest"}


async def test_refused_bookings_write_nothing(rooms: RoomService, fake_db: FakeDatabase) -> None:
    room = (await rooms.create_room(HOST, _create())).room
    with pytest.raises(errors.HostCannotBook):
        await rooms.book_room(HOST, room.room_id)
    await rooms.book_room(GUEST, room.room_id)
    written = (list(fake_db.store.events), list(fake_db.store.outbox))
    with pytest.raises(errors.RoomAlreadyBooked):
        await rooms.book_room(OTHER, room.room_id)
    with pytest.raises(errors.RoomNotFound):
        await rooms.book_room(OTHER, uuid.uuid4())
    assert (fake_db.store.events, fake_db.store.outbox) == written


async def test_a_retried_booking_by_its_winner_changes_nothing(
    rooms: RoomService, fake_db: FakeDatabase
) -> None:
    room = (await rooms.create_room(HOST, _create())).room
    first = (await rooms.book_room(GUEST, room.room_id)).room
    again = (await rooms.book_room(GUEST, room.room_id)).room
    assert again == first
    assert (
        _changes(fake_db.store) == [Change.CREATED, Change.BOOKED]
        and len(fake_db.store.outbox) == 2
    )


async def test_a_lost_booking_race_is_answered_from_the_commit_without_a_read(
    rooms: RoomService, fake_db: FakeDatabase
) -> None:
    room = (await rooms.create_room(HOST, _create())).room

    def another_replica_books_first() -> None:
        current = fake_db.store.rooms[room.room_id]
        fake_db.store.rooms[room.room_id] = current.booked_by("other", NOW)
        fake_db.store.holders[room.room_id] = frozenset({"host", "other"})

    fake_db.store.before_commit = another_replica_books_first
    reads = fake_db.store.reads
    with pytest.raises(errors.RoomAlreadyBooked):
        await rooms.book_room(GUEST, room.room_id)
    assert fake_db.store.reads == reads + 1  # the first read only: the commit said why
    assert fake_db.store.outbox == [] and _changes(fake_db.store) == [Change.CREATED]


async def test_a_race_the_rules_still_allow_is_decided_again_on_fresh_state(
    rooms: RoomService, fake_db: FakeDatabase
) -> None:
    room = (await rooms.create_room(HOST, _create())).room
    later = room.starts + timedelta(hours=3)

    def the_host_reschedules_first() -> None:
        current = fake_db.store.rooms[room.room_id]
        moved = current.rescheduled_by("host", starts=later, length=None, etag="", now=NOW)
        fake_db.store.rooms[room.room_id] = moved

    fake_db.store.before_commit = the_host_reschedules_first
    booked = (await rooms.book_room(GUEST, room.room_id)).room
    assert booked.starts == later and booked.guest_id == "guest" and booked.sequence == 2


async def test_overlapping_sessions_are_refused_for_host_and_guest(
    rooms: RoomService, fake_db: FakeDatabase
) -> None:
    first = (await rooms.create_room(HOST, _create())).room
    with pytest.raises(errors.ScheduleConflict):
        await rooms.create_room(HOST, _create(starts=first.starts + timedelta(minutes=30)))
    back_to_back = (await rooms.create_room(HOST, _create(starts=first.ends))).room
    await rooms.book_room(GUEST, first.room_id)
    theirs = (await rooms.create_room(OTHER, _create(starts=first.starts))).room
    before = (dict(fake_db.store.rooms), list(fake_db.store.events), list(fake_db.store.outbox))
    with pytest.raises(errors.ScheduleConflict):
        await rooms.book_room(GUEST, theirs.room_id)
    assert (fake_db.store.rooms, fake_db.store.events, fake_db.store.outbox) == before
    assert back_to_back.room_id in fake_db.store.rooms


async def test_leaving_uninvites_the_guest_and_updates_the_host(
    rooms: RoomService, fake_db: FakeDatabase
) -> None:
    room = (await rooms.create_room(HOST, _create())).room
    await rooms.book_room(GUEST, room.room_id)
    with pytest.raises(errors.NotRoomGuest):
        await rooms.leave_room(OTHER, room.room_id)
    left = (await rooms.leave_room(GUEST, room.room_id)).room
    assert left.guest_id is None and left.sequence == 2
    assert _changes(fake_db.store)[-1] is Change.LEFT
    assert _invites(fake_db.store)[-2:] == [
        ("guest", Method.CANCEL, True),
        ("host", Method.REQUEST, False),
    ]
    assert fake_db.store.holders[room.room_id] == {"host"}
    # The guest's slot is free again: they can book another session at that time.
    theirs = (await rooms.create_room(OTHER, _create(starts=room.starts))).room
    await rooms.book_room(GUEST, theirs.room_id)


async def test_rescheduling_updates_every_holder_and_moves_the_slots(
    rooms: RoomService, fake_db: FakeDatabase
) -> None:
    room = (await rooms.create_room(HOST, _create())).room
    booked = (await rooms.book_room(GUEST, room.room_id)).room
    later = room.starts + timedelta(days=1)
    with pytest.raises(errors.NotRoomHost):
        await rooms.reschedule_room(GUEST, Reschedule(room.room_id, later, None, ""))
    with pytest.raises(errors.EtagMismatch):
        await rooms.reschedule_room(HOST, Reschedule(room.room_id, later, None, "1"))
    moved = (
        await rooms.reschedule_room(
            HOST, Reschedule(room.room_id, later, timedelta(hours=2), booked.etag)
        )
    ).room
    assert (moved.starts, moved.ends, moved.sequence) == (later, later + timedelta(hours=2), 2)
    assert _invites(fake_db.store)[-2:] == [
        ("host", Method.REQUEST, False),
        ("guest", Method.REQUEST, False),
    ]
    # The old time is free for both again, the new one is not.
    await rooms.create_room(GUEST, _create(starts=room.starts))
    with pytest.raises(errors.ScheduleConflict):
        await rooms.create_room(GUEST, _create(starts=later))


async def test_cancelling_deletes_the_room_and_tells_everyone_holding_the_invite(
    rooms: RoomService, fake_db: FakeDatabase
) -> None:
    open_room = (await rooms.create_room(HOST, _create())).room
    await rooms.cancel_room(HOST, open_room.room_id, reason="", etag="")
    assert open_room.room_id not in fake_db.store.rooms
    assert fake_db.store.outbox == []  # nobody held an invite for an open room
    room = (await rooms.create_room(HOST, _create())).room
    await rooms.book_room(GUEST, room.room_id)
    with pytest.raises(errors.NotRoomHost):
        await rooms.cancel_room(GUEST, room.room_id, reason="", etag="")
    await rooms.cancel_room(HOST, room.room_id, reason="ill", etag="")
    assert room.room_id not in fake_db.store.rooms and not fake_db.store.slots
    assert _changes(fake_db.store)[-1] is Change.CANCELLED
    assert _invites(fake_db.store)[-2:] == [
        ("host", Method.CANCEL, False),
        ("guest", Method.CANCEL, False),
    ]
    with pytest.raises(errors.RoomNotFound):
        await rooms.get_room(HOST, room.room_id)


async def test_a_participant_without_an_address_is_not_mailed(
    rooms: RoomService, fake_db: FakeDatabase
) -> None:
    room = (await rooms.create_room(HOST, _create())).room
    await rooms.book_room(person("nomail", email=False), room.room_id)
    assert _invites(fake_db.store) == [("host", Method.REQUEST, False)]
    # Recorded as skipped all the same, as the SQL adapter does: the guest sees why.
    skipped = [m.recipient.user_id for m in fake_db.store.outbox if m.state is State.SKIPPED]
    assert skipped == ["nomail"]
    assert fake_db.store.holders[room.room_id] == {"host", "nomail"}


async def test_rooms_list_in_pages_with_filters(rooms: RoomService) -> None:
    made: list[Room] = []
    for day in range(1, 6):
        made.append((await rooms.create_room(HOST, _create(starts=NOW + timedelta(days=day)))).room)
    await rooms.book_room(GUEST, made[1].room_id)
    seen, token = [], ""
    while True:
        page = await rooms.list_rooms(GUEST, ListRooms(RoomQuery(open_only=True), 2, token))
        seen += [r.room.room_id for r in page.rooms]
        token = page.next_page_token
        if not token:
            break
    assert seen == [r.room_id for r in made if r.room_id != made[1].room_id]
    with pytest.raises(errors.InvalidArgument):
        await rooms.list_rooms(GUEST, ListRooms(RoomQuery(open_only=False), 2, token or "x"))
