"""Whatever an error does to a pooled connection, its next use is clean (issue 18).

A pool of one connection, prepared statements on (the default threshold), and the real
room use cases: schedule conflicts, lock timeouts and deadlocks interleaved with good
calls. Every call either succeeds or gets the error its own situation calls for; none is
Unavailable or an internal error because of what an earlier call left on the connection.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from scheduling_service.adapters.database import PostgresDatabase, libpq_url
from scheduling_service.config import Settings
from scheduling_service.domain import errors
from scheduling_service.domain.room import Room
from scheduling_service.domain.users import User
from scheduling_service.service_layer.rooms import CreateRoom, Reschedule, RoomService
from tests import postgres

pytestmark = pytest.mark.slow

HOST = User("pool-host", email="host@example.test", name="Host")
GUEST = User("pool-guest", email="guest@example.test", name="Guest")
HOUR = timedelta(hours=1)
_LOCK_ROOM = "SELECT 1 FROM rooms WHERE room_id = %s FOR UPDATE"


@pytest.fixture
async def one_connection(postgres_server: str) -> AsyncIterator[tuple[PostgresDatabase, str]]:
    """The service's database object with a pool of exactly one connection."""
    with postgres.migrated_database(postgres_server) as url:
        with psycopg.connect(libpq_url(url), autocommit=True) as conn:
            # Deadlocks found at once rather than after the default second.
            conn.execute(f"ALTER DATABASE {conn.info.dbname} SET deadlock_timeout = '50ms'")
        settings = Settings(db_pool_size=1, db_pool_overflow=0)
        assert settings.db_prepare_threshold is not None  # the default prepares
        db = PostgresDatabase(url, settings)
        await db.open()
        try:
            yield db, libpq_url(url)
        finally:
            await db.close()


def _create(starts: datetime, title: str = "Practice") -> CreateRoom:
    return CreateRoom(title, "", starts, HOUR, "Warm-up", uuid.uuid4())


async def _room_a_beside_b(rooms: RoomService) -> tuple[Room, datetime]:
    """The host's room A at T, and their room B at T+3h: moving A there conflicts."""
    t = datetime.now(UTC).replace(microsecond=0) + timedelta(days=2)
    room_a = (await rooms.create_room(HOST, _create(t))).room
    await rooms.create_room(HOST, _create(t + 3 * HOUR))
    return room_a, t


async def test_reschedule_conflicts_leave_the_connection_clean(
    one_connection: tuple[PostgresDatabase, str],
) -> None:
    """The finding as reported: A→T+6h, A→T+3h (clashes with B), A→T, over and over."""
    db, _ = one_connection
    rooms = RoomService(db, uid_domain="test")
    room_a, t = await _room_a_beside_b(rooms)

    outcomes: Counter[str] = Counter()
    # Runs of 1 to 8 conflicts between good moves: whichever execution of a statement
    # psycopg chooses to prepare, some run has it fall on a conflict.
    for run in range(1, 9):
        for hours in (6, *[3] * run, 0):
            command = Reschedule(room_a.room_id, t + hours * HOUR, None, "")
            try:
                await rooms.reschedule_room(HOST, command, time_left_s=5)
                outcomes["ok"] += 1
            except errors.ScheduleConflict:
                outcomes["conflict"] += 1
    assert outcomes == {"ok": 16, "conflict": 36}


async def test_a_thousand_conflicts_timeouts_and_deadlocks_among_good_calls(
    one_connection: tuple[PostgresDatabase, str],
) -> None:
    db, dsn = one_connection
    rooms = RoomService(db, uid_domain="test")
    room_a, t = await _room_a_beside_b(rooms)
    outcomes: Counter[str] = Counter()

    async def reschedule(hours: int, time_left_s: float | None = None) -> None:
        outcomes["calls"] += 1
        command = Reschedule(room_a.room_id, t + hours * HOUR, None, "")
        await rooms.reschedule_room(HOST, command, time_left_s=time_left_s)

    async def good_calls(n: int) -> None:
        # A new room, booked, read back, rescheduled and cancelled: every statement of
        # the use cases runs often enough here to be prepared.
        starts = t + timedelta(days=3 + n % 50, minutes=n)
        made = (await rooms.create_room(HOST, _create(starts))).room
        await rooms.book_room(GUEST, made.room_id)
        await rooms.get_room(GUEST, made.room_id)
        moved = await rooms.reschedule_room(
            HOST, Reschedule(made.room_id, starts + timedelta(days=60), None, "")
        )
        await rooms.cancel_room(HOST, made.room_id, reason="", etag=moved.room.etag)
        outcomes["good"] += 5
        outcomes["calls"] += 5

    async def conflicts(run: int) -> None:
        await reschedule(6)
        for _ in range(run):
            with pytest.raises(errors.ScheduleConflict):
                await reschedule(3)
            outcomes["conflict"] += 1
        await reschedule(0)

    async def lock_timeout(conn: psycopg.AsyncConnection) -> None:
        # Another session holds room A's row: the reschedule runs out of its deadline
        # waiting for the lock, mid-pipeline.
        async with conn.transaction():
            await conn.execute(_LOCK_ROOM, [room_a.room_id])
            with pytest.raises(errors.Unavailable):
                await reschedule(6, time_left_s=0.2)
        outcomes["timeout"] += 1

    async def deadlock(conn: psycopg.AsyncConnection) -> None:
        # Another session takes the host's lock, then (once the reschedule, holding room
        # A's row, waits for it) room A's row: one of the two is the deadlock's victim.
        # Ours runs again whole, so the reschedule succeeds either way.
        await conn.execute("BEGIN")
        await conn.execute(
            "SELECT pg_advisory_xact_lock(user_no) FROM users WHERE user_id = %s", [HOST.user_id]
        )
        moving = asyncio.ensure_future(reschedule(6))
        await _wait_until_blocked(conn)
        try:
            await conn.execute(_LOCK_ROOM, [room_a.room_id])
        except psycopg.errors.DeadlockDetected:
            outcomes["their deadlock"] += 1
        await conn.execute("ROLLBACK")
        await moving
        await reschedule(0)
        outcomes["deadlock"] += 1

    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as other:
        for n in range(100):
            await good_calls(n)
            await conflicts(1 + n % 7)
            if n % 4 == 0:
                await lock_timeout(other)
            await conflicts(1 + n % 3)
            if n % 4 == 2:
                await deadlock(other)
    assert outcomes["good"] == 500 and outcomes["conflict"] == 594
    assert outcomes["timeout"] == 25 and outcomes["deadlock"] == 25
    assert outcomes["calls"] >= 1000


async def _wait_until_blocked(conn: psycopg.AsyncConnection) -> None:
    """Until a session of the service waits for a lock (a signal, not a sleep)."""
    async with asyncio.timeout(30):
        while True:
            cur = await conn.execute(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE application_name = 'scheduling_service' AND wait_event_type = 'Lock'"
            )
            row = await cur.fetchone()
            if row and row[0]:
                return
            await asyncio.sleep(0.005)
