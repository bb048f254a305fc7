"""The room RPCs over a real channel to a running server on real PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import timedelta

import grpc
import pytest
from scheduling.v1 import scheduling_pb2 as pb

from tests.scheduling_service.client import (
    auth,
    create_request,
    failure,
    future,
    minutes,
    new_user,
    token,
    trusted,
    ts,
)

pytestmark = pytest.mark.slow  # starts PostgreSQL and a server process


async def test_create_book_reschedule_cancel(stub, db) -> None:
    host, guest = new_user("host"), new_user("guest")
    starts = future()

    room = await stub.CreateRoom(create_request(starts), metadata=auth(host, email="h@example.com"))
    assert room.host_id == host and room.guest_id == ""
    assert room.start_time.ToDatetime().replace(tzinfo=starts.tzinfo) == starts
    assert room.end_time.seconds - room.start_time.seconds == 3600
    assert room.ics_uid == f"{room.room_id}@rooms.localhost"
    assert room.sequence == 0 and room.revision > 0 and room.etag
    assert [(r.number, r.topic) for r in room.rounds] == [(1, "Warm-up")]
    assert await stub.GetRoom(pb.GetRoomRequest(room_id=room.room_id), metadata=auth(guest)) == room

    booked = await stub.BookRoom(pb.BookRoomRequest(room_id=room.room_id), metadata=auth(guest))
    assert booked.guest_id == guest
    assert booked.sequence == 1 and booked.revision > room.revision
    assert booked.ics_uid == room.ics_uid

    later = starts + timedelta(days=1)
    moved = await stub.RescheduleRoom(
        pb.RescheduleRoomRequest(
            room_id=room.room_id, start_time=ts(later), duration=minutes(90), etag=booked.etag
        ),
        metadata=auth(host),
    )
    assert moved.start_time == ts(later) and moved.end_time == ts(later + timedelta(minutes=90))
    assert moved.sequence == 2 and moved.ics_uid == room.ics_uid and moved.guest_id == guest
    assert moved.update_time.ToDatetime() >= booked.update_time.ToDatetime()

    await stub.CancelRoom(
        pb.CancelRoomRequest(room_id=room.room_id, reason="ill"), metadata=auth(host)
    )
    with pytest.raises(grpc.RpcError) as gone:
        await stub.GetRoom(pb.GetRoomRequest(room_id=room.room_id), metadata=auth(host))
    assert (failure(gone.value).code, failure(gone.value).reason) == (
        grpc.StatusCode.NOT_FOUND,
        "ROOM_NOT_FOUND",
    )
    assert db.execute(
        "SELECT count(*) FROM rounds WHERE room_id = %s", [room.room_id]
    ).fetchone() == (0,)
    changes = db.execute(
        "SELECT change FROM room_events WHERE room_id = %s ORDER BY revision", [room.room_id]
    ).fetchall()
    assert [c for (c,) in changes] == ["CREATED", "BOOKED", "RESCHEDULED", "CANCELLED"]


async def test_leave_reopens_the_room(stub) -> None:
    host, guest, other = new_user(), new_user(), new_user()
    room = await stub.CreateRoom(create_request(), metadata=auth(host))
    await stub.BookRoom(pb.BookRoomRequest(room_id=room.room_id), metadata=auth(guest))

    with pytest.raises(grpc.RpcError) as not_guest:
        await stub.LeaveRoom(pb.LeaveRoomRequest(room_id=room.room_id), metadata=auth(other))
    assert failure(not_guest.value).reason == "NOT_ROOM_GUEST"
    assert failure(not_guest.value).code == grpc.StatusCode.PERMISSION_DENIED

    left = await stub.LeaveRoom(pb.LeaveRoomRequest(room_id=room.room_id), metadata=auth(guest))
    assert left.guest_id == "" and left.sequence == 2
    rebooked = await stub.BookRoom(pb.BookRoomRequest(room_id=room.room_id), metadata=auth(other))
    assert rebooked.guest_id == other and rebooked.sequence == 3


async def test_retried_booking_by_its_winner_succeeds(stub) -> None:
    host, guest = new_user(), new_user()
    room = await stub.CreateRoom(create_request(), metadata=auth(host))
    first = await stub.BookRoom(pb.BookRoomRequest(room_id=room.room_id), metadata=auth(guest))
    again = await stub.BookRoom(pb.BookRoomRequest(room_id=room.room_id), metadata=auth(guest))
    assert again == first


async def _error(call, request, user):
    with pytest.raises(grpc.RpcError) as raised:
        await call(request, metadata=auth(user))
    return failure(raised.value)


async def test_each_error_of_the_contract(stub) -> None:
    host, guest, other = new_user(), new_user(), new_user()
    room = await stub.CreateRoom(create_request(), metadata=auth(host))
    rid = room.room_id
    missing = str(uuid.uuid4())

    cases = [
        (
            stub.BookRoom,
            pb.BookRoomRequest(room_id=rid),
            host,
            grpc.StatusCode.FAILED_PRECONDITION,
            "HOST_CANNOT_BOOK",
        ),
        (
            stub.GetRoom,
            pb.GetRoomRequest(room_id=missing),
            host,
            grpc.StatusCode.NOT_FOUND,
            "ROOM_NOT_FOUND",
        ),
        (
            stub.BookRoom,
            pb.BookRoomRequest(room_id=missing),
            guest,
            grpc.StatusCode.NOT_FOUND,
            "ROOM_NOT_FOUND",
        ),
        (
            stub.GetRoom,
            pb.GetRoomRequest(room_id="not-a-uuid"),
            host,
            grpc.StatusCode.INVALID_ARGUMENT,
            "INVALID_ARGUMENT",
        ),
        (
            stub.RescheduleRoom,
            pb.RescheduleRoomRequest(room_id=rid, start_time=ts(future())),
            other,
            grpc.StatusCode.PERMISSION_DENIED,
            "NOT_ROOM_HOST",
        ),
        (
            stub.CancelRoom,
            pb.CancelRoomRequest(room_id=rid),
            other,
            grpc.StatusCode.PERMISSION_DENIED,
            "NOT_ROOM_HOST",
        ),
        (
            stub.RescheduleRoom,
            pb.RescheduleRoomRequest(room_id=rid, start_time=ts(future()), etag="1"),
            host,
            grpc.StatusCode.ABORTED,
            "ETAG_MISMATCH",
        ),
        (
            stub.CancelRoom,
            pb.CancelRoomRequest(room_id=rid, etag="1"),
            host,
            grpc.StatusCode.ABORTED,
            "ETAG_MISMATCH",
        ),
    ]
    for call, request, user, code, reason in cases:
        seen = await _error(call, request, user)
        assert (seen.code, seen.reason, seen.domain) == (code, reason, "scheduling.v1"), (
            request,
            seen,
        )

    await stub.BookRoom(pb.BookRoomRequest(room_id=rid), metadata=auth(guest))
    seen = await _error(stub.BookRoom, pb.BookRoomRequest(room_id=rid), other)
    assert (seen.code, seen.reason) == (grpc.StatusCode.ALREADY_EXISTS, "ROOM_ALREADY_BOOKED")
    # The failed calls changed nothing.
    after = await stub.GetRoom(pb.GetRoomRequest(room_id=rid), metadata=auth(host))
    assert after.guest_id == guest and after.start_time == room.start_time


async def test_schedule_conflict_for_host_and_guest(stub) -> None:
    host, guest = new_user(), new_user()
    starts = future()
    await stub.CreateRoom(create_request(starts), metadata=auth(host))
    overlap = create_request(starts + timedelta(minutes=30))
    seen = await _error(stub.CreateRoom, overlap, host)
    assert (seen.code, seen.reason) == (grpc.StatusCode.ALREADY_EXISTS, "SCHEDULE_CONFLICT")

    # Back to back is allowed.
    next_room = await stub.CreateRoom(
        create_request(starts + timedelta(minutes=60)), metadata=auth(host)
    )

    # The guest's own session makes booking an overlapping room a conflict.
    await stub.CreateRoom(create_request(starts + timedelta(minutes=90)), metadata=auth(guest))
    seen = await _error(stub.BookRoom, pb.BookRoomRequest(room_id=next_room.room_id), guest)
    assert (seen.code, seen.reason) == (grpc.StatusCode.ALREADY_EXISTS, "SCHEDULE_CONFLICT")
    unchanged = await stub.GetRoom(
        pb.GetRoomRequest(room_id=next_room.room_id), metadata=auth(host)
    )
    assert unchanged.guest_id == "" and unchanged.sequence == 0


async def test_started_room_cannot_be_booked_or_moved(stub, db) -> None:
    host, guest = new_user(), new_user()
    room = await stub.CreateRoom(create_request(), metadata=auth(host))
    # Time travel for one room: move it into the past behind the API's back.
    db.execute(
        "UPDATE rooms SET starts = now() - interval '10 minutes',"
        " ends = now() + interval '50 minutes' WHERE room_id = %s",
        [room.room_id],
    )
    seen = await _error(stub.BookRoom, pb.BookRoomRequest(room_id=room.room_id), guest)
    assert (seen.code, seen.reason) == (grpc.StatusCode.FAILED_PRECONDITION, "ROOM_STARTED")
    seen = await _error(
        stub.RescheduleRoom,
        pb.RescheduleRoomRequest(room_id=room.room_id, start_time=ts(future())),
        host,
    )
    assert (seen.code, seen.reason) == (grpc.StatusCode.FAILED_PRECONDITION, "ROOM_STARTED")


@pytest.mark.parametrize(
    "metadata",
    [
        (),
        (("authorization", "Bearer not-a-jwt"),),
        (("authorization", "Basic dXNlcjpwYXNz"),),
        (("authorization", f"Bearer {token('u1', secret='another-secret-of-at-least-32-bytes')}"),),
        (("authorization", f"Bearer {token('u1', ttl_s=-120)}"),),
    ],
    ids=["none", "garbage", "basic", "wrong-secret", "expired"],
)
async def test_unauthenticated(stub, metadata) -> None:
    with pytest.raises(grpc.RpcError) as raised:
        await stub.ListRooms(pb.ListRoomsRequest(), metadata=metadata)
    seen = failure(raised.value)
    assert (seen.code, seen.reason) == (grpc.StatusCode.UNAUTHENTICATED, "UNAUTHENTICATED")


async def test_request_id_makes_create_idempotent(stub, db) -> None:
    host = new_user()
    request = create_request(request_id=str(uuid.uuid4()))
    first = await stub.CreateRoom(request, metadata=auth(host))
    again = await stub.CreateRoom(request, metadata=auth(host))
    assert again == first
    stored = db.execute("SELECT count(*) FROM rooms WHERE host_id = %s", [host]).fetchone()
    assert stored == (1,)
    # Another caller's identical request_id is theirs alone.
    other = await stub.CreateRoom(
        create_request(request_id=request.request_id), metadata=auth(new_user())
    )
    assert other.room_id != first.room_id


async def test_list_rooms_pages_and_filters(stub) -> None:
    host, guest = new_user(), new_user()
    base = future(days=200)
    made = [
        await stub.CreateRoom(create_request(base + timedelta(hours=2 * i)), metadata=auth(host))
        for i in range(5)
    ]
    await stub.BookRoom(pb.BookRoomRequest(room_id=made[1].room_id), metadata=auth(guest))

    seen, token_ = [], ""
    while True:
        page = await stub.ListRooms(
            pb.ListRoomsRequest(participant_id=host, page_size=2, page_token=token_),
            metadata=auth(host),
        )
        seen += [r.room_id for r in page.rooms]
        token_ = page.next_page_token
        if not token_:
            break
    assert seen == [r.room_id for r in made]

    open_page = await stub.ListRooms(
        pb.ListRoomsRequest(participant_id=host, open_only=True), metadata=auth(host)
    )
    assert [r.room_id for r in open_page.rooms] == [r.room_id for i, r in enumerate(made) if i != 1]
    guest_page = await stub.ListRooms(
        pb.ListRoomsRequest(participant_id=guest), metadata=auth(guest)
    )
    assert [r.room_id for r in guest_page.rooms] == [made[1].room_id]
    window = await stub.ListRooms(
        pb.ListRoomsRequest(
            participant_id=host,
            start_after=ts(base + timedelta(hours=2)),
            start_before=ts(base + timedelta(hours=6)),
        ),
        metadata=trusted(),
    )
    assert [r.room_id for r in window.rooms] == [made[1].room_id, made[2].room_id]

    first = await stub.ListRooms(
        pb.ListRoomsRequest(participant_id=host, page_size=2), metadata=trusted()
    )
    with pytest.raises(grpc.RpcError) as raised:
        await stub.ListRooms(
            pb.ListRoomsRequest(
                participant_id=guest, page_size=2, page_token=first.next_page_token
            ),
            metadata=trusted(),
        )
    seen_error = failure(raised.value)
    assert (seen_error.code, seen_error.fields) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        ["page_token"],
    )


async def test_a_token_without_claims_keeps_the_known_address(stub, db) -> None:
    user = new_user()
    await stub.ListRooms(pb.ListRoomsRequest(), metadata=auth(user, email=f"{user}@example.test"))
    await stub.CreateRoom(create_request(), metadata=auth(user))  # no email claim this time
    await stub.CreateRoom(create_request(), metadata=auth(user, email="not an address"))
    stored = db.execute("SELECT email FROM users WHERE user_id = %s", [user]).fetchone()
    assert stored == (f"{user}@example.test",)
