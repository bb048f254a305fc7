"""Races decided by PostgreSQL: concurrent bookers, and overlaps across two replicas."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import grpc
import pytest
from grpc import aio
from scheduling.v1 import scheduling_pb2 as pb
from scheduling.v1 import scheduling_pb2_grpc as pb_grpc

from tests.scheduling_service.client import auth, create_request, failure, future, new_user, ts

pytestmark = pytest.mark.slow  # starts PostgreSQL and two server processes

OVERLAPPING_PAIRS = """
    WITH p AS (
        SELECT room_id, host_id AS user_id, starts, ends FROM rooms
        UNION ALL
        SELECT room_id, guest_id, starts, ends FROM rooms WHERE guest_id IS NOT NULL
    )
    SELECT count(*) FROM p a JOIN p b
      ON a.user_id = b.user_id AND a.room_id < b.room_id
     AND tstzrange(a.starts, a.ends) && tstzrange(b.starts, b.ends)
"""


async def _outcome(call) -> str:
    try:
        await call
        return "OK"
    except grpc.RpcError as error:
        return failure(error).reason


async def test_fifty_concurrent_bookers_one_winner(stub) -> None:
    host = new_user("host")
    room = await stub.CreateRoom(create_request(), metadata=auth(host))
    bookers = [new_user("booker") for _ in range(50)]
    # Register every booker first so that the race is about the room alone.
    await asyncio.gather(
        *(stub.ListRooms(pb.ListRoomsRequest(page_size=1), metadata=auth(b)) for b in bookers)
    )

    calls = [
        stub.BookRoom(pb.BookRoomRequest(room_id=room.room_id), metadata=auth(b)) for b in bookers
    ]
    results = await asyncio.gather(*(_outcome(c) for c in calls))

    assert results.count("OK") == 1
    assert results.count("ROOM_ALREADY_BOOKED") == 49
    winner = bookers[results.index("OK")]
    stored = await stub.GetRoom(pb.GetRoomRequest(room_id=room.room_id), metadata=auth(host))
    assert stored.guest_id == winner and stored.sequence == 1


async def test_overlaps_across_two_replicas(server, second_server, db) -> None:
    async with (
        aio.insecure_channel(server.address) as a,
        aio.insecure_channel(second_server.address) as b,
    ):
        stubs = [pb_grpc.SchedulingServiceStub(a), pb_grpc.SchedulingServiceStub(b)]

        # One host creating eight rooms over the same hour through both replicas.
        host = new_user("host")
        starts = future()
        creates = [
            stubs[i % 2].CreateRoom(
                create_request(starts + timedelta(minutes=5 * i)), metadata=auth(host)
            )
            for i in range(8)
        ]
        results = await asyncio.gather(*(_outcome(c) for c in creates))
        assert results.count("OK") == 1, results
        assert results.count("SCHEDULE_CONFLICT") == 7, results

        # One guest booking eight overlapping rooms of different hosts.
        guest = new_user("guest")
        starts = future()
        rooms = [
            await stubs[0].CreateRoom(
                create_request(starts + timedelta(minutes=7 * i)), metadata=auth(new_user())
            )
            for i in range(8)
        ]
        books = [
            stubs[i % 2].BookRoom(pb.BookRoomRequest(room_id=r.room_id), metadata=auth(guest))
            for i, r in enumerate(rooms)
        ]
        results = await asyncio.gather(*(_outcome(c) for c in books))
        assert results.count("OK") == 1, results
        assert results.count("SCHEDULE_CONFLICT") == 7, results

        # One host moving two rooms onto overlapping times at once, ten times over.
        host = new_user("mover")
        for _ in range(10):
            first = await stubs[0].CreateRoom(create_request(), metadata=auth(host))
            second = await stubs[1].CreateRoom(create_request(), metadata=auth(host))
            target = future()
            moves = [
                stubs[0].RescheduleRoom(
                    pb.RescheduleRoomRequest(room_id=first.room_id, start_time=ts(target)),
                    metadata=auth(host),
                ),
                stubs[1].RescheduleRoom(
                    pb.RescheduleRoomRequest(
                        room_id=second.room_id, start_time=ts(target + timedelta(minutes=30))
                    ),
                    metadata=auth(host),
                ),
            ]
            results = await asyncio.gather(*(_outcome(c) for c in moves))
            assert sorted(results) == ["OK", "SCHEDULE_CONFLICT"], results

        # Back to back through both replicas at once: both fine.
        host = new_user("back-to-back")
        starts = future()
        pair = [
            stubs[0].CreateRoom(create_request(starts), metadata=auth(host)),
            stubs[1].CreateRoom(create_request(starts + timedelta(hours=1)), metadata=auth(host)),
        ]
        assert await asyncio.gather(*(_outcome(c) for c in pair)) == ["OK", "OK"]

    assert db.execute(OVERLAPPING_PAIRS).fetchone() == (0,)


async def test_concurrent_repeats_of_one_request_id_create_one_room(
    server, second_server, db
) -> None:
    host = new_user()
    request = create_request(request_id="5b0e4f4e-1f64-4f57-9a43-3c4c6a9d2d11")
    async with (
        aio.insecure_channel(server.address) as a,
        aio.insecure_channel(second_server.address) as b,
    ):
        stubs = [pb_grpc.SchedulingServiceStub(a), pb_grpc.SchedulingServiceStub(b)]
        rooms = await asyncio.gather(
            *(stubs[i % 2].CreateRoom(request, metadata=auth(host)) for i in range(10))
        )
    assert len({r.room_id for r in rooms}) == 1
    assert db.execute("SELECT count(*) FROM rooms WHERE host_id = %s", [host]).fetchone() == (1,)
