"""Calendars under faults and attack, end to end: convergence through an outage, 503s
and a killed replica; URLs that point inward refused before any connection."""

from __future__ import annotations

import random
import socket

import grpc
import pytest
from grpc import aio
from scheduling.v1 import scheduling_pb2 as pb
from scheduling.v1 import scheduling_pb2_grpc as pb_grpc

from tests.caldav_servers import Radicale
from tests.calendar_fault_proxy import FaultProxy
from tests.scheduling_service.client import create_request, failure, future, ts
from tests.system.calendar_system import (
    CALENDAR_S,
    Calendar,
    calendar_settings,
    holds,
    radicale_calendar,
    until_async,
)
from tests.system.mail_system import System, client, person

pytestmark = pytest.mark.slow  # starts PostgreSQL, CalDAV servers and service processes


async def test_calendars_converge_through_outages_503s_and_a_killed_replica(
    system: System, radicale: Radicale
) -> None:
    proxy = FaultProxy(radicale.url, seed=7).start()
    try:
        await _random_changes_with_faults(system, radicale, proxy)
    finally:
        proxy.stop()


async def _random_changes_with_faults(
    system: System, radicale: Radicale, proxy: FaultProxy
) -> None:
    system.notification(**calendar_settings())
    # A replica killed mid-write leaves its claims leased: short leases bring them back soon.
    fast_leases = {"RELAY_RPC_TIMEOUT_S": "10", "RELAY_LEASE_S": "15"}
    replicas = [system.scheduling(**fast_leases), system.scheduling(**fast_leases)]
    channels = [aio.insecure_channel(replica.address) for replica in replicas]
    try:
        stubs = [pb_grpc.SchedulingServiceStub(channel) for channel in channels]
        people = [person(f"p{i}") for i in range(4)]
        calendars: dict[str, Calendar] = {}
        for user, metadata in people:
            calendar = radicale_calendar(radicale, discover=False)
            calendar.connect_url = proxy.url + calendar.collection.removeprefix(radicale.url)
            calendars[user] = calendar
            await stubs[0].ConnectCalendar(calendar.request(), metadata=metadata)
        rng = random.Random(11)
        rooms: dict[str, pb.Room] = {}
        for step in range(48):
            if step == 12:
                proxy.down = True  # the calendar server is away for a while
            elif step == 22:
                proxy.down, proxy.unavailable_share = False, 0.3  # back, and overloaded
            elif step == 30:
                # Killed: whatever it had claimed comes back when its lease ends.
                replicas[1].kill()
                await channels[1].close()
                replicas[1] = system.scheduling(**fast_leases)
                channels[1] = aio.insecure_channel(replicas[1].address)
                stubs[1] = pb_grpc.SchedulingServiceStub(channels[1])
            await _one_change(rng.choice(stubs), rng, people, rooms)
        proxy.unavailable_share = 0.0
        assert proxy.answered_503 > 0

        async def converged() -> bool:
            for user, metadata in people:
                mine = await stubs[0].ListRooms(
                    pb.ListRoomsRequest(participant_id=user, page_size=1000), metadata=metadata
                )
                if not holds(calendars[user], list(mine.rooms)):
                    return False
            return True

        await until_async(converged, within_s=3 * CALENDAR_S)
    finally:
        for channel in channels:
            await channel.close()


async def _one_change(
    stub: pb_grpc.SchedulingServiceStub,
    rng: random.Random,
    people: list[tuple[str, tuple[tuple[str, str], ...]]],
    rooms: dict[str, pb.Room],
) -> None:
    """One random change, as a random person; refusals (a clash, a taken room) are part
    of the game."""
    metadata_of = dict(people)
    action = rng.choice(["create", "create", "book", "book", "leave", "reschedule", "cancel"])
    room = rooms[rng.choice(sorted(rooms))] if rooms else None
    try:
        if action == "create" or room is None:
            _, metadata = rng.choice(people)
            made = await stub.CreateRoom(create_request(), metadata=metadata)
            rooms[made.room_id] = made
        elif action == "book" and not room.booked:
            guest = rng.choice([p for p, _ in people if p != room.host_id])
            rooms[room.room_id] = await stub.BookRoom(
                pb.BookRoomRequest(room_id=room.room_id), metadata=metadata_of[guest]
            )
        elif action == "leave" and room.guest_id:
            rooms[room.room_id] = await stub.LeaveRoom(
                pb.LeaveRoomRequest(room_id=room.room_id), metadata=metadata_of[room.guest_id]
            )
        elif action == "reschedule":
            rooms[room.room_id] = await stub.RescheduleRoom(
                pb.RescheduleRoomRequest(room_id=room.room_id, start_time=ts(future())),
                metadata=metadata_of[room.host_id],
            )
        elif action == "cancel":
            await stub.CancelRoom(
                pb.CancelRoomRequest(room_id=room.room_id), metadata=metadata_of[room.host_id]
            )
            del rooms[room.room_id]
    except grpc.RpcError as refused:
        assert refused.code() in (  # type: ignore[attr-defined]
            grpc.StatusCode.ALREADY_EXISTS,
            grpc.StatusCode.FAILED_PRECONDITION,
        ), refused


async def test_a_url_that_points_inward_is_refused_before_any_connection(
    system: System,
) -> None:
    system.notification(CALENDAR_SEAL_KEYS=calendar_settings()["CALENDAR_SEAL_KEYS"])
    replica = system.scheduling()
    _, as_user = person("user")
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        listener.setblocking(False)
        port = listener.getsockname()[1]
        inward = [
            f"https://127.1:{port}/",
            f"https://2130706433:{port}/",
            f"https://0x7f000001:{port}/",
            f"https://[::1]:{port}/",
            f"https://[::ffff:127.0.0.1]:{port}/",
            f"https://localhost:{port}/",
            f"https://127.0.0.1:{port}/",
            f"http://127.0.0.1:{port}/",
            "file:///etc/passwd",
            f"https://user:secret@127.0.0.1:{port}/",
        ]
        async with client(replica) as stub:
            for url in inward:
                request = pb.ConnectCalendarRequest(
                    url=url, basic=pb.BasicCredentials(username="me", password="pw")
                )
                with pytest.raises(grpc.RpcError) as refused:
                    await stub.ConnectCalendar(request, metadata=as_user)
                seen = failure(refused.value)
                assert (seen.code, seen.reason) == (
                    grpc.StatusCode.INVALID_ARGUMENT,
                    "CALENDAR_URL_NOT_ALLOWED",
                ), url
                assert "secret" not in seen.message
            with pytest.raises(grpc.RpcError) as none:
                await stub.GetCalendarConnection(
                    pb.GetCalendarConnectionRequest(), metadata=as_user
                )
            assert failure(none.value).reason == "CALENDAR_NOT_CONNECTED"
        with pytest.raises(BlockingIOError):
            listener.accept()  # nobody connected
