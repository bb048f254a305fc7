"""The waitlist use cases against the in-memory fakes: join and leave, the hold a guest's
leave gives, its lapse, a cancel, and what each leaves in the outbox and the change log.
In-process, no database, no server (the races between replicas: test_waitlist_races.py)."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from scheduling_service.domain import errors
from scheduling_service.domain.changes import Change
from scheduling_service.domain.outbox import State
from scheduling_service.domain.users import User
from scheduling_service.domain.waitlist import Waitlist
from scheduling_service.domain.waitlist_changes import NoticeKind
from scheduling_service.service_layer.rooms import CreateRoom, Reschedule, RoomService
from scheduling_service.service_layer.waitlist import HoldKeeper, WaitlistService
from tests.scheduling_service.service_layer.fakes import FakeClock, FakeDatabase, Store, person

NOW = datetime(2030, 1, 1, 12, tzinfo=UTC)
HOLD = timedelta(minutes=15)
HOST, GUEST = person("host"), person("guest")
ANN, BOB, CAT = person("ann"), person("bob"), person("cat")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(NOW)


@pytest.fixture
def fake_db() -> FakeDatabase:
    return FakeDatabase()


@pytest.fixture
def rooms(fake_db: FakeDatabase, clock: FakeClock) -> RoomService:
    return RoomService(fake_db, uid_domain="example.test", waitlist_hold=HOLD, clock=clock)


@pytest.fixture
def waitlist(fake_db: FakeDatabase, clock: FakeClock) -> WaitlistService:
    return WaitlistService(fake_db, hold=HOLD, max_waiting=3, clock=clock)


def _notices(store: Store) -> list[tuple[NoticeKind, str, State]]:
    return [
        (m.notice.kind, m.recipient.user_id, m.state) for m in store.outbox if m.notice is not None
    ]


def _changes(store: Store) -> list[Change]:
    return [entry.change for _, entry in store.events]


async def test_joining_and_leaving_a_booked_rooms_line(
    rooms: RoomService, waitlist: WaitlistService, fake_db: FakeDatabase
) -> None:
    room_id = (await rooms.create_room(HOST, _create())).room.room_id
    with pytest.raises(errors.RoomNotBooked):
        await waitlist.join(ANN, room_id)
    await rooms.book_room(GUEST, room_id)
    with pytest.raises(errors.AlreadyParticipant):
        await waitlist.join(HOST, room_id)
    first = await waitlist.join(ANN, room_id)
    assert first.waitlist is not None and first.waitlist.your_position == 1
    again = await waitlist.join(ANN, room_id)
    assert again.room.revision == first.room.revision  # nothing written twice
    second = await waitlist.join(BOB, room_id)
    assert second.waitlist is not None and (
        second.waitlist.length,
        second.waitlist.your_position,
    ) == (2, 2)
    assert fake_db.store.waitlists[room_id] == Waitlist(("ann", "bob"))
    assert _changes(fake_db.store)[-2:] == [Change.WAITLIST, Change.WAITLIST]
    left = await waitlist.leave(ANN, room_id)
    assert (
        left.waitlist is not None and left.waitlist.your_position == 0 and left.waitlist.length == 1
    )
    await waitlist.leave(ANN, room_id)  # not waiting any more: fine
    assert fake_db.store.waitlists[room_id] == Waitlist(("bob",))
    assert _notices(fake_db.store) == []  # joins and leaves mail nobody


async def test_the_line_is_full_at_its_limit(rooms: RoomService, waitlist: WaitlistService) -> None:
    room_id = (await rooms.create_room(HOST, _create())).room.room_id
    await rooms.book_room(GUEST, room_id)
    for user in (ANN, BOB, CAT):
        await waitlist.join(user, room_id)
    with pytest.raises(errors.WaitlistFull):
        await waitlist.join(person("dan"), room_id)


async def test_a_guests_leave_offers_the_room_to_the_first_in_line_who_alone_may_book_it(
    rooms: RoomService, waitlist: WaitlistService, fake_db: FakeDatabase
) -> None:
    room_id = (await rooms.create_room(HOST, _create())).room.room_id
    await rooms.book_room(GUEST, room_id)
    await waitlist.join(ANN, room_id)
    await waitlist.join(BOB, room_id)
    left = await rooms.leave_room(GUEST, room_id)
    assert left.room.waitlist == Waitlist(("ann", "bob"), NOW + HOLD)  # in the leave's commit
    assert _notices(fake_db.store) == [(NoticeKind.OFFER, "ann", State.PENDING)]
    with pytest.raises(errors.RoomHeld):
        await rooms.book_room(CAT, room_id)
    with pytest.raises(errors.RoomHeld):
        await rooms.book_room(BOB, room_id)
    seen_by_ann = await rooms.get_room(ANN, room_id)
    assert seen_by_ann.waitlist is not None and seen_by_ann.waitlist.hold_is_yours
    booked = await rooms.book_room(ANN, room_id)
    assert booked.room.guest_id == "ann"
    assert fake_db.store.waitlists[room_id] == Waitlist(("bob",))  # ann left the line


async def test_a_lapsed_hold_passes_on_then_the_room_opens_to_all(
    rooms: RoomService, waitlist: WaitlistService, fake_db: FakeDatabase, clock: FakeClock
) -> None:
    room_id = await _released(rooms, waitlist, ANN, BOB)
    assert await waitlist.pass_on_due() == 0  # not due yet
    clock.now = NOW + HOLD
    assert await waitlist.next_due() == NOW + HOLD
    assert await waitlist.pass_on_due() == 1
    assert fake_db.store.waitlists[room_id] == Waitlist(("bob",), NOW + 2 * HOLD)
    assert [(kind, who) for kind, who, _ in _notices(fake_db.store)] == [
        (NoticeKind.OFFER, "ann"),
        (NoticeKind.OFFER, "bob"),
    ]
    with pytest.raises(errors.RoomHeld):
        await rooms.book_room(ANN, room_id)  # ann's turn is over
    clock.now = NOW + 2 * HOLD
    assert await waitlist.pass_on_due() == 1
    assert room_id not in fake_db.store.waitlists and await waitlist.next_due() is None
    assert (await rooms.book_room(CAT, room_id)).room.guest_id == "cat"
    assert _changes(fake_db.store).count(Change.WAITLIST) == 4  # 2 joins, 2 lapses


async def test_an_unsent_offer_is_superseded_when_its_hold_lapses(
    rooms: RoomService, waitlist: WaitlistService, fake_db: FakeDatabase, clock: FakeClock
) -> None:
    await _released(rooms, waitlist, ANN, BOB)
    clock.now = NOW + HOLD
    await waitlist.pass_on_due()
    assert _notices(fake_db.store) == [
        (NoticeKind.OFFER, "ann", State.SUPERSEDED),  # never claimed: no stale offer goes
        (NoticeKind.OFFER, "bob", State.PENDING),
    ]


async def test_a_holder_giving_up_passes_the_hold_on_at_once(
    rooms: RoomService, waitlist: WaitlistService, fake_db: FakeDatabase
) -> None:
    room_id = await _released(rooms, waitlist, ANN, BOB)
    await waitlist.leave(ANN, room_id)
    assert fake_db.store.waitlists[room_id] == Waitlist(("bob",), NOW + HOLD)
    assert (await rooms.book_room(BOB, room_id)).room.guest_id == "bob"


async def test_a_cancel_tells_everyone_waiting(
    rooms: RoomService, waitlist: WaitlistService, fake_db: FakeDatabase
) -> None:
    room_id = (await rooms.create_room(HOST, _create())).room.room_id
    await rooms.book_room(GUEST, room_id)
    for user in (ANN, BOB):
        await waitlist.join(user, room_id)
    await waitlist.join(person("nomail", email=False), room_id)
    await rooms.cancel_room(HOST, room_id, reason="", etag="")
    assert _notices(fake_db.store) == [
        (NoticeKind.CANCELLED, "ann", State.PENDING),
        (NoticeKind.CANCELLED, "bob", State.PENDING),
        (NoticeKind.CANCELLED, "nomail", State.SKIPPED),
    ]
    assert room_id not in fake_db.store.waitlists


async def test_a_reschedule_offers_the_holder_the_new_time(
    rooms: RoomService, waitlist: WaitlistService, fake_db: FakeDatabase, clock: FakeClock
) -> None:
    room_id = await _released(rooms, waitlist, ANN)
    clock.now = NOW + timedelta(minutes=10)
    moved = await rooms.reschedule_room(HOST, _reschedule(room_id, NOW + timedelta(days=2)))
    assert moved.room.waitlist == Waitlist(("ann",), clock.now + HOLD)
    assert _notices(fake_db.store) == [
        (NoticeKind.OFFER, "ann", State.SUPERSEDED),
        (NoticeKind.OFFER, "ann", State.PENDING),
    ]


async def test_a_leave_decided_before_a_join_committed_is_decided_again(
    rooms: RoomService, waitlist: WaitlistService, fake_db: FakeDatabase
) -> None:
    """The guard is the room's version, which the join's change-log write moved: the
    leave sees the line it writes over, and the newcomer gets the hold."""
    room_id = (await rooms.create_room(HOST, _create())).room.room_id
    await rooms.book_room(GUEST, room_id)
    await rooms.register(ANN)
    store = fake_db.store
    joined: list[object] = []

    def ann_joins_first() -> None:
        # Another replica's join, committing between the leave's read and its commit.
        joined.append(True)
        room = store.rooms[room_id]
        store.waitlists[room_id] = Waitlist(("ann",))
        store.rooms[room_id] = replace(room, revision=room.revision + 1)

    store.before_commit = ann_joins_first
    left = await rooms.leave_room(GUEST, room_id)
    assert joined and left.room.waitlist == Waitlist(("ann",), NOW + HOLD)
    assert _notices(store) == [(NoticeKind.OFFER, "ann", State.PENDING)]


async def test_the_hold_keeper_passes_on_what_is_due_and_stops(
    rooms: RoomService, waitlist: WaitlistService, fake_db: FakeDatabase, clock: FakeClock
) -> None:
    room_id = await _released(rooms, waitlist, ANN)
    clock.now = NOW + HOLD
    passed_on = asyncio.Event()
    look = waitlist.pass_on_due

    async def look_and_tell() -> int:
        moved = await look()
        if moved:
            passed_on.set()
        return moved

    waitlist.pass_on_due = look_and_tell  # type: ignore[method-assign]
    keeper = HoldKeeper(waitlist, poll_s=60, clock=clock)
    running = asyncio.create_task(keeper.run())
    async with asyncio.timeout(5):
        await passed_on.wait()
    keeper.stop()
    async with asyncio.timeout(5):
        await running  # it sleeps until the stop, not the minute of its poll
    assert room_id not in fake_db.store.waitlists


async def _released(rooms: RoomService, waitlist: WaitlistService, *waiting: User) -> uuid.UUID:
    """A booked room with `waiting` in line, just left by its guest: the first holds it."""
    room_id = (await rooms.create_room(HOST, _create())).room.room_id
    await rooms.book_room(GUEST, room_id)
    for user in waiting:
        await waitlist.join(user, room_id)
    await rooms.leave_room(GUEST, room_id)
    return room_id


def _create() -> CreateRoom:
    return CreateRoom("Mock", "notes", NOW + timedelta(days=1), timedelta(hours=1), "Arrays", None)


def _reschedule(room_id: uuid.UUID, starts: datetime) -> Reschedule:
    return Reschedule(room_id=room_id, starts=starts, length=None, etag="")


async def test_a_hold_that_cannot_be_passed_on_keeps_no_other_behind_it(
    rooms: RoomService, waitlist: WaitlistService, fake_db: FakeDatabase, clock: FakeClock
) -> None:
    rooms_held = []
    for start in (1, 2):
        create = replace(_create(), starts=NOW + timedelta(days=start))
        room_id = (await rooms.create_room(HOST, create)).room.room_id
        await rooms.book_room(GUEST, room_id)
        await waitlist.join(ANN, room_id)
        await waitlist.join(BOB, room_id)
        await rooms.leave_room(GUEST, room_id)
        rooms_held.append(room_id)
    clock.now = NOW + HOLD
    stuck = rooms_held[0]
    read = fake_db.store.rooms.__getitem__

    def failing(room_id: uuid.UUID) -> object:
        if room_id == stuck:
            raise errors.Unavailable("the room kept changing")
        return read(room_id)

    fake_db.store.rooms = _Failing(fake_db.store.rooms, failing)
    assert await waitlist.pass_on_due() == 1
    assert waitlist.failed_last_round
    assert fake_db.store.waitlists[rooms_held[1]] == Waitlist(("bob",), NOW + 2 * HOLD)


class _Failing(dict):  # type: ignore[type-arg]
    """The store's rooms, one of which cannot be read (a database error on it)."""

    def __init__(self, rooms: dict, read: object) -> None:  # type: ignore[type-arg]
        super().__init__(rooms)
        self._read = read

    def __getitem__(self, key: object) -> object:
        return self._read(key)  # type: ignore[operator]

    def get(self, key: object, default: object = None) -> object:  # type: ignore[override]
        return self._read(key) if key in self else default
