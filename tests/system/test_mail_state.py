"""What participants see of their room's e-mails (Room.mail, issue 15): pending, sent,
failed, not sent and why; strangers see nothing of it."""

from __future__ import annotations

import asyncio
import time

import pytest
from scheduling.v1 import scheduling_pb2 as pb

from tests.scheduling_service.client import (
    auth,
    create_request,
    future,
    new_user,
    trusted,
    ts,
)
from tests.system.mail_system import System, client, person

pytestmark = pytest.mark.slow  # starts PostgreSQL or service processes

M = pb.ParticipantMail


def states(room: pb.Room) -> dict[str, tuple[int, int, str]]:
    return {m.user_id: (m.state, m.kind, m.not_sent_reason) for m in room.mail}


async def test_participants_see_their_mail_go_from_pending_to_sent_and_to_failed(
    system: System,
) -> None:
    replica = system.scheduling()  # its notification service is not up yet
    (host, as_host), (guest, as_guest) = person("host"), person("guest")
    async with client(replica) as stub:
        room = await stub.CreateRoom(create_request(), metadata=as_host)
        await stub.BookRoom(pb.BookRoomRequest(room_id=room.room_id), metadata=as_guest)

        async def seen(metadata) -> pb.Room:  # type: ignore[no-untyped-def]
            return await stub.GetRoom(pb.GetRoomRequest(room_id=room.room_id), metadata=metadata)

        pending = (M.STATE_PENDING, M.KIND_INVITATION, "")
        assert states(await seen(as_host)) == {host: pending, guest: pending}
        assert states(await seen(as_guest)) == {host: pending, guest: pending}
        stranger = await seen(auth(new_user("stranger")))
        assert list(stranger.mail) == []
        backend = await seen(trusted())  # sees the room whole, not the people's mail
        assert (backend.guest_id, list(backend.mail)) == (guest, [])

        system.notification()
        sent = (M.STATE_SENT, M.KIND_INVITATION, "")
        await until_states(seen, as_host, {host: sent, guest: sent})
        assert all(m.update_time.seconds > 0 for m in (await seen(as_guest)).mail)

        system.sink.handler.mode = "550 5.1.1 no such mailbox"
        await stub.RescheduleRoom(
            pb.RescheduleRoomRequest(room_id=room.room_id, start_time=ts(future())),
            metadata=as_host,
        )
        failed = (M.STATE_FAILED, M.KIND_UPDATE, "")
        await until_states(seen, as_guest, {host: failed, guest: failed})
        listed = await stub.ListRooms(pb.ListRoomsRequest(participant_id=host), metadata=as_host)
        assert states(next(r for r in listed.rooms if r.room_id == room.room_id)) == {
            host: failed,
            guest: failed,
        }


async def test_mail_never_sent_says_why(system: System) -> None:
    system.notification(NOTIFICATIONS_ENABLED="false")
    replica = system.scheduling()
    host, as_host = person("host")
    no_address = new_user("nomail")  # a token without an email claim
    async with client(replica) as stub:
        room = await stub.CreateRoom(create_request(), metadata=as_host)
        await stub.BookRoom(pb.BookRoomRequest(room_id=room.room_id), metadata=auth(no_address))

        async def seen(metadata) -> pb.Room:  # type: ignore[no-untyped-def]
            return await stub.GetRoom(pb.GetRoomRequest(room_id=room.room_id), metadata=metadata)

        await until_states(
            seen,
            as_host,
            {
                host: (M.STATE_NOT_SENT, M.KIND_INVITATION, "NOTIFICATIONS_DISABLED"),
                no_address: (M.STATE_NOT_SENT, M.KIND_INVITATION, "NO_ADDRESS"),
            },
        )


async def until_states(seen, metadata, expected, within_s: float = 30) -> None:  # type: ignore[no-untyped-def]
    """Until the mail states `seen` returns for `metadata` are `expected`."""
    deadline = time.monotonic() + within_s
    while (latest := states(await seen(metadata))) != expected:
        assert time.monotonic() < deadline, f"mail states stayed {latest}, expected {expected}"
        await asyncio.sleep(0.1)
