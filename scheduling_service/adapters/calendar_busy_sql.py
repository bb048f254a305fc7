"""Busy time in PostgreSQL: the connections due for a read (claimed under a lease, once
across replicas), the intervals each read leaves, and the overlap check a booking and a
search make against them."""

from __future__ import annotations

import uuid
from datetime import datetime

from scheduling_service.adapters.statements import Statements
from scheduling_service.domain.busy import BusyRead, BusyResult

# Wakes the busy readers: a connection became due (a connect).
CHANNEL = "calendar_busy"

# A kept sync token (and how far its read reached) is handed out only while it still
# describes the intervals kept: read with this connection, recorded with the last read
# recorded, and no failure since. A replica of the release before 0009 writes none of
# these columns: its connects change the generation, its reads `busy_read_time`, its
# failures `busy_attempts`.
TOKEN_HOLDS = """(k.busy_sync_generation = k.generation
                 AND k.busy_sync_read_time = k.busy_read_time AND k.busy_attempts = 0)"""
_CLAIM = f"""
    WITH due AS (
        SELECT user_id FROM calendar_connections
         WHERE state = 'active' AND busy_due_at <= now()
           AND (busy_lease_until IS NULL OR busy_lease_until < now())
         ORDER BY busy_due_at
         LIMIT %(limit)s
           FOR UPDATE SKIP LOCKED
    )
    UPDATE calendar_connections k
       SET busy_lease_token = %(token)s,
           busy_lease_until = now() + make_interval(secs => %(lease_s)s)
      FROM due WHERE k.user_id = due.user_id
    RETURNING k.user_id, k.calendar_url, k.sealed_credentials, k.generation, k.busy_attempts,
              CASE WHEN {TOKEN_HOLDS} THEN k.busy_sync_token END,
              CASE WHEN {TOKEN_HOLDS} THEN k.busy_covered_until END
"""
# Only while the lease and the connection's generation still hold: a read made with a
# connection since replaced records nothing. The old intervals go and the new ones come
# in one statement (the INSERT does not see the DELETE's rows, nor the DELETE the
# INSERT's). A sync token is recorded with the read's own time (now() is the
# transaction's, so equal to busy_read_time's): see TOKEN_HOLDS.
_FINISH = """
    WITH mine AS (
        UPDATE calendar_connections
           SET busy_due_at = %(next_read_at)s, busy_lease_token = NULL,
               busy_lease_until = NULL, busy_attempts = %(attempts)s,
               busy_read_time = CASE WHEN %(read)s THEN now() ELSE busy_read_time END,
               busy_covered_until = CASE WHEN %(replace)s THEN %(covered_until)s
                                         ELSE busy_covered_until END,
               busy_sync_token = NULLIF(%(sync_token)s, ''),
               busy_sync_generation = generation, busy_sync_read_time = now(),
               sealed_credentials = CASE WHEN %(resealed)s::bytea IS NULL
                                         THEN sealed_credentials ELSE %(resealed)s END
         WHERE user_id = %(user_id)s AND generation = %(generation)s
           AND busy_lease_token = %(token)s
        RETURNING user_id
    ), gone AS (
        DELETE FROM calendar_busy b USING mine
         WHERE %(replace)s AND b.user_id = mine.user_id
    )
    INSERT INTO calendar_busy (user_id, user_no, starts, ends)
    SELECT mine.user_id, u.user_no, i.starts, i.ends
      FROM mine JOIN users u ON u.user_id = mine.user_id,
           unnest(%(starts)s::timestamptz[], %(ends)s::timestamptz[]) AS i(starts, ends)
     WHERE %(replace)s
"""
# The exclusion constraint's shape of ranges, so the GiST index answers; only while the
# connection is active (a broken one's busy time is no longer read, so not trusted).
OVERLAPS = """
    EXISTS (
        SELECT 1 FROM calendar_busy b
          JOIN calendar_connections k ON k.user_id = b.user_id AND k.state = 'active'
         WHERE int8range(b.user_no, b.user_no, '[]')
               && int8range(%(busy_no)s::bigint, %(busy_no)s::bigint, '[]')
           AND tstzrange(b.starts, b.ends) && tstzrange({starts}, {ends})
    )
"""
_OVERLAPS_SESSION = "SELECT " + OVERLAPS.format(starts="%(starts)s", ends="%(ends)s")


class CalendarBusySql:
    def __init__(self, statements: Statements) -> None:
        self._statements = statements

    async def claim(self, token: uuid.UUID, limit: int, lease_s: float) -> list[BusyRead]:
        rows = await self._statements.execute(
            _CLAIM, {"token": token, "limit": limit, "lease_s": lease_s}
        )
        return [
            BusyRead(user_id, url, bytes(sealed), gen, n, sync_token or "", covered_until)
            for user_id, url, sealed, gen, n, sync_token, covered_until in rows
        ]

    async def finish(self, result: BusyResult) -> None:
        intervals = result.intervals or ()
        await self._statements.execute(
            _FINISH,
            {
                "user_id": result.read.user_id,
                "generation": result.read.generation,
                "token": result.token,
                "next_read_at": result.next_read_at,
                "attempts": result.attempts,
                "replace": result.intervals is not None,
                "read": result.attempts == 0,
                "covered_until": result.covered_until,
                "sync_token": result.sync_token,
                "resealed": result.resealed_credentials or None,
                "starts": [s for s, _ in intervals],
                "ends": [e for _, e in intervals],
            },
        )

    async def overlaps(self, user_no: int, starts: datetime, ends: datetime) -> bool:
        row = await self._statements.fetchone(
            _OVERLAPS_SESSION, {"busy_no": user_no, "starts": starts, "ends": ends}
        )
        return bool(row and row[0])
