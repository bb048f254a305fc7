"""Busy time's SQL against PostgreSQL: a read is claimed once across claimers, its result
lands only while its lease and the connection's generation hold, a temporary failure
keeps the intervals, and overlap is half-open like the sessions' own."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from scheduling_service.adapters.database import PostgresDatabase, SqlUnitOfWork, libpq_url
from scheduling_service.domain.busy import BusyRead, BusyResult
from tests import postgres
from tests.scheduling_service.adapters.harness import opened

pytestmark = pytest.mark.slow  # starts PostgreSQL

T0 = datetime(2031, 1, 1, 9, tzinfo=UTC)


@pytest.fixture
async def database(postgres_server: str) -> AsyncIterator[PostgresDatabase]:
    with postgres.migrated_database(postgres_server) as url:
        async with opened(url) as db:
            yield db


def _connect(db: PostgresDatabase, user_id: str) -> int:
    """A user with an active connection, due for a read; their user_no."""
    with psycopg.connect(libpq_url(db.dsn)) as conn:
        (user_no,) = conn.execute(
            "INSERT INTO users (user_id) VALUES (%s) RETURNING user_no", (user_id,)
        ).fetchone()  # type: ignore[misc]
        conn.execute(
            "INSERT INTO calendar_connections (user_id, calendar_url, provider,"
            " sealed_credentials) VALUES (%s, 'https://cal.example/c/', 'caldav', 'x')",
            (user_id,),
        )
    return int(user_no)


async def _claim(db: PostgresDatabase, token: uuid.UUID) -> list[BusyRead]:
    async def work(uow: SqlUnitOfWork) -> list[BusyRead]:
        return await uow.busy.claim(token, 10, 60)

    return await db.run(work)  # type: ignore[arg-type]


async def _finish(db: PostgresDatabase, result: BusyResult) -> None:
    async def work(uow: SqlUnitOfWork) -> None:
        await uow.busy.finish(result)

    await db.run(work)  # type: ignore[arg-type]


async def _overlaps(db: PostgresDatabase, user_no: int, starts: datetime, hours: float) -> bool:
    async def work(uow: SqlUnitOfWork) -> bool:
        return await uow.busy.overlaps(user_no, starts, starts + timedelta(hours=hours))

    return await db.run(work)  # type: ignore[arg-type]


async def test_a_read_is_claimed_once_and_replaces_the_intervals(
    database: PostgresDatabase,
) -> None:
    user = f"busy-{uuid.uuid4().hex[:8]}"
    user_no = _connect(database, user)
    first, second = uuid.uuid4(), uuid.uuid4()
    (read,) = [r for r in await _claim(database, first) if r.user_id == user]
    assert [r for r in await _claim(database, second) if r.user_id == user] == []
    assert read.sealed_credentials == b"x" and read.attempts == 0

    later = datetime.now(UTC) + timedelta(hours=1)
    span = ((T0, T0 + timedelta(hours=1)),)
    await _finish(database, BusyResult(read, first, span, later, 0))
    assert await _overlaps(database, user_no, T0 + timedelta(minutes=30), 1)
    # Half-open: a session starting as the busy time ends does not overlap it.
    assert not await _overlaps(database, user_no, T0 + timedelta(hours=1), 1)
    assert not await _overlaps(database, user_no, T0 - timedelta(hours=1), 1)
    # Not due again before `later`.
    assert [r for r in await _claim(database, uuid.uuid4()) if r.user_id == user] == []


async def test_a_stale_lease_or_generation_records_nothing(database: PostgresDatabase) -> None:
    user = f"busy-{uuid.uuid4().hex[:8]}"
    user_no = _connect(database, user)
    token = uuid.uuid4()
    (read,) = [r for r in await _claim(database, token) if r.user_id == user]
    span = ((T0, T0 + timedelta(hours=1)),)
    soon = datetime.now(UTC)
    await _finish(database, BusyResult(read, uuid.uuid4(), span, soon, 0))  # not its lease
    old = BusyRead(read.user_id, read.calendar_url, b"x", read.generation - 1, 0)
    await _finish(database, BusyResult(old, token, span, soon, 0))  # an older connection
    assert not await _overlaps(database, user_no, T0, 1)

    # A temporary failure keeps what was read; a refusal clears it.
    await _finish(database, BusyResult(read, token, span, soon, 0))
    (again,) = [r for r in await _claim(database, token) if r.user_id == user]
    await _finish(database, BusyResult(again, token, None, soon, 1))
    assert await _overlaps(database, user_no, T0, 1)
    (third,) = [r for r in await _claim(database, token) if r.user_id == user]
    assert third.attempts == 1
    await _finish(database, BusyResult(third, token, (), soon, 2))
    assert not await _overlaps(database, user_no, T0, 1)


async def test_a_broken_connections_busy_time_does_not_count(database: PostgresDatabase) -> None:
    user = f"busy-{uuid.uuid4().hex[:8]}"
    user_no = _connect(database, user)
    token = uuid.uuid4()
    (read,) = [r for r in await _claim(database, token) if r.user_id == user]
    await _finish(database, BusyResult(read, token, ((T0, T0 + timedelta(hours=1)),), T0, 0))
    assert await _overlaps(database, user_no, T0, 1)
    with psycopg.connect(libpq_url(database.dsn)) as conn:
        conn.execute("UPDATE calendar_connections SET state = 'broken' WHERE user_id = %s", (user,))
    assert not await _overlaps(database, user_no, T0, 1)


async def test_the_sync_token_and_coverage_come_back_with_the_next_claim(
    database: PostgresDatabase,
) -> None:
    user = f"busy-{uuid.uuid4().hex[:8]}"
    user_no = _connect(database, user)
    token = uuid.uuid4()
    soon = datetime.now(UTC)
    span = ((T0, T0 + timedelta(hours=1)),)
    covered = T0 + timedelta(days=31)

    async def claim() -> BusyRead:
        (read,) = [r for r in await _claim(database, token) if r.user_id == user]
        return read

    first = await claim()
    assert (first.sync_token, first.covered_until) == ("", None)
    await _finish(database, BusyResult(first, token, span, soon, 0, b"", covered, "sync/1"))
    second = await claim()
    assert (second.sync_token, second.covered_until) == ("sync/1", covered)

    # "Unchanged": the intervals and how far they reach stay; the token moves on.
    await _finish(database, BusyResult(second, token, None, soon, 0, b"", None, "sync/2"))
    third = await claim()
    assert (third.sync_token, third.covered_until) == ("sync/2", covered)
    assert await _overlaps(database, user_no, T0, 1)

    # After a failure the next read is a full one: no token handed out.
    await _finish(database, BusyResult(third, token, None, soon, 1, b"", None, ""))
    fourth = await claim()
    assert (fourth.sync_token, fourth.covered_until) == ("", None)
    assert await _overlaps(database, user_no, T0, 1)  # the intervals stay
    await _finish(database, BusyResult(fourth, token, span, soon, 0, b"", covered, "sync/3"))
    fifth = await claim()
    assert (fifth.sync_token, fifth.covered_until) == ("sync/3", covered)
    await _finish(database, BusyResult(fifth, token, (), soon, 1, b"", None, ""))
    last = await claim()
    assert (last.sync_token, last.covered_until) == ("", None)
    assert not await _overlaps(database, user_no, T0, 1)


# What a replica of the release before 0009 records, as its adapter wrote it: it knows
# nothing of the token's columns.
_OLD_RELEASE = {
    "a-connect": """UPDATE calendar_connections SET busy_due_at = now(),
                    generation = nextval('calendar_connection_generation')
                    WHERE user_id = %(user_id)s""",
    "a-read": """UPDATE calendar_connections SET busy_due_at = now(), busy_attempts = 0,
                 busy_read_time = now() WHERE user_id = %(user_id)s""",
    "a-failure": """UPDATE calendar_connections SET busy_due_at = now(), busy_attempts = 1
                    WHERE user_id = %(user_id)s""",
}


@pytest.mark.parametrize("recorded", _OLD_RELEASE.values(), ids=_OLD_RELEASE.keys())
async def test_what_the_release_before_records_ends_the_token(
    database: PostgresDatabase, recorded: str
) -> None:
    """During a rolling update a replica of the release before may connect the calendar
    anew, record a read of its own (perhaps cut, or over a shorter range) or a failure
    (intervals cleared) after ours: the token no longer describes what is kept, and is
    not handed out."""
    user = f"busy-{uuid.uuid4().hex[:8]}"
    _connect(database, user)
    token = uuid.uuid4()
    (read,) = [r for r in await _claim(database, token) if r.user_id == user]
    covered = T0 + timedelta(days=31)
    await _finish(
        database, BusyResult(read, token, (), datetime.now(UTC), 0, b"", covered, "sync/1")
    )
    with psycopg.connect(libpq_url(database.dsn)) as conn:
        conn.execute(recorded, {"user_id": user})  # type: ignore[arg-type]
    (again,) = [r for r in await _claim(database, uuid.uuid4()) if r.user_id == user]
    assert (again.sync_token, again.covered_until) == ("", None)
