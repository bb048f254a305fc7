"""The service's own database object, opened on a test's database."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from scheduling_service.adapters.database import PostgresDatabase
from scheduling_service.config import Settings


@asynccontextmanager
async def opened(url: str) -> AsyncIterator[PostgresDatabase]:
    """The service's own database object on `url`, its pool open for the test."""
    db = PostgresDatabase(url, Settings(db_pool_size=2, db_pool_overflow=0))
    await db.open()
    try:
        yield db
    finally:
        await db.close()
