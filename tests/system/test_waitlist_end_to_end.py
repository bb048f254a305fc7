"""The waitlist's e-mails from a room to a mailbox (design §16): real scheduling replicas,
notification service, PostgreSQL and SMTP sink. Holds of seconds; every wait is for a
positive signal (a mail in the sink, an outbox row's final state), never a fixed sleep."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import psycopg
import pytest
from scheduling.v1 import scheduling_pb2 as pb
from scheduling.v1 import scheduling_pb2_grpc as pb_grpc

from tests import postgres
from tests.scheduling_service.client import create_request
from tests.system.mail_system import System, client, person, until

pytestmark = pytest.mark.slow  # starts PostgreSQL and service processes

Metadata = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Notice:
    to: str
    subject: str
    plain: str


def notices(system: System) -> list[Notice]:
    """The waitlist's mails the sink received, oldest first: no calendar part (the
    participants' CANCEL is an invitation's, with one; a waitlist notice never has)."""
    found = []
    for received in system.sink.received:
        message = received.parsed()
        subject = str(message["Subject"])
        types = [p.get_content_type() for p in message.walk()]
        if not subject.startswith(("Held for you:", "Cancelled:")) or "text/calendar" in types:
            continue
        plain = next(p for p in message.walk() if p.get_content_type() == "text/plain")
        found.append(Notice(received.rcpt_tos[0], subject, str(plain.get_content())))
    return found


def offers_to(system: System, address: str) -> int:
    return sum(n.to == address and n.subject.startswith("Held for you:") for n in notices(system))


def waitlist_rows(system: System) -> Counter[str]:
    with psycopg.connect(postgres.libpq_url(system.database_url)) as conn:
        rows = conn.execute(
            "SELECT state, count(*) FROM notification_outbox WHERE kind = 'waitlist' GROUP BY state"
        )
        return Counter({state: count for state, count in rows})


async def _booked_room(
    stub: pb_grpc.SchedulingServiceStub, title: str = "Mock interview"
) -> tuple[pb.Room, Metadata, Metadata]:
    (_, host), (_, guest) = person("host"), person("guest")
    room = await stub.CreateRoom(create_request(title=title), metadata=host)
    await stub.BookRoom(pb.BookRoomRequest(room_id=room.room_id), metadata=guest)
    return room, host, guest


async def _join(stub: pb_grpc.SchedulingServiceStub, room: pb.Room, who: Metadata) -> None:
    await stub.JoinWaitlist(pb.JoinWaitlistRequest(room_id=room.room_id), metadata=who)


async def test_offers_go_to_the_first_in_line_then_the_next_when_a_hold_lapses(
    system: System,
) -> None:
    system.notification()
    replica = system.scheduling(WAITLIST_HOLD="3s")
    (ann, ann_auth), (bob, bob_auth), (_, carol_auth) = (
        person("ann"),
        person("bob"),
        person("carol"),
    )
    async with client(replica) as stub:
        room, _, guest = await _booked_room(
            stub, title="Mock <b>interview</b> =?utf-8?q?=0ABcc:_x@y?= Zoë"
        )
        await _join(stub, room, ann_auth)
        await _join(stub, room, bob_auth)
        await stub.LeaveRoom(pb.LeaveRoomRequest(room_id=room.room_id), metadata=guest)
        await until(lambda: offers_to(system, f"{ann}@example.test") == 1)
        offer = notices(system)[0]
        assert offer.subject == "Held for you: Mock <b>interview</b> =?utf-8?q?=0ABcc:_x@y?= Zoë"
        assert "Held until:" in offer.plain and f"Room: {room.room_id}" in offer.plain

        await until(lambda: offers_to(system, f"{bob}@example.test") == 1)  # ann's lapsed
        await until(lambda: not _held(system, room))  # bob's lapsed: nobody left
        booked = await stub.BookRoom(pb.BookRoomRequest(room_id=room.room_id), metadata=carol_auth)
        assert booked.guest_id.startswith("carol")
    await until(lambda: waitlist_rows(system)["pending"] == 0)
    assert Counter(n.to for n in notices(system)) == {
        f"{ann}@example.test": 1,
        f"{bob}@example.test": 1,
    }


async def test_a_cancel_tells_everyone_waiting(system: System) -> None:
    system.notification()
    replica = system.scheduling()
    waiting = [person(name) for name in ("ann", "bob", "carol")]
    async with client(replica) as stub:
        room, host, guest = await _booked_room(stub)
        for _, who in waiting:
            await _join(stub, room, who)
        await stub.LeaveRoom(pb.LeaveRoomRequest(room_id=room.room_id), metadata=guest)
        await stub.CancelRoom(
            pb.CancelRoomRequest(room_id=room.room_id, reason="Feeling ill"), metadata=host
        )
    addresses = {f"{user}@example.test" for user, _ in waiting}
    await until(
        lambda: {n.to for n in notices(system) if n.subject.startswith("Cancelled:")} == addresses
    )
    await until(lambda: waitlist_rows(system)["pending"] == 0)
    cancelled = [n for n in notices(system) if n.subject.startswith("Cancelled:")]
    assert len(cancelled) == 3 and all("cancelled by its host" in n.plain for n in cancelled)
    assert all("Feeling ill" not in n.plain for n in cancelled)  # the reason is the guests'
    # Ann's offer (the hold the leave gave her) was sent or superseded, never after it.
    assert waitlist_rows(system)["delivered"] + waitlist_rows(system)["superseded"] == 4


async def test_a_killed_replica_loses_no_offer_and_sends_none_twice(system: System) -> None:
    """Holds come due while their replica is dead: the replicas that remain pass each
    on once (one guarded transaction each, whichever commits first), and the next offer
    goes out once."""
    system.notification()
    first = system.scheduling(WAITLIST_HOLD="8s", RELAY_LEASE_S="3", RELAY_RPC_TIMEOUT_S="2")
    seconds = []
    async with client(first) as stub:
        for _ in range(4):
            room, _, guest = await _booked_room(stub)
            (_, ann), (bob, bob_auth) = person("ann"), person("bob")
            await _join(stub, room, ann)
            await _join(stub, room, bob_auth)
            seconds.append(f"{bob}@example.test")
            await stub.LeaveRoom(pb.LeaveRoomRequest(room_id=room.room_id), metadata=guest)
    # Every first offer out, every hold still running: the replica dies with them due.
    await until(lambda: sum(n.subject.startswith("Held") for n in notices(system)) == 4)
    assert all(offers_to(system, address) == 0 for address in seconds)
    first.kill()
    assert _holds_running(system) == 4, "killed too late for this test: the holds lapsed"
    for _ in range(2):
        system.scheduling(WAITLIST_HOLD="8s", RELAY_LEASE_S="3", RELAY_RPC_TIMEOUT_S="2")
    await until(lambda: all(offers_to(system, a) >= 1 for a in seconds), within_s=40)
    await until(lambda: waitlist_rows(system)["pending"] == 0)
    assert [offers_to(system, a) for a in seconds] == [1, 1, 1, 1]  # none lost, none twice
    lapses = system.query(
        "SELECT count(*) FROM room_events WHERE change = 'WAITLIST'"
    )  # 8 joins, then each room's hold passed on once
    assert lapses == 8 + 4


def _held(system: System, room: pb.Room) -> bool:
    return bool(
        system.query(
            f"SELECT count(*) FROM room_waitlist WHERE room_id = '{room.room_id}'"
            " AND hold_until IS NOT NULL"
        )
    )


def _holds_running(system: System) -> int:
    return int(
        system.query("SELECT count(*) FROM room_waitlist WHERE hold_until > now()")  # type: ignore[arg-type]
    )
