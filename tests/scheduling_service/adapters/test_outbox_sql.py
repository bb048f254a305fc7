"""The outbox's figures for the metrics: what is late, not what is merely scheduled."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import psycopg
import pytest

from scheduling_service.adapters.database import PostgresDatabase, SqlUnitOfWork, libpq_url
from scheduling_service.domain.outbox import OutboxStats
from tests import postgres
from tests.scheduling_service.adapters.harness import opened

pytestmark = pytest.mark.slow  # starts PostgreSQL

_ROW = """
    INSERT INTO notification_outbox (room_id, ics_uid, sequence, method, recipient_id, message,
                                     state, kind, create_time, next_attempt_at, session_start,
                                     offset_s)
    VALUES (%(room)s::uuid, %(room)s::text || '@x', 1, %(method)s, 'someone', '',
            %(state)s, %(kind)s,
            now() - %(age)s * interval '1 s', now(),
            now() + %(starts_in)s * interval '1 s', %(offset)s)
"""


@pytest.fixture
async def database(postgres_server: str) -> AsyncIterator[PostgresDatabase]:
    with postgres.migrated_database(postgres_server) as url:
        async with opened(url) as db:
            yield db


def _insert(db: PostgresDatabase, *, kind: str, state: str, age: int = 0, **reminder: int) -> None:
    with psycopg.connect(libpq_url(db.dsn)) as conn:
        conn.execute(
            _ROW,
            {
                "room": str(uuid.uuid4()),
                "method": "REQUEST" if kind == "invite" else "REMINDER",
                "state": state,
                "kind": kind,
                "age": age,
                "starts_in": reminder.get("starts_in"),
                "offset": reminder.get("offset"),
            },
        )


async def test_stats_count_due_messages_only_and_age_them_from_their_due_time(
    database: PostgresDatabase,
) -> None:
    _insert(database, kind="invite", state="pending", age=60)
    _insert(database, kind="invite", state="delivered", age=7200)
    _insert(database, kind="invite", state="failed", age=3600)
    # Written long ago, due next week: scheduled, not waiting.
    _insert(database, kind="reminder", state="pending", age=86400, starts_in=7 * 86400, offset=3600)
    # The session starts in 30 minutes, its one-hour reminder was due 30 minutes ago.
    _insert(database, kind="reminder", state="pending", age=86400, starts_in=1800, offset=3600)

    async def stats(uow: SqlUnitOfWork) -> OutboxStats:
        return await uow.outbox.stats()

    figures = await database.run(stats)

    assert (figures.pending, figures.failed) == (2, 1)
    assert 1800 <= figures.oldest_pending_s < 1800 + 60
