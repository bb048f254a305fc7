"""Statements.holding against a real PostgreSQL: the rows a locking read took stay locked
across what the block awaits (a reminder's hand-off), a writer of them waits, and the
database ends a session that holds them past its limit."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import psycopg
import pytest

from scheduling_service.adapters.database import PostgresDatabase, SqlUnitOfWork, libpq_url
from tests import postgres
from tests.scheduling_service.adapters.harness import opened

pytestmark = pytest.mark.slow  # starts PostgreSQL

_HOLD = "SELECT n FROM counted WHERE id = %(id)s FOR SHARE"
_WRITE = "UPDATE counted SET n = n + 1 WHERE id = 1"


@pytest.fixture
async def database(postgres_server: str) -> AsyncIterator[PostgresDatabase]:
    with postgres.fresh_database(postgres_server) as url:
        with psycopg.connect(libpq_url(url), autocommit=True) as conn:
            conn.execute("CREATE TABLE counted (id int PRIMARY KEY, n int NOT NULL)")
            conn.execute("INSERT INTO counted VALUES (1, 0)")
        async with opened(url) as db:
            yield db


def _write_at_once(db: PostgresDatabase) -> bool:
    """Whether a writer of the row gets it within 200 ms."""
    with psycopg.connect(db.dsn, autocommit=True) as other:
        other.execute("SET lock_timeout = '200ms'")
        try:
            other.execute(_WRITE)
        except psycopg.errors.LockNotAvailable:
            return False
        return True


async def test_a_held_row_stays_locked_until_the_block_ends(database: PostgresDatabase) -> None:
    async def work(uow: SqlUnitOfWork) -> list[bool]:
        async with uow.statements.holding(_HOLD, {"id": 1}, hold_s=30) as rows:
            assert rows == [(0,)]
            return [_write_at_once(database), _write_at_once(database)]

    assert await database.run(work) == [False, False]  # the writer waited, twice
    assert _write_at_once(database)  # free once the block is over


async def test_a_session_holding_past_its_limit_is_ended_and_the_row_freed(
    database: PostgresDatabase,
) -> None:
    async def work(uow: SqlUnitOfWork) -> bool:
        async with uow.statements.holding(_HOLD, {"id": 1}, hold_s=0.5):
            # A stuck holder: the database ends its session, and the writer gets in.
            deadline = time.monotonic() + 20
            while not _write_at_once(database):
                assert time.monotonic() < deadline, "the row stayed locked"
            return True
        # Leaving the block on a dead connection raises nothing (its locks went with it).

    assert await database.run(work)
