"""Reminder e-mails from a booking to a mailbox (issue 12, docs/design.md §9), with offsets of
seconds: real scheduling replicas, notification service, PostgreSQL and SMTP sink.

Times are set relative to the wall clock with seconds of slack; every wait is for a
positive signal (a mail, an outbox row's final state), never a fixed sleep."""

from __future__ import annotations

import asyncio
import json
import urllib.request
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

import psycopg
import pytest
from google.protobuf.duration_pb2 import Duration
from scheduling.v1 import scheduling_pb2 as pb

from tests import postgres
from tests.scheduling_service.client import create_request, ts
from tests.smtp_sink import Received, free_port
from tests.system.mail_system import System, client, person, until

pytestmark = pytest.mark.slow  # starts PostgreSQL or service processes


@dataclass(frozen=True)
class Reminder:
    to: str
    subject: str
    due: datetime  # the Date header: when the reminder was due
    arrived: datetime
    calendar_parts: int


def reminders(system: System) -> list[Reminder]:
    found = []
    for received in system.sink.received:
        message = received.parsed()
        if not str(message["Subject"]).startswith("Reminder:"):
            continue
        found.append(_reminder(received, message))
    return found


def _reminder(received: Received, message) -> Reminder:  # type: ignore[no-untyped-def]
    return Reminder(
        to=received.rcpt_tos[0],
        subject=str(message["Subject"]),
        due=parsedate_to_datetime(str(message["Date"])),
        arrived=datetime.fromtimestamp(received.at, UTC),
        calendar_parts=sum(
            p.get_content_type() in ("text/calendar", "application/ics") for p in message.walk()
        ),
    )


def reminder_rows(system: System) -> Counter[str]:
    with psycopg.connect(postgres.libpq_url(system.database_url)) as conn:
        rows = conn.execute(
            "SELECT state, count(*) FROM notification_outbox WHERE kind = 'reminder' GROUP BY state"
        )
        return Counter({state: count for state, count in rows})


def soon(seconds: float) -> datetime:
    return datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=seconds)


Person = tuple[str, tuple[tuple[str, str], ...]]  # a user id and its call metadata


async def book(stub, starts: datetime) -> tuple[pb.Room, Person, Person]:
    host, guest = person("host"), person("guest")
    room = await stub.CreateRoom(create_request(starts), metadata=host[1])
    await stub.BookRoom(pb.BookRoomRequest(room_id=room.room_id), metadata=guest[1])
    return room, host, guest


def who(reminder: Reminder) -> str:
    return reminder.to.split("@")[0]


async def test_a_booking_reminds_each_participant_at_each_offset_and_not_before(
    system: System,
) -> None:
    system.notification()
    metrics = free_port()
    replica = system.scheduling(REMINDER_OFFSETS="14s,7s", METRICS_PORT=str(metrics))
    starts = soon(20)
    async with client(replica) as stub:
        room, (host, _), (guest, _) = await book(stub, starts)
    await until(lambda: len(reminders(system)) == 4, within_s=40)
    sent = reminders(system)
    assert Counter((who(r), r.due) for r in sent) == Counter(
        (user, starts - timedelta(seconds=s)) for user in (host, guest) for s in (14, 7)
    )
    for reminder in sent:
        assert reminder.arrived >= reminder.due  # at the due time, none before
        assert reminder.calendar_parts == 0  # not an iTIP message: nothing to import
        assert reminder.subject.startswith(f"Reminder: {room.title} starts in")
    assert reminder_rows(system) == Counter({"delivered": 4})
    counters = await scrape(metrics)
    assert b"scheduling_reminders_scheduled_total 4.0" in counters
    assert b'scheduling_reminders_sent_total{outcome="DELIVERED"} 4.0' in counters


async def scrape(port: int) -> bytes:
    url = f"http://127.0.0.1:{port}/metrics"
    return await asyncio.to_thread(lambda: urllib.request.urlopen(url, timeout=5).read())


async def test_a_rooms_own_offsets_are_shown_kept_by_a_reschedule_and_used(
    system: System,
) -> None:
    replica = system.scheduling()  # the service's default offsets: 24 h and 1 h
    later = soon(5 * 3600)
    own = [Duration(seconds=300), Duration(seconds=1200)]  # in any order, whole minutes
    async with client(replica) as stub:
        (host, as_host), (guest, as_guest) = person("host"), person("guest")
        room = await stub.CreateRoom(
            create_request(soon(3 * 3600), reminder_offsets=own), metadata=as_host
        )
        assert [d.seconds for d in room.reminder_offsets] == [1200, 300]
        moved = await stub.RescheduleRoom(
            pb.RescheduleRoomRequest(room_id=room.room_id, start_time=ts(later)),
            metadata=as_host,
        )
        assert [d.seconds for d in moved.reminder_offsets] == [1200, 300]
        await stub.BookRoom(pb.BookRoomRequest(room_id=room.room_id), metadata=as_guest)
    with psycopg.connect(postgres.libpq_url(system.database_url)) as conn:
        rows = conn.execute(
            "SELECT recipient_id, offset_s, next_attempt_at FROM notification_outbox"
            " WHERE kind = 'reminder' AND state = 'pending'"
        ).fetchall()
    assert sorted(rows) == sorted(
        (user, s, later - timedelta(seconds=s)) for user in (host, guest) for s in (1200, 300)
    )


async def test_a_reschedule_moves_the_reminders_to_the_new_time(system: System) -> None:
    system.notification()
    replica = system.scheduling(REMINDER_OFFSETS="10s")
    first, later = soon(25), soon(40)
    async with client(replica) as stub:
        room, (host, as_host), (guest, _) = await book(stub, first)
        await stub.RescheduleRoom(
            pb.RescheduleRoomRequest(room_id=room.room_id, start_time=ts(later)),
            metadata=as_host,
        )
    await until(lambda: len(reminders(system)) == 2, within_s=50)
    new_due = later - timedelta(seconds=10)
    assert {(who(r), r.due) for r in reminders(system)} == {
        (host, new_due),
        (guest, new_due),
    }
    assert all(r.arrived >= new_due for r in reminders(system))  # nothing at the old time
    assert reminder_rows(system) == Counter({"delivered": 2})


async def test_leave_and_cancel_remove_them_and_a_rebooking_writes_them_anew(
    system: System,
) -> None:
    system.notification()
    replica = system.scheduling(REMINDER_OFFSETS="10s")
    async with client(replica) as stub:
        kept, (host, _), (_, as_guest) = await book(stub, soon(25))
        await stub.LeaveRoom(pb.LeaveRoomRequest(room_id=kept.room_id), metadata=as_guest)
        assert reminder_rows(system) == Counter()  # an open room has nothing to remind of
        other, as_other = person("other")
        await stub.BookRoom(pb.BookRoomRequest(room_id=kept.room_id), metadata=as_other)
        gone, (_, as_gone_host), _ = await book(stub, soon(26))
        await stub.CancelRoom(pb.CancelRoomRequest(room_id=gone.room_id), metadata=as_gone_host)
    await until(lambda: reminder_rows(system) == Counter({"delivered": 2}), within_s=40)
    assert {who(r) for r in reminders(system)} == {host, other}


async def test_two_replicas_send_each_reminder_once(system: System) -> None:
    system.notification()
    replicas = [system.scheduling(REMINDER_OFFSETS="8s"), system.scheduling(REMINDER_OFFSETS="8s")]
    async with client(replicas[0]) as a, client(replicas[1]) as b:
        booked = [await book((a, b)[i % 2], soon(15 + i)) for i in range(10)]
    await until(lambda: reminder_rows(system) == Counter({"delivered": 20}), within_s=60)
    sent = reminders(system)
    assert len(sent) == 20  # one mail per (room, offset, recipient), none twice
    expected = {
        (user, room.start_time.seconds - 8)
        for room, host, guest in booked
        for user in (host[0], guest[0])
    }
    assert {(who(r), int(r.due.timestamp())) for r in sent} == expected


async def test_late_reminders_say_how_soon_and_too_late_ones_are_dropped(system: System) -> None:
    metrics = free_port()
    replica = system.scheduling(REMINDER_OFFSETS="10s", METRICS_PORT=str(metrics))
    late_start, missed_start = soon(35), soon(20)
    async with client(replica) as stub:
        await book(stub, late_start)
        await book(stub, missed_start)
    # The notification service comes up after the missed session started and after the
    # other one's reminder was due, but before that session starts.
    wake = max(missed_start, late_start - timedelta(seconds=10)) + timedelta(seconds=1)
    await asyncio.sleep(max(0.0, (wake - datetime.now(UTC)).total_seconds()))
    system.notification()
    await until(lambda: reminder_rows(system) == Counter({"delivered": 2, "dropped": 2}), 40)
    sent = reminders(system)
    assert len(sent) == 2
    for reminder in sent:
        assert reminder.arrived > reminder.due  # late, and it says how soon
        assert reminder.subject.endswith("starts in 1 minute")
        assert reminder.arrived < late_start
    assert b'scheduling_reminders_dropped_total{reason="too_late"} 2.0' in await scrape(metrics)


async def test_a_killed_replica_loses_no_reminder_and_sends_none_twice(system: System) -> None:
    replica = system.scheduling(REMINDER_OFFSETS="10s", RELAY_LEASE_S="3", RELAY_RPC_TIMEOUT_S="2")
    async with client(replica) as stub:
        for i in range(5):
            await book(stub, soon(14 + i))
    # Due while the notification service is down: claimed, tried, due again.
    await until(lambda: _least_reminder_attempts(system) >= 1, within_s=30)
    replica.kill()
    system.notification()
    system.scheduling(REMINDER_OFFSETS="10s", RELAY_LEASE_S="3", RELAY_RPC_TIMEOUT_S="2")
    await until(lambda: reminder_rows(system) == Counter({"delivered": 10}), within_s=40)
    sent = Counter(r.to for r in reminders(system))
    assert len(sent) == 10 and set(sent.values()) == {1}  # nothing lost, nothing twice


async def test_past_offsets_are_skipped_and_no_offsets_write_nothing(system: System) -> None:
    with_offsets = system.scheduling(REMINDER_OFFSETS="1h,10m")
    without = system.scheduling(REMINDER_OFFSETS="")
    async with client(with_offsets) as stub:
        await book(stub, soon(30 * 60))  # 1 h before is already past: skipped
    assert reminder_rows(system) == Counter({"pending": 2})  # the 10 min ones
    async with client(without) as stub:
        room, _, _ = await book(stub, soon(3 * 3600))
        assert list(room.reminder_offsets) == []
    assert reminder_rows(system) == Counter({"pending": 2})  # nothing more


def _least_reminder_attempts(system: System) -> int:
    with psycopg.connect(postgres.libpq_url(system.database_url)) as conn:
        row = conn.execute(
            "SELECT min(attempts) FROM notification_outbox WHERE kind = 'reminder'"
        ).fetchone()
        return int(row[0]) if row and row[0] is not None else 0


async def test_failed_reminders_are_listed_and_retried_by_operators(system: System) -> None:
    system.notification()
    replica = system.scheduling(REMINDER_OFFSETS="15s")
    system.sink.handler.mode = "550 5.1.1 no such mailbox"
    starts = soon(30)
    async with client(replica) as stub:
        room, (host, _), (guest, _) = await book(stub, starts)
    await until(lambda: reminder_rows(system) == Counter({"failed": 2}), within_s=30)

    listed = system.outbox_command("failed")
    assert listed.returncode == 0, listed.stderr
    failed = [json.loads(line) for line in listed.stdout.splitlines()]
    reminded = [f for f in failed if f["method"] == "REMINDER"]
    assert {f["recipient_id"] for f in reminded} == {host, guest}
    assert all(f["ics_uid"] == room.ics_uid and "550" in f["last_error"] for f in reminded)

    system.sink.handler.mode = "ok"
    retried = system.outbox_command("retry", *(f"--id={f['id']}" for f in reminded))
    assert retried.returncode == 0 and "queued again: 2" in retried.stdout
    await until(lambda: reminder_rows(system) == Counter({"delivered": 2}), within_s=20)
    assert {who(r) for r in reminders(system)} == {host, guest}
    assert all(r.arrived < starts for r in reminders(system))
