"""The one place that acquires PostgreSQL connections: a psycopg pool, and the unit of
work every database conversation of the service goes through.

A unit of work takes a pooled connection at its first statement (a caller whose
directory entry is cached may need none) and gives it back at the end. Reads run at
once, outside a transaction. The writes of a change are queued and sent together with
BEGIN, the deadline's timeouts and COMMIT in one pipeline, so one round trip carries
the whole transaction and no lock waits on this event loop:

    BEGIN; [SET LOCAL timeouts]; the guard; the writes that follow it;
    [the room as it stands, if the guard failed]; COMMIT

The guard is a conditional write (e.g. "update the room if it is still at SEQUENCE n")
that marks the transaction when it applies (`GUARD_HELD`); every later write of the
change carries `WHERE {IF_GUARD_HELD}`, so a lost race writes nothing and costs no extra
round trip to find out why.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import select
import time
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any, NoReturn, TypeVar

import psycopg
from psycopg_pool import AsyncConnectionPool, PoolTimeout
from sqlalchemy import Connection, create_engine
from sqlalchemy.engine import make_url

from scheduling_service.adapters.calendar_busy_sql import CalendarBusySql
from scheduling_service.adapters.calendar_feeds_sql import CalendarFeedsSql
from scheduling_service.adapters.calendar_sql import CalendarSql
from scheduling_service.adapters.change_log_sql import ChangeLogSql
from scheduling_service.adapters.directory_sql import DirectoryCache, DirectorySql
from scheduling_service.adapters.outbox_sql import OutboxSql
from scheduling_service.adapters.rooms_sql import RoomsSql
from scheduling_service.adapters.statements import Row, Statements
from scheduling_service.adapters.waitlist_sql import WaitlistSql
from scheduling_service.config import Settings
from scheduling_service.domain import errors
from scheduling_service.domain.commit_result import CommitResult
from servicekit.logs import get_logger

T = TypeVar("T")
log = get_logger(__name__)

_RETRYABLE = {"40001", "40P01"}  # serialization failure, deadlock detected
_EXCLUSION_VIOLATION = "23P01"
_BUSY = {"55P03", "57014"}  # lock timeout, statement timeout (both follow the deadline)
# A pooled connection idle this long is checked before use: the database may have
# dropped it (a restart, an idle timeout). Busy connections are not pinged.
_CHECK_IDLE_AFTER_S = 5.0
_RECONNECT_S = 2.0
# How long a caller waits for a connection while the database is known to be down.
_UNREACHABLE_WAIT_S = 1.0


def sqlalchemy_url(url: str) -> str:
    """Accept plain `postgresql://` URLs too, and always use the psycopg 3 driver."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres", "postgresql+psycopg2"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


@contextmanager
def migration_connection(url: str, *, transaction: bool = False) -> Iterator[Connection]:
    """Alembic's connection: migrations and the start-up schema check run on SQLAlchemy.
    `transaction`: inside one transaction, committed at the end (a migration)."""
    engine = create_engine(sqlalchemy_url(url), connect_args={"connect_timeout": 5})
    try:
        with engine.begin() if transaction else engine.connect() as connection:
            yield connection
    finally:
        engine.dispose()


def server_encoding(url: str) -> str:
    """The database's encoding, read with psycopg alone: SQLAlchemy's first connect to a
    SQL_ASCII database already fails, with a TypeError that names nothing."""
    with psycopg.connect(libpq_url(url), connect_timeout=5) as conn:
        raw = conn.pgconn.parameter_status(b"server_encoding") or b"unknown"
    return raw.decode("ascii", "replace")


def libpq_url(url: str) -> str:
    """The database as a libpq URL: SQLAlchemy-style `postgresql+psycopg://` (the form
    DATABASE_URL documents, which Alembic uses) and plain `postgresql://` alike."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


class SqlUnitOfWork:
    """The unit of work over one connection's Statements: repositories, commit, ping."""

    def __init__(self, statements: Statements, directory_cache: DirectoryCache) -> None:
        self.statements = statements
        self.rooms = RoomsSql(statements)
        self.outbox = OutboxSql(statements)
        self.calendars = CalendarSql(statements)
        self.directory = DirectorySql(statements, directory_cache)
        self.changes = ChangeLogSql(statements)
        self.feeds = CalendarFeedsSql(statements)
        self.busy = CalendarBusySql(statements)
        self.waitlist = WaitlistSql(statements)

    async def commit(self) -> CommitResult:
        return await self.statements.commit()

    async def ping(self) -> None:
        await self.statements.fetchone("SELECT 1")


class PostgresDatabase:
    def __init__(self, url: str, settings: Settings) -> None:
        self.dsn = libpq_url(url)
        self._attempts = settings.db_retry_attempts
        self._statement_timeout_ms = settings.db_statement_timeout_ms
        self._last_used: weakref.WeakKeyDictionary[psycopg.AsyncConnection[Row], float] = (
            weakref.WeakKeyDictionary()
        )
        self._directory_cache = DirectoryCache()
        self._pool_timeout_s = settings.db_pool_timeout_s
        self._max_size = settings.db_pool_size + settings.db_pool_overflow
        # When the last attempt to connect failed: callers then wait briefly for a
        # connection instead of the whole pool timeout (the database is down; say so).
        self._connect_failed = False
        self._pool: AsyncConnectionPool[psycopg.AsyncConnection[Row]] = AsyncConnectionPool(
            self.dsn,
            connection_class=self._connection_class(),
            min_size=settings.db_pool_size,
            max_size=self._max_size,
            timeout=settings.db_pool_timeout_s,
            # A background attempt to replace a connection gives up soon: the pool then
            # grows on demand, at once, instead of after an ever longer backoff.
            reconnect_timeout=_RECONNECT_S,
            open=False,
            name="scheduling",
            kwargs={
                "autocommit": True,
                "prepare_threshold": settings.db_prepare_threshold,
                "options": f"-c statement_timeout={settings.db_statement_timeout_ms}"
                f" -c lock_timeout={settings.db_statement_timeout_ms}"
                " -c idle_in_transaction_session_timeout=60000 -c timezone=UTC",
                "application_name": "scheduling_service",
                "connect_timeout": 5,
            },
            configure=self._configure,
        )

    async def open(self) -> None:
        """Open the pool; its connections are made in the background."""
        await self._pool.open(wait=False)

    async def close(self) -> None:
        await self._pool.close()

    async def run(
        self,
        work: Callable[[SqlUnitOfWork], Awaitable[T]],
        *,
        time_left_s: float | None = None,
    ) -> T:
        deadline = None if time_left_s is None else time.monotonic() + time_left_s
        for attempt in itertools.count(1):
            statements = Statements(
                self._acquire, self._release, self._timeout_ms(deadline), snapshot=False
            )
            try:
                try:
                    return await work(SqlUnitOfWork(statements, self._directory_cache))
                finally:
                    await statements.close()
            except psycopg.Error as error:
                why = _worth_retrying(error, statements)
                if why is None or attempt >= self._attempts:
                    _raise_as_domain_error(error)
                log.info("transaction retried", because=why)
            except PoolTimeout as error:
                raise errors.Unavailable("the database is unreachable or too busy") from error
            await asyncio.sleep(random.uniform(0, 0.005 * 2**attempt))
        raise AssertionError("unreachable")

    @asynccontextmanager
    async def snapshot(self) -> AsyncIterator[SqlUnitOfWork]:
        statements = Statements(self._acquire, self._release, None, snapshot=True)
        try:
            yield SqlUnitOfWork(statements, self._directory_cache)
        except psycopg.Error as error:
            _raise_as_domain_error(error)
        except PoolTimeout as error:
            raise errors.Unavailable("the database is unreachable or too busy") from error
        finally:
            await statements.close()

    async def connect_listener(self, application_name: str) -> psycopg.AsyncConnection[Any]:
        """A connection of its own for LISTEN: a session outside the pool (PgBouncer in
        transaction mode breaks LISTEN)."""
        return await psycopg.AsyncConnection.connect(
            self.dsn, autocommit=True, application_name=application_name, connect_timeout=5
        )

    async def _acquire(self) -> psycopg.AsyncConnection[Row]:
        """A pooled connection that is alive, as far as can be told without a round trip.

        One that may be dead (idle a while, or something arrived on it while idle: a
        session the database ended sends its FATAL and closes) is pinged first, and
        a dead one is handed back for the pool to replace. This matters because a
        change's writes go with their COMMIT: once sent, a lost connection cannot be
        retried safely.
        """
        for _ in range(self._max_size + 1):
            wait_s = _UNREACHABLE_WAIT_S if self._connect_failed else self._pool_timeout_s
            conn = await self._pool.getconn(timeout=min(wait_s, self._pool_timeout_s))
            idle_s = time.monotonic() - self._last_used.get(conn, 0.0)
            suspect = (
                idle_s > _CHECK_IDLE_AFTER_S or select.select([conn.pgconn.socket], [], [], 0)[0]
            )
            if not suspect:
                return conn
            try:
                await conn.execute("")
                return conn
            except psycopg.Error:
                await self._pool.putconn(conn)  # broken: the pool discards it
        raise errors.Unavailable("the database is unreachable")

    async def _release(self, conn: psycopg.AsyncConnection[Row]) -> None:
        self._last_used[conn] = time.monotonic()
        await self._pool.putconn(conn)

    async def _configure(self, conn: psycopg.AsyncConnection[Row]) -> None:
        self._last_used[conn] = time.monotonic()

    def _connection_class(self) -> type[psycopg.AsyncConnection[Row]]:
        database = self

        class Connection(psycopg.AsyncConnection[Row]):
            """Notes whether the database could be reached the last time we tried."""

            @classmethod
            async def connect(cls, *args: Any, **kwargs: Any) -> Any:
                try:
                    conn = await super().connect(*args, **kwargs)
                except psycopg.OperationalError:
                    database._connect_failed = True
                    raise
                database._connect_failed = False
                return conn

        return Connection

    def _timeout_ms(self, deadline: float | None) -> int | None:
        """What is left of the caller's deadline, for this attempt's statements; None
        when the session's own ceiling (DB_STATEMENT_TIMEOUT_MS) is shorter anyway."""
        if deadline is None:
            return None
        left_ms = int((deadline - time.monotonic()) * 1000)
        return max(1, left_ms) if left_ms < self._statement_timeout_ms else None


def _worth_retrying(error: psycopg.Error, statements: Statements) -> str | None:
    """Why the whole unit of work may simply run again, or None."""
    if error.sqlstate in _RETRYABLE:
        return f"sqlstate {error.sqlstate}"
    # A connection the database dropped fails at first use; while nothing was written,
    # another connection may go again. Once a write was sent, whether it took is
    # unknown: never again then.
    if isinstance(error, psycopg.OperationalError) and not statements.wrote:
        return "connection lost before anything was written"
    return None


def _raise_as_domain_error(error: psycopg.Error) -> NoReturn:
    """PostgreSQL's failures as what the caller can act on; anything else as it is."""
    state = error.sqlstate
    if state == _EXCLUSION_VIOLATION:
        raise errors.ScheduleConflict(
            "the time overlaps another session of the host or the guest"
        ) from error
    if state in _BUSY or state in _RETRYABLE:
        raise errors.Unavailable("the database is busy; retry") from error
    # Connection trouble, an administrator's shutdown, a database refusing connections:
    # psycopg raises all of these as OperationalError.
    if isinstance(error, psycopg.OperationalError):
        raise errors.Unavailable("the database is unreachable") from error
    raise error
