"""A reminder racing a cancel of its room (issue 18, item 6), with real processes: a
scheduling replica, the notification service, PostgreSQL and an SMTP sink that holds
its answer to reminders, so the mail sits on the server, not yet accepted.

The room is checked once more right before the reminder goes to the notification
service, and held (a share lock) until the SMTP server answered: a cancel that commits
first wins (nothing is sent), and one that comes during the hand-off waits for it (the
reminder is never accepted after the cancel committed). Every wait is for a positive
signal (a held DATA, a backend waiting on a lock, a lease, an outbox row's final state),
never a fixed sleep."""

from __future__ import annotations

import asyncio
from collections import Counter

import psycopg
import pytest
from scheduling.v1 import scheduling_pb2 as pb
from scheduling.v1 import scheduling_pb2_grpc as pb_grpc

from tests import postgres
from tests.smtp_sink import free_port
from tests.system.mail_system import System, client, until
from tests.system.test_reminders_end_to_end import book, reminder_rows, reminders, scrape, soon

pytestmark = pytest.mark.slow  # starts PostgreSQL or service processes

# The SMTP answer is held far longer than the tests' usual 5 s command timeout.
SLOW_SMTP = {"SMTP_TIMEOUT_S": "60"}


def _a_reminder(content: bytes) -> bool:
    return b"\nSubject: Reminder:" in content


def _waiting_on_a_lock(system: System, lock: str) -> bool:
    """Whether a scheduling backend waits for a row lock on a room (`lock`: "FOR UPDATE"
    is a change taking the room, "FOR SHARE" a relay's check before a hand-off)."""
    with psycopg.connect(postgres.libpq_url(system.database_url)) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND application_name = 'scheduling_service'"
            "   AND wait_event_type = 'Lock' AND query LIKE '%%FROM rooms WHERE room_id%%'"
            "   AND query LIKE %s",
            (f"%{lock}%",),
        ).fetchone()
        return bool(row and row[0])


async def _cancel(
    stub: pb_grpc.SchedulingServiceStub, room: pb.Room, metadata: tuple[tuple[str, str], ...]
) -> None:
    await stub.CancelRoom(pb.CancelRoomRequest(room_id=room.room_id), metadata=metadata)


def _claimed_reminders(system: System) -> int:
    with psycopg.connect(postgres.libpq_url(system.database_url)) as conn:
        row = conn.execute(
            "SELECT count(*) FROM notification_outbox"
            " WHERE kind = 'reminder' AND lease_token IS NOT NULL"
        ).fetchone()
        return int(row[0]) if row else 0


async def test_a_cancel_that_commits_before_the_hand_off_wins(system: System) -> None:
    system.notification(**SLOW_SMTP)
    metrics = free_port()
    # The cancel waits on this test's lock longer than the default 10 s lock timeout.
    replica = system.scheduling(
        REMINDER_OFFSETS="10s", METRICS_PORT=str(metrics), DB_STATEMENT_TIMEOUT_MS="60000"
    )
    sink = system.sink.handler
    sink.hold(_a_reminder)
    try:
        async with client(replica) as stub:
            room, (_, as_host), _ = await book(stub, soon(25))
            # The cancel is under way before the reminders come due: this test holds the
            # room as the cancel's own first statement would, and the cancel queues
            # behind it, so it commits only after the relay has claimed the reminders
            # (the claim still reads the room as booked).
            with psycopg.connect(postgres.libpq_url(system.database_url)) as held:
                held.execute("SELECT 1 FROM rooms WHERE room_id = %s FOR UPDATE", (room.room_id,))
                cancel = asyncio.create_task(_cancel(stub, room, as_host))
                await until(lambda: _waiting_on_a_lock(system, "FOR UPDATE"), within_s=20)
                await until(lambda: _claimed_reminders(system) == 2, within_s=40)
                held.rollback()
            await cancel  # committed
            # Whatever reached the SMTP server may now be accepted.
            sink.release()
            await until(lambda: reminder_rows(system)["pending"] == 0, within_s=30)
    finally:
        sink.release()
    assert reminders(system) == []
    assert sink.held == 0  # none even reached the SMTP server
    assert reminder_rows(system) == Counter({"dropped": 2})
    assert b'scheduling_reminders_dropped_total{reason="room_gone"} 2.0' in await scrape(metrics)


async def test_a_cancel_during_a_reminders_hand_off_waits_for_it(system: System) -> None:
    system.notification(**SLOW_SMTP)
    replica = system.scheduling(REMINDER_OFFSETS="10s")
    sink = system.sink.handler
    sink.hold(_a_reminder)
    try:
        async with client(replica) as stub:
            room, (_, as_host), _ = await book(stub, soon(20))
            # Both reminders are on the SMTP server, the answer held: mid hand-off.
            await until(lambda: sink.held == 2, within_s=40)
            cancel = asyncio.create_task(_cancel(stub, room, as_host))
            await until(
                lambda: cancel.done() or _waiting_on_a_lock(system, "FOR UPDATE"), within_s=20
            )
            assert not cancel.done(), "the cancel committed while its reminders were handed off"
            sink.release()
            await cancel
            # By the time the cancel committed, both reminders had been accepted.
            assert len(reminders(system)) == 2
    finally:
        sink.release()
    await until(lambda: reminder_rows(system) == Counter({"delivered": 2}), within_s=20)
