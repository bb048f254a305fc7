"""Invites from a room change to a mailbox: outbox, relay, notification service, SMTP.

Every test has its own database, SMTP sink, notification service and scheduling
replicas (tests/system/mail_system.py), so that no other relay competes for its outbox.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter

import grpc
import pytest
from scheduling.v1 import scheduling_pb2 as pb

from tests.scheduling_service.client import create_request, failure, future, ts
from tests.smtp_sink import Received
from tests.system.mail_system import System, client, person, until

pytestmark = pytest.mark.slow  # starts PostgreSQL or service processes


async def test_book_reschedule_cancel_sends_six_messages(system: System) -> None:
    system.notification()
    replica = system.scheduling()
    (host, as_host), (guest, as_guest), (_, as_late) = (
        person("host"),
        person("guest"),
        person("late"),
    )
    async with client(replica) as stub:
        room = await stub.CreateRoom(create_request(), metadata=as_host)
        await system.settled()
        assert system.mails() == []  # creating sends nothing

        await stub.BookRoom(pb.BookRoomRequest(room_id=room.room_id), metadata=as_guest)
        with pytest.raises(grpc.RpcError) as conflict:
            await stub.BookRoom(pb.BookRoomRequest(room_id=room.room_id), metadata=as_late)
        assert failure(conflict.value).reason == "ROOM_ALREADY_BOOKED"
        await until(lambda: len(system.mails()) == 2)
        await stub.RescheduleRoom(
            pb.RescheduleRoomRequest(room_id=room.room_id, start_time=ts(future())),
            metadata=as_host,
        )
        await until(lambda: len(system.mails()) == 4)
        await stub.CancelRoom(
            pb.CancelRoomRequest(room_id=room.room_id, reason="Host is ill"), metadata=as_host
        )
        await until(lambda: len(system.mails()) == 6)
        await system.settled()
        assert system.outbox() == Counter({"delivered": 6})  # none for the 409

    mails = system.mails()
    assert len(mails) == 6
    assert {m.uid for m in mails} == {room.ics_uid}
    addresses = {f"{host}@example.test", f"{guest}@example.test"}
    for address in addresses:
        theirs = [m for m in mails if m.to == address]
        assert [(m.method, m.sequence) for m in theirs] == [
            ("REQUEST", 1),
            ("REQUEST", 2),
            ("CANCEL", 3),
        ]
        assert theirs[-1].status == "CANCELLED"
    assert {m.to for m in mails} == addresses  # the 409 booker got nothing
    assert len({m.message_id for m in mails}) == 6


async def test_leaving_uninvites_the_guest_and_updates_the_host(system: System) -> None:
    system.notification()
    replica = system.scheduling()
    (host, as_host), (guest, as_guest) = person("host"), person("guest")
    async with client(replica) as stub:
        room = await stub.CreateRoom(create_request(), metadata=as_host)
        await stub.BookRoom(pb.BookRoomRequest(room_id=room.room_id), metadata=as_guest)
        await until(lambda: len(system.mails()) == 2)
        await stub.LeaveRoom(pb.LeaveRoomRequest(room_id=room.room_id), metadata=as_guest)
        await until(lambda: len(system.mails()) == 4)
        # The host alone still holds the event: the cancel reaches only them.
        await stub.CancelRoom(pb.CancelRoomRequest(room_id=room.room_id), metadata=as_host)
        await until(lambda: len(system.mails()) == 5)
        await system.settled()

    by_person = {
        who: [(m.method, m.sequence, m.status) for m in system.mails() if m.to.startswith(who)]
        for who in (host, guest)
    }
    assert by_person[guest] == [("REQUEST", 1, "CONFIRMED"), ("CANCEL", 2, "")]
    assert by_person[host] == [
        ("REQUEST", 1, "CONFIRMED"),
        ("REQUEST", 2, "CONFIRMED"),
        ("CANCEL", 3, "CANCELLED"),
    ]


async def test_cancel_of_an_unbooked_room_sends_nothing(system: System) -> None:
    system.notification()
    replica = system.scheduling()
    _, as_host = person("host")
    async with client(replica) as stub:
        room = await stub.CreateRoom(create_request(), metadata=as_host)
        await stub.RescheduleRoom(
            pb.RescheduleRoomRequest(room_id=room.room_id, start_time=ts(future())),
            metadata=as_host,
        )
        await stub.CancelRoom(pb.CancelRoomRequest(room_id=room.room_id), metadata=as_host)
    await system.settled()
    assert system.mails() == [] and sum(system.outbox().values()) == 0


async def test_notification_service_down_during_200_bookings(system: System) -> None:
    replica = system.scheduling()  # its notification service is not running yet
    async with client(replica) as stub:

        async def one_booking() -> str:
            _, as_host = person("host")
            _, as_guest = person("guest")
            room = await stub.CreateRoom(create_request(), metadata=as_host)
            await stub.BookRoom(pb.BookRoomRequest(room_id=room.room_id), metadata=as_guest)
            return room.ics_uid

        uids: list[str] = []
        for _ in range(10):
            uids += await asyncio.gather(*(one_booking() for _ in range(20)))
    await until(lambda: system.least_attempts() >= 2)  # every message tried, and again
    assert system.mails() == [] and system.outbox()["pending"] == 400

    system.notification()
    await system.settled(within_s=60)
    mails = system.mails()
    assert len(mails) == 400
    assert Counter((m.uid, m.to) for m in mails).most_common(1)[0][1] == 1
    assert {m.uid for m in mails} == set(uids)


async def test_smtp_451_is_retried_until_delivered_and_550_is_not(system: System) -> None:
    system.notification()
    replica = system.scheduling()
    system.sink.handler.mode = "451 4.3.0 try again later"
    (_, as_host), (_, as_guest) = person("host"), person("guest")
    async with client(replica) as stub:
        room = await stub.CreateRoom(create_request(), metadata=as_host)
        await stub.BookRoom(pb.BookRoomRequest(room_id=room.room_id), metadata=as_guest)
        await until(lambda: system.sink.handler.refused >= 6)
        assert system.mails() == [] and system.outbox()["pending"] == 2
        system.sink.handler.mode = "ok"
        await until(lambda: len(system.mails()) == 2)
        await system.settled()

        system.sink.handler.mode = "550 5.1.1 no such mailbox"
        refused_before = system.sink.handler.refused
        other = await stub.CreateRoom(create_request(), metadata=as_host)
        await stub.BookRoom(pb.BookRoomRequest(room_id=other.room_id), metadata=as_guest)
        await until(lambda: system.outbox()["failed"] == 2)  # final: never tried again
        assert system.sink.handler.refused - refused_before == 2  # one attempt each
    assert system.outbox() == Counter({"delivered": 2, "failed": 2})


async def test_two_replicas_relaying_one_outbox_send_each_message_once(system: System) -> None:
    system.notification()
    replicas = [system.scheduling(), system.scheduling()]
    async with client(replicas[0]) as a, client(replicas[1]) as b:

        async def one_booking(i: int) -> None:
            stub = (a, b)[i % 2]
            _, as_host = person("host")
            _, as_guest = person("guest")
            room = await stub.CreateRoom(create_request(), metadata=as_host)
            await stub.BookRoom(pb.BookRoomRequest(room_id=room.room_id), metadata=as_guest)

        await asyncio.gather(*(one_booking(i) for i in range(60)))
    await system.settled()
    mails = system.mails()
    assert len(mails) == 120
    assert len({m.message_id for m in mails}) == 120
    relayed_by = [
        sum('"event": "invite attempt"' in line for line in r.log().splitlines()) for r in replicas
    ]
    assert sum(relayed_by) == 120


async def test_reschedule_then_cancel_while_down_ends_with_the_cancel(system: System) -> None:
    replica = system.scheduling()
    (host, as_host), (guest, as_guest) = person("host"), person("guest")
    async with client(replica) as stub:
        room = await stub.CreateRoom(create_request(), metadata=as_host)
        await stub.BookRoom(pb.BookRoomRequest(room_id=room.room_id), metadata=as_guest)
        for _ in range(3):
            await stub.RescheduleRoom(
                pb.RescheduleRoomRequest(room_id=room.room_id, start_time=ts(future())),
                metadata=as_host,
            )
        await stub.CancelRoom(pb.CancelRoomRequest(room_id=room.room_id), metadata=as_host)
    system.notification()
    await system.settled()
    for who in (host, guest):
        theirs = [m for m in system.mails() if m.to.startswith(who)]
        assert theirs, who
        assert theirs[-1].method == "CANCEL" and theirs[-1].sequence == 5
        sequences = [m.sequence for m in theirs]
        assert sequences == sorted(set(sequences))  # in SEQUENCE order, none twice


async def test_killed_mid_relay_loses_nothing_and_repeats_the_same_message(
    system: System,
) -> None:
    replica = system.scheduling(RELAY_RPC_TIMEOUT_S="2", RELAY_LEASE_S="3")
    uids: list[str] = []
    async with client(replica) as stub:
        for _ in range(30):  # queued while the notification service is not up yet
            _, as_host = person("host")
            _, as_guest = person("guest")
            room = await stub.CreateRoom(create_request(), metadata=as_host)
            await stub.BookRoom(pb.BookRoomRequest(room_id=room.room_id), metadata=as_guest)
            uids.append(room.ics_uid)
    system.sink.handler.delay_s = 0.2  # a slow mail relay: the 60 messages take seconds
    system.notification()
    await until(lambda: len(system.mails()) >= 5)
    replica.kill()  # SIGKILL in the middle of relaying
    assert len(system.mails()) < 60
    system.scheduling(RELAY_RPC_TIMEOUT_S="2", RELAY_LEASE_S="3")
    await system.settled(within_s=60)

    mails = system.mails()
    assert len({(m.uid, m.to) for m in mails}) == 60  # every message arrived
    assert {m.uid for m in mails} == set(uids)
    copies: dict[tuple[str, str], set[tuple[str, int, str]]] = {}
    for m in mails:
        copies.setdefault((m.uid, m.to), set()).add((m.message_id, m.sequence, m.method))
    assert all(len(versions) == 1 for versions in copies.values())  # repeats are identical


async def test_operators_list_retry_and_purge_failed_messages(system: System) -> None:
    system.notification()
    replica = system.scheduling()
    nothing = system.outbox_command("failed")
    assert (nothing.returncode, nothing.stdout) == (0, "")
    assert nothing.stderr.strip() == "no failed messages"
    system.sink.handler.mode = "550 5.1.1 no such mailbox"
    (_, as_host), (guest, as_guest) = person("host"), person("guest")
    async with client(replica) as stub:
        room = await stub.CreateRoom(create_request(), metadata=as_host)
        await stub.BookRoom(pb.BookRoomRequest(room_id=room.room_id), metadata=as_guest)
    await until(lambda: system.outbox()["failed"] == 2)

    listed = system.outbox_command("failed")
    assert listed.returncode == 0, listed.stderr
    failed = [json.loads(line) for line in listed.stdout.splitlines()]
    assert {f["recipient_id"] for f in failed} >= {guest}
    assert all("550" in f["last_error"] and f["ics_uid"] == room.ics_uid for f in failed)

    system.sink.handler.mode = "ok"  # the mailbox exists now
    retried = system.outbox_command("retry", "--all")
    assert retried.returncode == 0 and "queued again: 2" in retried.stdout
    await until(lambda: len(system.mails()) == 2)
    await system.settled()

    kept = system.outbox_command("purge")  # the default retention keeps today's
    assert kept.stdout.splitlines() == ["deleted: 0", "calendar copies deleted: 0"]
    purged = system.outbox_command("purge", "--older-than-hours", "0")
    assert purged.stdout.splitlines()[0] == "deleted: 2"
    assert sum(system.outbox().values()) == 0


async def test_each_delivered_mail_says_what_changed(system: System) -> None:
    system.notification()
    replica = system.scheduling(REMINDER_OFFSETS="")
    (host, as_host), (guest, as_guest) = person("host"), person("guest")
    first, later = future(), future()
    async with client(replica) as stub:
        room = await stub.CreateRoom(
            create_request(first, title="Mock interview", first_round_topic="Graphs"),
            metadata=as_host,
        )
        await stub.BookRoom(pb.BookRoomRequest(room_id=room.room_id), metadata=as_guest)
        await until(lambda: len(system.sink.received) == 2)
        await stub.RescheduleRoom(
            pb.RescheduleRoomRequest(room_id=room.room_id, start_time=ts(later)),
            metadata=as_host,
        )
        await until(lambda: len(system.sink.received) == 4)
        await stub.LeaveRoom(pb.LeaveRoomRequest(room_id=room.room_id), metadata=as_guest)
        await until(lambda: len(system.sink.received) == 6)
        await stub.CancelRoom(
            pb.CancelRoomRequest(room_id=room.room_id, reason="Host is ill"), metadata=as_host
        )
        await until(lambda: len(system.sink.received) == 7)

    read = [_read(r) for r in system.sink.received]
    booked, moved, left, cancelled = read[0:2], read[2:4], read[4:6], read[6]
    for subject, body in booked:
        assert subject.startswith("Invitation: Mock interview")
        assert "Round 1: Graphs" in body
    for subject, body in moved:
        assert subject.startswith("Updated invitation: Mock interview")
        assert "Old time:" in body and "New time:" in body
    by_subject = dict(left)
    assert any(s.startswith("No longer attending") for s in by_subject)
    host_update = next(b for s, b in left if s.startswith("Updated invitation"))
    assert "Left: Guest" in host_update and "left this practice session" in host_update
    assert cancelled[0].startswith("Cancelled: Mock interview")
    assert "Reason: Host is ill" in cancelled[1]
    assert {r.rcpt_tos[0].split("@")[0] for r in system.sink.received[:2]} == {host, guest}


def _read(received: Received) -> tuple[str, str]:
    """The subject and the plain-text body, as a person reads them."""
    message = received.parsed()
    plain = next(p for p in message.walk() if p.get_content_type() == "text/plain")
    return str(message["Subject"]), str(plain.get_content())
