"""Invites from a room change to a mailbox: outbox, relay, notification service, SMTP.

Every test has its own database, SMTP sink, notification service and scheduling
replicas, so that no other relay competes for its outbox.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import grpc
import icalendar
import psycopg
import pytest
from grpc import aio
from scheduling.v1 import scheduling_pb2 as pb
from scheduling.v1 import scheduling_pb2_grpc as pb_grpc

from scheduling_service.adapters import schema
from tests import postgres
from tests.processes import NotificationProcess, SchedulingProcess
from tests.scheduling_service.client import auth, create_request, failure, future, new_user, ts
from tests.smtp_sink import Received, Sink, free_port, start_sink

FAST_RELAY = {
    "RELAY_POLL_S": "0.2",
    "RELAY_BACKOFF_MIN_S": "0.1",
    "RELAY_BACKOFF_MAX_S": "0.5",
    # With retries this fast, the default 20 attempts last only a few seconds: on a busy
    # machine a message would be given up on before a test's notification service is up.
    "RELAY_MAX_ATTEMPTS": "1000",
}


@dataclass(frozen=True)
class Mail:
    to: str
    method: str
    uid: str
    sequence: int
    status: str
    message_id: str

    @classmethod
    def of(cls, received: Received) -> Mail:
        message = received.parsed()
        part = next(p for p in message.walk() if p.get_content_type() == "text/calendar")
        calendar = icalendar.Calendar.from_ical(part.get_content())
        event = calendar.walk("VEVENT")[0]
        assert part.get_param("method") == str(calendar["METHOD"])
        return cls(
            to=received.rcpt_tos[0],
            method=str(calendar["METHOD"]),
            uid=str(event["UID"]),
            sequence=int(event["SEQUENCE"]),
            status=str(event.get("STATUS", "")),
            message_id=str(message["Message-ID"]).strip("<>"),
        )


def person(prefix: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    user = new_user(prefix)
    return user, auth(
        user, email=f"{user}@example.test", name=prefix.title(), zoneinfo="Europe/Paris"
    )


class System:
    def __init__(self, database_url: str, sink: Sink, log_dir: Path) -> None:
        self.database_url = database_url
        self.sink = sink
        self.log_dir = log_dir
        self.notification_port = free_port()
        self.processes: list[SchedulingProcess | NotificationProcess] = []

    def notification(self) -> NotificationProcess:
        process = NotificationProcess(self.log_dir, self.sink.port, port=self.notification_port)
        self.processes.append(process.start())
        return process

    def scheduling(self, **env: str) -> SchedulingProcess:
        process = SchedulingProcess(
            self.database_url,
            self.log_dir,
            NOTIFICATION_TARGET=f"127.0.0.1:{self.notification_port}",
            **{**FAST_RELAY, **env},
        )
        self.processes.append(process.start())
        return process

    def mails(self, uid: str | None = None) -> list[Mail]:
        mails = [Mail.of(r) for r in self.sink.received]
        return [m for m in mails if uid is None or m.uid == uid]

    def outbox(self) -> Counter[str]:
        with psycopg.connect(postgres.libpq_url(self.database_url)) as conn:
            rows = conn.execute("SELECT state, count(*) FROM notification_outbox GROUP BY state")
            return Counter({state: count for state, count in rows})

    async def settled(self, within_s: float = 30.0) -> None:
        """Until every message is in a final state. A mail comes only from an outbox row,
        and a row is final only once its mail was accepted (or given up on): after this,
        nothing more arrives."""
        await until(lambda: self.outbox()["pending"] == 0, within_s)

    def least_attempts(self) -> int:
        with psycopg.connect(postgres.libpq_url(self.database_url)) as conn:
            row = conn.execute("SELECT min(attempts) FROM notification_outbox").fetchone()
            return int(row[0]) if row and row[0] is not None else 0


async def until(predicate: Callable[[], bool], within_s: float = 30.0) -> None:
    deadline = time.monotonic() + within_s
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


@pytest.fixture
def system(postgres_server: str, tmp_path: Path) -> Iterator[System]:
    controller, sink = start_sink()
    with postgres.fresh_database(postgres_server) as url:
        schema.upgrade_to_head(url)
        running = System(url, sink, tmp_path)
        try:
            yield running
        finally:
            codes = [p.stop() for p in reversed(running.processes) if p.process.poll() is None]
            controller.stop()
            assert all(code == 0 for code in codes), codes


@asynccontextmanager
async def client(process: SchedulingProcess) -> AsyncIterator[pb_grpc.SchedulingServiceStub]:
    async with aio.insecure_channel(process.address) as channel:
        yield pb_grpc.SchedulingServiceStub(channel)


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


def _outbox_command(system: System, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "scheduling_service", "outbox", *args],
        env={**os.environ, "DATABASE_URL": system.database_url},
        capture_output=True,
        text=True,
        timeout=60,
    )


async def test_operators_list_retry_and_purge_failed_messages(system: System) -> None:
    system.notification()
    replica = system.scheduling()
    system.sink.handler.mode = "550 5.1.1 no such mailbox"
    (_, as_host), (guest, as_guest) = person("host"), person("guest")
    async with client(replica) as stub:
        room = await stub.CreateRoom(create_request(), metadata=as_host)
        await stub.BookRoom(pb.BookRoomRequest(room_id=room.room_id), metadata=as_guest)
    await until(lambda: system.outbox()["failed"] == 2)

    listed = _outbox_command(system, "failed")
    assert listed.returncode == 0, listed.stderr
    failed = [json.loads(line) for line in listed.stdout.splitlines()]
    assert {f["recipient_id"] for f in failed} >= {guest}
    assert all("550" in f["last_error"] and f["ics_uid"] == room.ics_uid for f in failed)

    system.sink.handler.mode = "ok"  # the mailbox exists now
    retried = _outbox_command(system, "retry", "--all")
    assert retried.returncode == 0 and "queued again: 2" in retried.stdout
    await until(lambda: len(system.mails()) == 2)
    await system.settled()

    kept = _outbox_command(system, "purge")  # the default retention keeps today's
    assert kept.stdout.strip() == "deleted: 0"
    purged = _outbox_command(system, "purge", "--older-than-hours", "0")
    assert purged.stdout.strip() == "deleted: 2"
    assert sum(system.outbox().values()) == 0
