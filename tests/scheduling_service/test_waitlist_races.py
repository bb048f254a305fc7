"""The waitlist where replicas race, with real server processes on one PostgreSQL: a
hold only its holder gets past, a line that never grows past its limit nor loses its
hold, and a hold that lapses to the next in line, then opens the room (design §16)."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Iterator

import grpc
import psycopg
import pytest
from grpc import aio
from scheduling.v1 import scheduling_pb2 as pb
from scheduling.v1 import scheduling_pb2_grpc as pb_grpc

from tests import postgres
from tests.processes import SchedulingProcess
from tests.scheduling_service.client import auth, create_request, failure, new_user
from tests.scheduling_service.watching import watching_room

pytestmark = pytest.mark.slow  # starts PostgreSQL and server processes

Stub = pb_grpc.SchedulingServiceStub
# Short enough to watch lapse, long enough for a test's few calls in between.
HOLD_S = 3


@pytest.fixture
async def stubs(server: SchedulingProcess, second_server: SchedulingProcess) -> AsyncIterator:
    async with (
        aio.insecure_channel(server.address) as a,
        aio.insecure_channel(second_server.address) as b,
    ):
        yield Stub(a), Stub(b)


@pytest.fixture(scope="module")
def short_holds(
    postgres_server: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, SchedulingProcess, SchedulingProcess]]:
    """Two replicas with short holds, on a database of their own: every replica of a
    deployment passes on due holds, and the session's (15 min) would take them too."""
    env = {"WAITLIST_HOLD": f"{HOLD_S}s", "RELAY_POLL_S": "0.2"}
    logs = tmp_path_factory.mktemp("short-holds")
    with postgres.migrated_database(postgres_server) as url:
        a = SchedulingProcess(url, logs, **env).start()
        b = SchedulingProcess(url, logs, **env).start()
        yield url, a, b
        assert (a.stop(), b.stop()) == (0, 0), a.log() + b.log()


@pytest.fixture
async def short_hold_stubs(short_holds) -> AsyncIterator:
    _, a, b = short_holds
    async with aio.insecure_channel(a.address) as x, aio.insecure_channel(b.address) as y:
        yield Stub(x), Stub(y)


@pytest.fixture
def short_hold_db(short_holds) -> Iterator[psycopg.Connection]:
    with psycopg.connect(postgres.libpq_url(short_holds[0]), autocommit=True) as conn:
        yield conn


async def _outcome(call: object) -> str:
    try:
        await call  # type: ignore[misc]
        return "OK"
    except grpc.RpcError as error:
        return failure(error).reason


async def _booked(stub: Stub) -> tuple[pb.Room, str, str]:
    host, guest = new_user("host"), new_user("guest")
    room = await stub.CreateRoom(create_request(), metadata=auth(host))
    await stub.BookRoom(pb.BookRoomRequest(room_id=room.room_id), metadata=auth(guest))
    return room, host, guest


def _book(stub: Stub, room: pb.Room, user: str) -> object:
    return stub.BookRoom(pb.BookRoomRequest(room_id=room.room_id), metadata=auth(user))


def _join(stub: Stub, room: pb.Room, user: str) -> object:
    return stub.JoinWaitlist(pb.JoinWaitlistRequest(room_id=room.room_id), metadata=auth(user))


def _line(db: psycopg.Connection, room: pb.Room) -> list[tuple[str, bool]]:
    rows = db.execute(
        "SELECT user_id, hold_until IS NOT NULL FROM room_waitlist WHERE room_id = %s"
        " ORDER BY place",
        [room.room_id],
    ).fetchall()
    return [(user, held) for user, held in rows]


async def _register(stub: Stub, users: list[str]) -> None:
    """So that a race is about the room alone, not the first sight of a user."""
    await asyncio.gather(
        *(stub.ListRooms(pb.ListRoomsRequest(page_size=1), metadata=auth(u)) for u in users)
    )


async def test_during_a_hold_only_the_holder_books_on_any_replica(stubs, db) -> None:
    a, b = stubs
    room, _, guest = await _booked(a)
    holder = new_user("holder")
    await _join(b, room, holder)
    await a.LeaveRoom(pb.LeaveRoomRequest(room_id=room.room_id), metadata=auth(guest))
    others = [new_user("booker") for _ in range(20)]
    await _register(a, others)

    # Everyone else, at once, on both replicas: the hold refuses them all.
    tried = [_book(a if i % 2 else b, room, u) for i, u in enumerate(others)]
    assert Counter(await asyncio.gather(*map(_outcome, tried))) == {"ROOM_HELD": 20}
    # The holder among them: the holder wins; the rest meet the hold or the booking.
    tried = [_book(a if i % 2 else b, room, u) for i, u in enumerate(others)]
    tried.insert(10, _book(b, room, holder))
    outcomes = await asyncio.gather(*map(_outcome, tried))
    assert outcomes[10] == "OK" and outcomes.count("OK") == 1
    assert set(outcomes[:10] + outcomes[11:]) <= {"ROOM_HELD", "ROOM_ALREADY_BOOKED"}
    stored = await a.GetRoom(pb.GetRoomRequest(room_id=room.room_id), metadata=auth(holder))
    assert stored.guest_id == holder and _line(db, room) == []


async def test_racing_joins_never_pass_the_limit(stubs, db) -> None:
    a, b = stubs
    room, _, _ = await _booked(a)
    waiters = [new_user("waiter") for _ in range(30)]
    await _register(a, waiters)
    joins = [_join(a if i % 2 else b, room, u) for i, u in enumerate(waiters)]
    outcomes = Counter(await asyncio.gather(*map(_outcome, joins)))
    assert outcomes == {"OK": 20, "WAITLIST_FULL": 10}  # WAITLIST_MAX's default
    assert len(_line(db, room)) == 20


async def test_a_leave_racing_joins_always_leaves_the_line_held(stubs, db) -> None:
    """The guest's leave and the joins are guarded by the room's version: the hold goes
    to whoever is first in the line the leave commits over, never to nobody."""
    a, b = stubs
    for _ in range(3):
        room, _, guest = await _booked(a)
        waiters = [new_user("waiter") for _ in range(8)]
        await _register(b, waiters)
        calls = [_join(a if i % 2 else b, room, u) for i, u in enumerate(waiters)]
        calls.insert(
            4, a.LeaveRoom(pb.LeaveRoomRequest(room_id=room.room_id), metadata=auth(guest))
        )
        outcomes = await asyncio.gather(*map(_outcome, calls))
        assert outcomes[4] == "OK"
        line = _line(db, room)
        joined = [u for u, outcome in zip(waiters, outcomes[:4] + outcomes[5:], strict=True)]
        assert {u for u, _ in line} <= set(joined)
        # Joins that came after the leave are refused when nobody held the room then.
        assert all(o in ("OK", "ROOM_NOT_BOOKED") for o in outcomes)
        if line:
            assert [held for _, held in line] == [True] + [False] * (len(line) - 1)


async def test_a_hold_lapses_to_the_next_in_line_then_the_room_opens(
    short_hold_stubs, short_hold_db
) -> None:
    db = short_hold_db
    a, b = short_hold_stubs
    room, _, guest = await _booked(a)
    ann, bob, carol = new_user("ann"), new_user("bob"), new_user("carol")
    await _join(a, room, ann)
    await _join(b, room, bob)

    async with watching_room(b, carol, room) as changes:
        await a.LeaveRoom(pb.LeaveRoomRequest(room_id=room.room_id), metadata=auth(guest))
        left, lapsed, opened = (await changes.at_least(3))[:3]  # by whichever replica
    assert pb.RoomEvent.Type.Name(left.type) == "TYPE_LEFT"
    assert (left.room.waitlist.length, lapsed.room.waitlist.length) == (2, 1)
    first_end = left.room.waitlist.hold_until.ToDatetime()
    second_end = lapsed.room.waitlist.hold_until.ToDatetime()
    assert (second_end - first_end).total_seconds() >= HOLD_S
    assert opened.room.waitlist.length == 0 and not opened.room.waitlist.HasField("hold_until")

    # Each lapse was written once, whichever replica came first: 2 joins, 2 lapses.
    kinds = db.execute(
        "SELECT change, count(*) FROM room_events WHERE room_id = %s GROUP BY change",
        [room.room_id],
    ).fetchall()
    assert dict(kinds)["WAITLIST"] == 4
    assert _line(db, room) == []
    assert await _outcome(_book(a, room, carol)) == "OK"  # open to all


async def test_a_lapsed_holder_is_out_of_line_while_the_next_holds_it(short_hold_stubs) -> None:
    a, b = short_hold_stubs
    room, _, guest = await _booked(a)
    ann, bob = new_user("ann"), new_user("bob")
    await _join(a, room, ann)
    await _join(a, room, bob)
    async with watching_room(b, bob, room) as changes:
        await a.LeaveRoom(pb.LeaveRoomRequest(room_id=room.room_id), metadata=auth(guest))
        await changes.at_least(2)  # the leave, then ann's hold passed on
    seen_by_bob = await b.GetRoom(pb.GetRoomRequest(room_id=room.room_id), metadata=auth(bob))
    assert seen_by_bob.waitlist.hold_is_yours and seen_by_bob.waitlist.your_position == 1
    seen_by_ann = await b.GetRoom(pb.GetRoomRequest(room_id=room.room_id), metadata=auth(ann))
    assert seen_by_ann.waitlist.your_position == 0
    assert await _outcome(_book(b, room, ann)) == "ROOM_HELD"
    assert await _outcome(_book(a, room, bob)) == "OK"
