"""JoinWaitlist and LeaveWaitlist through a real server and PostgreSQL: the error reasons,
who sees what of `Room.waitlist` (GetRoom, ListRooms, the answers, WatchRooms), and
`bookable` leaving out a room held for someone else (design §16)."""

from __future__ import annotations

from datetime import UTC, timedelta

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from scheduling.v1 import scheduling_pb2 as pb
from scheduling.v1 import scheduling_pb2_grpc as pb_grpc

from tests.scheduling_service.client import (
    auth,
    create_request,
    failure,
    new_user,
    trusted,
    ts,
)
from tests.scheduling_service.watching import watching_room

pytestmark = pytest.mark.slow  # starts PostgreSQL and a server process

Stub = pb_grpc.SchedulingServiceStub


async def _booked(stub: Stub) -> tuple[pb.Room, str, str]:
    host, guest = new_user("host"), new_user("guest")
    room = await stub.CreateRoom(create_request(), metadata=auth(host))
    await stub.BookRoom(pb.BookRoomRequest(room_id=room.room_id), metadata=auth(guest))
    return room, host, guest


async def _join(stub: Stub, room: pb.Room, user: str) -> pb.Room:
    return await stub.JoinWaitlist(
        pb.JoinWaitlistRequest(room_id=room.room_id), metadata=auth(user)
    )


async def _get(stub: Stub, room: pb.Room, metadata: tuple[tuple[str, str], ...]) -> pb.Room:
    return await stub.GetRoom(pb.GetRoomRequest(room_id=room.room_id), metadata=metadata)


async def _reason(call: object) -> tuple[grpc.StatusCode, str, str]:
    try:
        await call  # type: ignore[misc]
    except grpc.RpcError as error:
        seen = failure(error)
        return seen.code, seen.reason, seen.message
    return grpc.StatusCode.OK, "", ""


async def test_every_refusal_has_its_reason(stub: Stub) -> None:
    host, stranger = new_user("host"), new_user("stranger")
    open_room = await stub.CreateRoom(create_request(), metadata=auth(host))
    code, reason, _ = await _reason(_join(stub, open_room, stranger))
    assert (code, reason) == (grpc.StatusCode.FAILED_PRECONDITION, "ROOM_NOT_BOOKED")

    room, host, guest = await _booked(stub)
    for participant in (host, guest):
        code, reason, _ = await _reason(_join(stub, room, participant))
        assert (code, reason) == (grpc.StatusCode.FAILED_PRECONDITION, "ALREADY_PARTICIPANT")
    missing = pb.Room(room_id="7a3c2e9a-0000-4000-8000-000000000000")
    code, reason, _ = await _reason(_join(stub, missing, stranger))
    assert (code, reason) == (grpc.StatusCode.NOT_FOUND, "ROOM_NOT_FOUND")
    code, reason, _ = await _reason(
        stub.LeaveWaitlist(pb.LeaveWaitlistRequest(room_id="nope"), metadata=auth(stranger))
    )
    assert (code, reason) == (grpc.StatusCode.INVALID_ARGUMENT, "INVALID_ARGUMENT")


async def test_joining_twice_and_leaving_when_not_waiting_are_fine(stub: Stub) -> None:
    room, _, _ = await _booked(stub)
    ann = new_user("ann")
    first = await _join(stub, room, ann)
    again = await _join(stub, room, ann)
    assert (again.waitlist.length, again.waitlist.your_position) == (1, 1)
    assert again.revision == first.revision  # nothing was written the second time
    left = await stub.LeaveWaitlist(
        pb.LeaveWaitlistRequest(room_id=room.room_id), metadata=auth(ann)
    )
    assert not left.HasField("waitlist")  # nobody waits: no waitlist shown
    again = await stub.LeaveWaitlist(
        pb.LeaveWaitlistRequest(room_id=room.room_id), metadata=auth(ann)
    )
    assert again.revision == left.revision


async def test_the_line_is_full_at_waitlist_max(stub: Stub) -> None:
    room, _, _ = await _booked(stub)
    for _ in range(20):  # WAITLIST_MAX's default
        await _join(stub, room, new_user("waiter"))
    code, reason, _ = await _reason(_join(stub, room, new_user("one-too-many")))
    assert (code, reason) == (grpc.StatusCode.RESOURCE_EXHAUSTED, "WAITLIST_FULL")


async def test_who_sees_what_of_the_waitlist(stub: Stub) -> None:
    room, host, guest = await _booked(stub)
    ann, bob, stranger = new_user("ann"), new_user("bob"), new_user("stranger")
    joined = await _join(stub, room, ann)
    assert (joined.waitlist.length, joined.waitlist.your_position) == (1, 1)
    await _join(stub, room, bob)

    seen = {who: (await _get(stub, room, auth(who))).waitlist for who in (ann, bob, stranger)}
    seen["guest"] = (await _get(stub, room, auth(guest))).waitlist
    seen["trusted"] = (await _get(stub, room, trusted())).waitlist
    assert seen[ann].your_position == 1 and seen[bob].your_position == 2
    for who in (stranger, "guest", "trusted"):
        assert seen[who].your_position == 0
    for waitlist in seen.values():
        assert waitlist.length == 2 and list(waitlist.waiting_user_ids) == []
        assert not waitlist.HasField("hold_until") and not waitlist.hold_is_yours
    hosts = (await _get(stub, room, auth(host))).waitlist
    assert list(hosts.waiting_user_ids) == [ann, bob]  # the host alone sees who waits

    # The guest leaves: the first in line holds the room; everyone sees until when.
    await stub.LeaveRoom(pb.LeaveRoomRequest(room_id=room.room_id), metadata=auth(guest))
    mine = (await _get(stub, room, auth(ann))).waitlist
    theirs = (await _get(stub, room, auth(stranger))).waitlist
    assert mine.hold_is_yours and mine.HasField("hold_until")
    assert not theirs.hold_is_yours and theirs.hold_until == mine.hold_until
    assert theirs.your_position == 0 and list(theirs.waiting_user_ids) == []
    # A page shows the caller's own place too.
    page = await stub.ListRooms(
        pb.ListRoomsRequest(start_after=room.start_time, start_before=_just_after(room)),
        metadata=auth(bob),
    )
    listed = next(r for r in page.rooms if r.room_id == room.room_id)
    assert (listed.waitlist.length, listed.waitlist.your_position) == (2, 2)
    assert not listed.waitlist.hold_is_yours and list(listed.waitlist.waiting_user_ids) == []


async def test_during_a_hold_only_the_holder_books_and_bookable_says_so(stub: Stub) -> None:
    room, _, guest = await _booked(stub)
    ann, bob, stranger = new_user("ann"), new_user("bob"), new_user("stranger")
    await _join(stub, room, ann)
    await _join(stub, room, bob)
    await stub.LeaveRoom(pb.LeaveRoomRequest(room_id=room.room_id), metadata=auth(guest))

    window = {"start_after": room.start_time, "start_before": _just_after(room)}
    for who, expected in ((stranger, []), (bob, []), (ann, [room.room_id])):
        page = await stub.ListRooms(
            pb.ListRoomsRequest(bookable=True, **window), metadata=auth(who)
        )
        assert [r.room_id for r in page.rooms] == expected, who
    for who in (stranger, bob, guest):
        code, reason, message = await _reason(
            stub.BookRoom(pb.BookRoomRequest(room_id=room.room_id), metadata=auth(who))
        )
        assert (code, reason) == (grpc.StatusCode.FAILED_PRECONDITION, "ROOM_HELD")
        assert ann not in message  # never says for whom
    code, reason, _ = await _reason(_join(stub, room, stranger))
    assert code == grpc.StatusCode.OK  # a held room can be waited for
    booked = await stub.BookRoom(pb.BookRoomRequest(room_id=room.room_id), metadata=auth(ann))
    assert booked.guest_id == ann
    assert (booked.waitlist.length, booked.waitlist.your_position) == (2, 0)
    assert not booked.waitlist.HasField("hold_until")


async def test_watchers_see_the_line_move_but_never_who_is_in_it(stub: Stub) -> None:
    room, host, guest = await _booked(stub)
    ann, stranger = new_user("ann"), new_user("stranger")
    async with (
        watching_room(stub, host, room) as hosts,
        watching_room(stub, stranger, room) as others,
    ):
        await _join(stub, room, ann)
        await stub.LeaveRoom(pb.LeaveRoomRequest(room_id=room.room_id), metadata=auth(guest))
        await stub.LeaveWaitlist(pb.LeaveWaitlistRequest(room_id=room.room_id), metadata=auth(ann))
        streams = [await hosts.at_least(3), await others.at_least(3)]
    for events in streams:
        kinds = [pb.RoomEvent.Type.Name(e.type) for e in events[:3]]
        assert kinds == ["TYPE_WAITLIST", "TYPE_LEFT", "TYPE_WAITLIST"]
        joined, left, gave_up = (e.room.waitlist for e in events[:3])
        assert joined.length == 1 and not joined.HasField("hold_until")
        assert left.length == 1 and left.HasField("hold_until")  # the hold began
        assert gave_up.length == 0 and not gave_up.HasField("hold_until")
        for event in events:
            assert list(event.room.waitlist.waiting_user_ids) == []
            assert event.room.waitlist.your_position == 0
            assert ann not in str(event)


def _just_after(room: pb.Room) -> Timestamp:
    return ts(room.start_time.ToDatetime(tzinfo=UTC) + timedelta(seconds=1))
