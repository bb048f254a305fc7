"""Transactions: one unit of work per attempt, retried on deadlocks and serialization
failures, with PostgreSQL errors turned into what the caller can act on."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from types import TracebackType
from typing import TypeVar

import psycopg
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from scheduling_service.adapters.outbox import OutboxRepository
from scheduling_service.adapters.repository import RoomRepository
from scheduling_service.domain import errors
from scheduling_service.domain.room import Change, Room


class ServiceUnavailable(Exception):
    """The database cannot be reached or is too busy; the caller may retry."""


T = TypeVar("T")
log = logging.getLogger(__name__)

_RETRYABLE = {"40001", "40P01"}  # serialization failure, deadlock detected
_EXCLUSION_VIOLATION = "23P01"
_BUSY = {"55P03", "57014"}  # lock timeout, statement timeout (both follow the deadline)
_SET_TIMEOUTS = text(
    "SELECT set_config('statement_timeout', :ms, true), set_config('lock_timeout', :ms, true)"
)


@asynccontextmanager
async def database_errors() -> AsyncIterator[None]:
    """PostgreSQL's failures as what the caller can act on (outside a unit of work too)."""
    try:
        yield
    except (DBAPIError, psycopg.Error) as error:
        # psycopg's own errors reach here from the one statement run on the driver
        # connection (UnitOfWork.commit_change); everything else comes wrapped.
        orig = error.orig if isinstance(error, DBAPIError) else error
        state = getattr(orig, "sqlstate", None)
        if state == _EXCLUSION_VIOLATION:
            raise errors.ScheduleConflict(
                "the time overlaps another session of the host or the guest"
            ) from error
        if state in _BUSY or state in _RETRYABLE:
            raise ServiceUnavailable("the database is busy; retry") from error
        # Connection trouble, an administrator's shutdown, a database refusing
        # connections: psycopg raises all of these as OperationalError.
        invalidated = isinstance(error, DBAPIError) and error.connection_invalidated
        if invalidated or isinstance(orig, psycopg.OperationalError):
            raise ServiceUnavailable("the database is unreachable") from error
        raise
    except (PoolTimeout, OSError) as error:
        raise ServiceUnavailable("the database is unreachable") from error


def _worth_retrying(error: DBAPIError | psycopg.Error, uow: UnitOfWork) -> str | None:
    """Why the whole transaction may simply run again, or None."""
    orig = error.orig if isinstance(error, DBAPIError) else error
    state = getattr(orig, "sqlstate", None)
    if state in _RETRYABLE:
        return f"sqlstate {state}"
    # A pooled connection the database dropped (a restart, an idle timeout) fails at
    # first use; nothing was committed, so a fresh connection may go again. Once
    # COMMIT was sent, whether it took is unknown: never again then.
    if isinstance(error, DBAPIError) and error.connection_invalidated and not uow.commit_started:
        return "stale connection"
    return None


class UnitOfWork:
    """One transaction: `rooms` and `outbox` work in it; `commit()` ends it well."""

    rooms: RoomRepository
    outbox: OutboxRepository

    def __init__(
        self, engine: AsyncEngine, timeout_ms: int | None, *, read_only: bool = False
    ) -> None:
        self._engine = engine
        self._timeout_ms = timeout_ms
        self._read_only = read_only
        self._conn: AsyncConnection | None = None
        self._after_commit: list[Callable[[], None]] = []
        self.commit_started = False

    async def __aenter__(self) -> UnitOfWork:
        self._conn = await self._engine.connect()
        try:
            if self._read_only and self._timeout_ms is None:
                # One statement needs no transaction: no BEGIN and ROLLBACK round trips.
                # (With a deadline to honour it takes the transaction and its SET LOCAL,
                # so that no setting outlives the call on a pooled connection.)
                self._conn = await self._conn.execution_options(isolation_level="AUTOCOMMIT")
            else:
                await self._conn.begin()
                if self._timeout_ms is not None:
                    await self._conn.execute(_SET_TIMEOUTS, {"ms": str(self._timeout_ms)})
        except BaseException:
            await self._conn.close()
            raise
        self.rooms = RoomRepository(self._conn)
        self.outbox = OutboxRepository(self._conn, self._after_commit.append)
        return self

    async def commit(self) -> None:
        """Commit, then run what waited for it (counters of what now exists)."""
        assert self._conn is not None
        self.commit_started = True
        await self._conn.commit()
        for action in self._after_commit:
            action()

    async def commit_change(
        self, change: Change, before: Room | None, after: Room, now: datetime
    ) -> int:
        """Record the change in the change log as the last statement, and commit with
        it in one round trip; returns the change's revision."""
        self.commit_started = True
        revision = await self.rooms.record_change_and_commit(change, before, after, now)
        await self.commit()
        return revision

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._conn is not None
        try:
            if self._conn.in_transaction():
                await self._conn.rollback()
        finally:
            await self._conn.close()


class Transactions:
    """Runs work in a fresh unit of work, retrying what PostgreSQL says may succeed."""

    def __init__(self, engine: AsyncEngine, attempts: int, statement_timeout_ms: int) -> None:
        self._engine = engine
        self._attempts = attempts
        self._statement_timeout_ms = statement_timeout_ms

    async def run(
        self,
        work: Callable[[UnitOfWork], Awaitable[T]],
        *,
        time_left_s: float | None = None,
        read_only: bool = False,
    ) -> T:
        """`read_only` work is a single statement run outside a transaction."""
        deadline = None if time_left_s is None else time.monotonic() + time_left_s
        attempt = 0
        while True:
            attempt += 1
            uow = UnitOfWork(self._engine, self._timeout_ms(deadline), read_only=read_only)
            async with database_errors():
                try:
                    async with uow:
                        return await work(uow)
                except (DBAPIError, psycopg.Error) as error:
                    why = _worth_retrying(error, uow)
                    if why is None or attempt >= self._attempts:
                        raise
                    log.info("transaction retried", extra={"fields": {"because": why}})
            await asyncio.sleep(random.uniform(0, 0.005 * 2**attempt))

    def _timeout_ms(self, deadline: float | None) -> int | None:
        """What is left of the caller's deadline, for this attempt's statements; None
        when the session's own ceiling (DB_STATEMENT_TIMEOUT_MS) is shorter anyway."""
        if deadline is None:
            return None
        left_ms = int((deadline - time.monotonic()) * 1000)
        return max(1, left_ms) if left_ms < self._statement_timeout_ms else None
