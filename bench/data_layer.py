"""The data layer's CPU per simple statement, against a bare prepared psycopg statement.

Both read one seeded room by id, in this process, one call after another on a local
database, and count process CPU time (not wall time: the database's own work is in
another process). The bare side is the floor: a prepared statement on one psycopg
AsyncConnection, its row fetched. The data layer's side is what GetRoom's use case
costs below gRPC: a unit of work from the pool, the directory (cached), the room read,
its rounds and reminder offsets turned into domain objects.
"""

from __future__ import annotations

import asyncio
import statistics
import time
import uuid
from typing import Any

import psycopg

from scheduling_service.adapters.database import PostgresDatabase
from scheduling_service.adapters.rooms_sql import _GET
from scheduling_service.config import Settings
from scheduling_service.domain.users import User
from scheduling_service.service_layer.ports import UnitOfWork

CALLS = 3000


def measure(url: str, dsn: str, room_ids: list[str], calls: int = CALLS) -> dict[str, Any]:
    return asyncio.run(_measure(url, dsn, [uuid.UUID(r) for r in room_ids], calls))


ROUNDS = 6


async def _measure(url: str, dsn: str, room_ids: list[uuid.UUID], calls: int) -> dict[str, Any]:
    """Both sides in alternating rounds (the machine's other work hits both alike); the
    median round of each."""
    reader = User("reader", email="reader@example.test")
    ids = [room_ids[i % len(room_ids)] for i in range(calls // ROUNDS)]
    database = PostgresDatabase(url, Settings(db_pool_size=2, db_pool_overflow=0))
    await database.open()

    async def read(uow: UnitOfWork, room_id: uuid.UUID) -> object:
        await uow.directory.register(reader)
        return await uow.rooms.get(room_id, reader)

    bare, layer = [], []
    try:
        async with await psycopg.AsyncConnection.connect(
            dsn, autocommit=True, prepare_threshold=0
        ) as conn:
            for room_id in ids[:200]:  # warm: prepared, connections made, caches filled
                await (await conn.execute(_GET, {"room_id": room_id, "viewer": "r"})).fetchone()
                await database.run(lambda uow, r=room_id: read(uow, r))  # type: ignore[misc]
            for _ in range(ROUNDS):
                started = time.process_time()
                for room_id in ids:
                    cursor = await conn.execute(_GET, {"room_id": room_id, "viewer": "r"})
                    await cursor.fetchone()
                bare.append((time.process_time() - started) / len(ids) * 1e6)
                started = time.process_time()
                for room_id in ids:
                    await database.run(lambda uow, r=room_id: read(uow, r))  # type: ignore[misc]
                layer.append((time.process_time() - started) / len(ids) * 1e6)
    finally:
        await database.close()
    bare_us, layer_us = statistics.median(bare), statistics.median(layer)
    return {
        "calls": len(ids) * ROUNDS,
        "bare_us": round(bare_us, 1),
        "layer_us": round(layer_us, 1),
        "ratio": round(layer_us / bare_us, 2),
    }
