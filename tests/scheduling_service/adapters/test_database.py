"""The unit of work's retries against a real PostgreSQL: a deadlock the database breaks
is run again, whole, and the caller sees one success."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator

import psycopg
import pytest

from scheduling_service.adapters.database import PostgresDatabase, SqlUnitOfWork, libpq_url
from scheduling_service.adapters.statements import GUARD_HELD, IF_GUARD_HELD
from tests import postgres
from tests.scheduling_service.adapters.harness import opened

pytestmark = pytest.mark.slow  # starts PostgreSQL


@pytest.fixture
async def database(postgres_server: str) -> AsyncIterator[PostgresDatabase]:
    with postgres.fresh_database(postgres_server) as url:
        with psycopg.connect(libpq_url(url), autocommit=True) as conn:
            conn.execute("CREATE TABLE counted (id int PRIMARY KEY, n int NOT NULL)")
            conn.execute("INSERT INTO counted VALUES (1, 0), (2, 0)")
            # Found at once rather than after the default second.
            conn.execute(f"ALTER DATABASE {conn.info.dbname} SET deadlock_timeout = '50ms'")
        async with opened(url) as db:
            yield db


def _bump(row: int) -> str:
    return f"UPDATE counted SET n = n + 1 WHERE id = {row} AND {IF_GUARD_HELD}"


async def test_a_deadlock_is_retried_whole_and_each_change_lands_once(
    database: PostgresDatabase,
) -> None:
    attempts: Counter[str] = Counter()

    def crossing(first: int, second: int, name: str):  # type: ignore[no-untyped-def]
        async def work(uow: SqlUnitOfWork) -> bool:
            attempts[name] += 1
            # Each takes its first row, waits for the other to take its own, then asks
            # for the other's: one of the two is chosen as the deadlock's victim.
            uow.statements.guard(
                f"WITH took AS (UPDATE counted SET n = n + 1 WHERE id = {first} RETURNING 1)"
                f" {GUARD_HELD} FROM took",
                {},
            )
            uow.statements.queue("SELECT pg_sleep(0.3)", {})
            uow.statements.queue(_bump(second), {})
            return (await uow.commit()).applied

        return work

    results = await asyncio.gather(
        database.run(crossing(1, 2, "a")), database.run(crossing(2, 1, "b"))
    )

    assert results == [True, True]
    assert sorted(attempts.values()) == [1, 2]  # the victim ran again, the other once
    with psycopg.connect(database.dsn) as conn:
        rows = conn.execute("SELECT id, n FROM counted ORDER BY id").fetchall()
    assert rows == [(1, 2), (2, 2)]  # both changes, each exactly once
