"""Statements on one pooled connection: what repositories talk to.

Reads (and the few writes that are their own transaction) run at once. The writes of a
change are queued behind its guard, the change's conditional write (e.g. "update the
room if it is still at SEQUENCE n"), and sent with BEGIN, the deadline's timeouts and
COMMIT in one pipeline (see adapters/database.py for why).
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import pq
from psycopg.rows import TupleRow as Row

from scheduling_service.domain.commit_result import CommitResult
from scheduling_service.domain.room import Room

Params = Sequence[Any] | dict[str, Any]
Acquire = Callable[[], Awaitable[psycopg.AsyncConnection[Row]]]
Release = Callable[[psycopg.AsyncConnection[Row]], Awaitable[None]]

# Set by the guard (the change's conditional write) when it applied; read by the writes
# that follow it.
GUARD_HELD = "SELECT set_config('scheduling.guard', 'held', true)"
IF_GUARD_HELD = "current_setting('scheduling.guard', true) = 'held'"
IF_GUARD_FAILED = "current_setting('scheduling.guard', true) IS DISTINCT FROM 'held'"

_SET_TIMEOUTS = (
    "SELECT set_config('statement_timeout', %(ms)s, true), set_config('lock_timeout', %(ms)s, true)"
)
_SET_HOLD_LIMIT = "SELECT set_config('idle_in_transaction_session_timeout', %(ms)s, true)"


@dataclass
class _Guard:
    sql: str
    params: Params
    # The room as it stands when the guard fails (None: no such read).
    current_sql: str | None
    current_params: Params | None
    load_current: Callable[[Row], Room] | None


class Statements:
    """What repositories talk to: statements on the unit of work's connection (not a
    SQLAlchemy Session: plain psycopg, a connection taken at the first statement)."""

    def __init__(
        self, acquire: Acquire, release: Release, timeout_ms: int | None, *, snapshot: bool
    ) -> None:
        self._acquire = acquire
        self._release = release
        self._timeout_ms = timeout_ms
        self._snapshot = snapshot
        self._conn: psycopg.AsyncConnection[Row] | None = None
        self._guard: _Guard | None = None
        self._queued: list[tuple[str, Params, bool]] = []
        self._after_commit: list[Callable[[], None]] = []
        self._cursors = itertools.count()
        # Whether a write was sent: after that, a failure may have committed.
        self.wrote = False

    async def _connection(self) -> psycopg.AsyncConnection[Row]:
        if self._conn is None:
            self._conn = await self._acquire()
            if self._snapshot:
                async with self._conn.pipeline():
                    await self._conn.execute(
                        "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY", prepare=False
                    )
                    # A watcher that reads its snapshot slowly keeps the transaction open
                    # between rows; its own bounded queue decides when it is too slow.
                    await self._conn.execute(
                        "SET LOCAL idle_in_transaction_session_timeout = 0", prepare=False
                    )
        return self._conn

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        cursor = await self._run(sql, params)
        return await cursor.fetchall()

    async def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        cursor = await self._run(sql, params)
        return await cursor.fetchone()

    async def execute(
        self, sql: str, params: Params = (), *, idempotent: bool = False
    ) -> list[Row]:
        """One statement that writes, on its own (it is its own transaction); its rows.
        `idempotent`: running it twice does no harm, so a lost connection may retry it."""
        self.wrote = self.wrote or not idempotent
        cursor = await self._run(sql, params)
        return await cursor.fetchall() if cursor.description else []

    async def _run(self, sql: str, params: Params) -> psycopg.AsyncCursor[Row]:
        """One statement at once, outside the queued writes (a read, or `execute`'s
        write that is its own transaction)."""
        conn = await self._connection()
        if self._timeout_ms is None or self._snapshot:
            return await conn.execute(sql, params)
        # A deadline shorter than the connection's ceiling: the statement runs in a
        # transaction of its own whose SET LOCAL dies with it, in the same round trip.
        async with conn.pipeline():
            await conn.execute("BEGIN", prepare=False)
            await conn.execute(_SET_TIMEOUTS, {"ms": str(self._timeout_ms)})
            cursor = await conn.execute(sql, params)
            await conn.execute("COMMIT", prepare=False)
        return cursor

    async def stream(self, sql: str, params: Params = ()) -> AsyncIterator[Row]:
        """Rows through a server-side cursor (a snapshot unit of work only)."""
        assert self._snapshot, "server-side cursors live in a snapshot's transaction"
        conn = await self._connection()
        async with conn.cursor(name=f"stream_{next(self._cursors)}") as cursor:
            await cursor.execute(sql, params)
            async for row in cursor:
                yield row

    def guard(
        self,
        sql: str,
        params: Params,
        *,
        current_sql: str | None = None,
        current_params: Params | None = None,
        load_current: Callable[[Row], Room] | None = None,
    ) -> None:
        """Queue the change's guard: a statement that runs GUARD_HELD when it applies.
        `current_sql` (with `WHERE {IF_GUARD_FAILED}`) reads what stands instead."""
        assert self._guard is None and not self._queued, "the guard goes first, once"
        self._guard = _Guard(sql, params, current_sql, current_params, load_current)

    def queue(self, sql: str, params: Params, *, revision: bool = False) -> None:
        """Queue a write that follows the guard (its SQL checks IF_GUARD_HELD).
        `revision`: its first column is the change's revision."""
        assert self._guard is not None, "a queued write follows a guard"
        self._queued.append((sql, params, revision))

    def after_commit(self, action: Callable[[], None]) -> None:
        """Run `action` once the queued writes committed with their guard held
        (counters of what now exists)."""
        self._after_commit.append(action)

    async def commit(self) -> CommitResult:
        guard = self._guard
        assert guard is not None, "nothing to commit"
        self._guard, queued, self._queued = None, self._queued, []
        after_commit, self._after_commit = self._after_commit, []
        conn = await self._connection()
        self.wrote = True
        revision_cursor = current_cursor = None
        try:
            async with conn.pipeline():
                await conn.execute("BEGIN", prepare=False)
                if self._timeout_ms is not None:
                    await conn.execute(_SET_TIMEOUTS, {"ms": str(self._timeout_ms)})
                guard_cursor = await conn.execute(guard.sql, guard.params)
                for sql, params, is_revision in queued:
                    cursor = await conn.execute(sql, params)
                    if is_revision:
                        revision_cursor = cursor
                if guard.current_sql is not None:
                    current_cursor = await conn.execute(guard.current_sql, guard.current_params)
                await conn.execute("COMMIT", prepare=False)
        except psycopg.Error:
            await _rollback(conn)
            raise
        if await guard_cursor.fetchone() is not None:
            row = await revision_cursor.fetchone() if revision_cursor is not None else None
            for action in after_commit:
                action()
            return CommitResult(applied=True, revision=int(row[0]) if row else 0)
        row = await current_cursor.fetchone() if current_cursor is not None else None
        loaded = guard.load_current(row) if row is not None and guard.load_current else None
        return CommitResult(applied=False, current=loaded)

    @contextlib.asynccontextmanager
    async def holding(self, sql: str, params: Params, *, hold_s: float) -> AsyncIterator[list[Row]]:
        """`sql`, a locking read (`FOR SHARE`), in a transaction left open until the block
        ends: the rows it locked stay locked across whatever the block awaits. The one
        exception to one-round-trip transactions, for where holding is the point (a
        reminder's hand-off, adapters/outbox_sql.py). Nothing is written, so it ends with
        a ROLLBACK whose failure is ignored (a connection that died took its locks with
        it). The database ends the session if the block outlives `hold_s`
        (idle_in_transaction_session_timeout): a stuck process keeps no row locked."""
        assert not self._snapshot, "a snapshot is read-only: it locks nothing"
        conn = await self._connection()
        try:
            async with conn.pipeline():
                await conn.execute("BEGIN", prepare=False)
                if self._timeout_ms is not None:
                    await conn.execute(_SET_TIMEOUTS, {"ms": str(self._timeout_ms)})
                await conn.execute(_SET_HOLD_LIMIT, {"ms": str(max(1, round(hold_s * 1000)))})
            # A round trip of its own, last: psycopg ends a pipeline with a flush request
            # after its Sync, and that message disarms the server's idle-in-transaction
            # timer until the next statement, so a transaction left open at the end of
            # a pipeline would never be ended by the limit (test_statements_hold.py).
            cursor = await conn.execute(sql, params)
            rows = await cursor.fetchall()
        except psycopg.Error:
            await _rollback(conn)
            raise
        try:
            yield rows
        finally:
            await _rollback(conn)

    async def close(self) -> None:
        if self._conn is None:
            return
        conn, self._conn = self._conn, None
        try:
            if conn.info.transaction_status != pq.TransactionStatus.IDLE:
                await _rollback(conn)
        finally:
            await self._release(conn)


async def _rollback(conn: psycopg.AsyncConnection[Row]) -> None:
    if conn.broken or conn.closed:
        return
    with contextlib.suppress(psycopg.Error):  # a broken connection: the pool discards it
        if conn.info.transaction_status == pq.TransactionStatus.INERROR:
            # An error inside a pipeline skips the statements queued after it, and a
            # statement psycopg meant to prepare at that execution was never parsed,
            # yet psycopg's cache (3.3) records it as prepared: its next use would fail
            # with "prepared statement does not exist". psycopg's own rollback() forgets
            # every prepared statement, on both sides; a plain ROLLBACK does not.
            # Every pipeline here opens with BEGIN, so any error in one lands here.
            await conn.rollback()
        else:
            await conn.execute("ROLLBACK", prepare=False)
