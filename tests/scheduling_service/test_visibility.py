"""Who sees what (docs/design.md §8), through a real server: host, guest, stranger and trusted
backend, each against GetRoom, ListRooms, WatchRooms (snapshot and live), on an open and a booked
room; and one's schedule is one's own."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import grpc
import pytest
from scheduling.v1 import scheduling_pb2 as pb

from tests.scheduling_service.client import (
    auth,
    create_request,
    failure,
    future,
    new_user,
    trusted,
    ts,
)

pytestmark = pytest.mark.slow  # starts PostgreSQL and a server process

T = pb.RoomEvent


def _what(room: pb.Room) -> tuple[str, str, bool]:
    """What the matrix compares: the guest, the description, the booked flag."""
    return room.guest_id, room.description, room.booked


async def _watched(stub, metadata, request: pb.WatchRoomsRequest, room_ids: set[str]):
    """The rooms of `room_ids` as one watch stream shows them, up to SYNCED (a snapshot)
    or until each has been seen (a resume)."""
    found: dict[str, pb.Room] = {}
    call = stub.WatchRooms(request, metadata=metadata)
    try:
        async with asyncio.timeout(20):
            async for event in call:
                if event.room.room_id in room_ids:
                    found[event.room.room_id] = event.room
                if event.type == T.TYPE_SYNCED or (
                    request.since_revision and set(found) == room_ids
                ):
                    return found
    finally:
        call.cancel()
    raise AssertionError("the stream ended early")


async def test_the_visibility_matrix(stub) -> None:
    host, guest, stranger = new_user("host"), new_user("guest"), new_user("stranger")
    base = future(days=300)
    open_room = await stub.CreateRoom(
        create_request(base, description="Open notes"), metadata=auth(host)
    )
    booked = await stub.CreateRoom(
        create_request(base + timedelta(hours=3), description="Private notes"),
        metadata=auth(host),
    )
    before_booking = booked.revision
    await stub.BookRoom(pb.BookRoomRequest(room_id=booked.room_id), metadata=auth(guest))
    ids = {open_room.room_id, booked.room_id}

    everyone_sees_the_open_room = ("", "Open notes", False)
    full = (guest, "Private notes", True)
    only_that_it_is_booked = ("", "", True)
    viewers = {
        "host": (auth(host), full),
        "guest": (auth(guest), full),
        "stranger": (auth(stranger), only_that_it_is_booked),
        "trusted backend": (trusted(), full),
    }
    for name, (metadata, booked_view) in viewers.items():
        expected = {open_room.room_id: everyone_sees_the_open_room, booked.room_id: booked_view}

        got = {}
        for room_id in ids:
            room = await stub.GetRoom(pb.GetRoomRequest(room_id=room_id), metadata=metadata)
            got[room_id] = _what(room)
        assert got == expected, ("GetRoom", name)

        page = await stub.ListRooms(
            pb.ListRoomsRequest(start_after=ts(base), start_before=ts(base + timedelta(hours=4))),
            metadata=metadata,
        )
        assert {r.room_id: _what(r) for r in page.rooms} == expected, ("ListRooms", name)

        snapshot = await _watched(stub, metadata, pb.WatchRoomsRequest(), ids)
        assert {k: _what(r) for k, r in snapshot.items()} == expected, ("snapshot", name)

        live = await _watched(
            stub, metadata, pb.WatchRoomsRequest(since_revision=before_booking), {booked.room_id}
        )
        assert _what(live[booked.room_id]) == booked_view, ("live", name)


async def test_a_booked_room_leaves_the_open_marketplace_for_everyone(stub) -> None:
    host, guest, stranger = new_user("host"), new_user("guest"), new_user("stranger")
    base = future(days=300)
    room = await stub.CreateRoom(create_request(base), metadata=auth(host))
    window = {"start_after": ts(base), "start_before": ts(base + timedelta(minutes=1))}
    listed = await stub.ListRooms(
        pb.ListRoomsRequest(open_only=True, **window), metadata=auth(stranger)
    )
    assert [r.room_id for r in listed.rooms] == [room.room_id]
    await stub.BookRoom(pb.BookRoomRequest(room_id=room.room_id), metadata=auth(guest))
    listed = await stub.ListRooms(
        pb.ListRoomsRequest(open_only=True, **window), metadata=auth(stranger)
    )
    assert listed.rooms == []


@pytest.mark.parametrize("rpc", ["ListRooms", "WatchRooms"])
async def test_someone_elses_schedule_needs_the_trusted_scope(stub, rpc: str) -> None:
    me, someone = new_user("me"), new_user("someone")

    async def ask(metadata, participant: str) -> None:
        if rpc == "ListRooms":
            await stub.ListRooms(pb.ListRoomsRequest(participant_id=participant), metadata=metadata)
            return
        call = stub.WatchRooms(pb.WatchRoomsRequest(participant_id=participant), metadata=metadata)
        try:
            first = await call.read()
            assert first.type == T.TYPE_SYNCED  # neither has rooms: an empty snapshot
        finally:
            call.cancel()

    with pytest.raises(grpc.RpcError) as raised:
        await ask(auth(me), someone)
    refused = failure(raised.value)
    assert (refused.code, refused.reason) == (
        grpc.StatusCode.PERMISSION_DENIED,
        "NOT_OWN_SCHEDULE",
    )
    await ask(auth(me), me)
    await ask(trusted(), someone)
