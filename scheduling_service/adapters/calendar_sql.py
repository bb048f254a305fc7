"""The copies of sessions in users' calendars, in PostgreSQL (domain/calendar.py says
what a copy is); the connections themselves are calendar_connections_sql.py's.

Races between a change and a connect: a change marks the copies of the people it
concerns only if they have a connection, and a connect writes copies of the rooms its
user is in; run side by side, each could miss the other. So both take the revision
counter's row lock first (a change updates it as its change-log write, and marks the
copies in the statement after it; a connect or a disconnect locks it as its guard), and
each statement after that lock sees whatever the other committed.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from psycopg.rows import TupleRow

from scheduling_service.adapters import calendar_connections_sql
from scheduling_service.adapters.rooms_sql import ROOM_COLUMNS, ROUNDS_JOIN, room_from_row
from scheduling_service.adapters.statements import IF_GUARD_HELD, Statements
from scheduling_service.domain.calendar import (
    ClaimedCopy,
    Connection,
    CopyResult,
    CopyState,
    VerifiedCalendar,
    WriteOutcome,
)
from scheduling_service.domain.outbox import FailedCopy
from scheduling_service.domain.users import Contact

CHANNEL = calendar_connections_sql.CHANNEL

# When a copy marked now is due: at once, or parked ('infinity', out of every claim's
# way) while its connection is broken, until a connect makes it due again.
_DUE = "CASE WHEN k.state = 'broken' THEN 'infinity'::timestamptz ELSE now() END"
# A change's copies: due again for everyone concerned who has a connection. Runs after
# the change-log write, under the counter's lock (see the module's docstring).
_MARK = f"""
    WITH marked AS (
        INSERT INTO calendar_copies (room_id, user_id, ics_uid, next_attempt_at)
        SELECT %(room_id)s, k.user_id, %(uid)s, {_DUE}
          FROM calendar_connections k
         WHERE k.user_id = ANY(%(users)s::text[]) AND {IF_GUARD_HELD}
        ON CONFLICT (room_id, user_id) DO UPDATE
           SET state = 'pending', version = calendar_copies.version + 1, attempts = 0,
               next_attempt_at = excluded.next_attempt_at, last_error = NULL,
               update_time = now()
        RETURNING 1
    )
    SELECT pg_notify('{CHANNEL}', '') FROM (SELECT 1 FROM marked LIMIT 1) AS any_row
"""
# Due copies of active (or removing) connections, taken under a lease, one per user at
# a time: a user's slow or hostile server (or a provider's rate limit) holds one of the
# relay's calls, never all of them, and one calendar is not written in parallel. What
# they are
# written from is read by _CLAIMED, in a statement of its own: this one's row locks see
# a change that committed while it ran (its new version), but its joins would still see
# the snapshot from before that change, and the old room would be written under the new
# version and never put right.
_LEASE = """
    WITH candidates AS (
        SELECT room_id, user_id, next_attempt_at FROM (
            SELECT c.room_id, c.user_id, c.next_attempt_at,
                   row_number() OVER (PARTITION BY c.user_id ORDER BY c.next_attempt_at)
                       AS nth
              FROM calendar_copies c
              JOIN calendar_connections k ON k.user_id = c.user_id
             WHERE c.state = 'pending' AND c.next_attempt_at <= now()
               AND (c.lease_until IS NULL OR c.lease_until < now())
               AND k.state IN ('active', 'removing')
               AND NOT EXISTS (
                   SELECT 1 FROM calendar_copies f
                    WHERE f.user_id = c.user_id AND f.lease_token IS NOT NULL
                      AND f.lease_until > now())
        ) AS ranked
         WHERE nth = 1
         ORDER BY next_attempt_at
         LIMIT %(limit)s
    ), due AS (
        SELECT c.room_id, c.user_id FROM calendar_copies c
          JOIN candidates USING (room_id, user_id)
         WHERE c.state = 'pending' AND (c.lease_until IS NULL OR c.lease_until < now())
           FOR UPDATE OF c SKIP LOCKED
    )
    UPDATE calendar_copies c
       SET lease_token = %(token)s, lease_until = now() + make_interval(secs => %(lease_s)s),
           attempts = c.attempts + 1, update_time = now()
      FROM due WHERE c.room_id = due.room_id AND c.user_id = due.user_id
"""
# The leased copies, each with its version, its connection, the room as it stands and
# the contacts its copy names, all from one snapshot (taken after the lease).
_CLAIMED = f"""
    SELECT c.room_id, c.user_id, c.ics_uid, c.version, c.attempts, c.href, c.etag,
           k.calendar_url, k.sealed_credentials, k.generation, k.state = 'removing',
           p.ids, p.emails, p.names, p.zones, {ROOM_COLUMNS}
      FROM calendar_copies c
      JOIN calendar_connections k ON k.user_id = c.user_id
      LEFT JOIN rooms r ON r.room_id = c.room_id {ROUNDS_JOIN}
      CROSS JOIN LATERAL (
          SELECT array_agg(u.user_id) AS ids, array_agg(u.email) AS emails,
                 array_agg(u.name) AS names, array_agg(u.zoneinfo) AS zones
            FROM users u WHERE u.user_id IN (c.user_id, r.host_id, r.guest_id)
      ) AS p
     WHERE c.lease_token = %(token)s
"""
_CLAIMED_WIDTH = 15
# Results, recorded only where the lease is still held. A copy changed during its
# attempt (its version rose) stays due: the next attempt writes the room as it is then.
_FINISH = """
    WITH r AS (
        SELECT * FROM unnest(%(rooms)s::uuid[], %(users)s::text[], %(tokens)s::uuid[],
                             %(versions)s::bigint[], %(states)s::text[], %(outcomes)s::text[],
                             %(hrefs)s::text[], %(etags)s::text[], %(errors)s::text[],
                             %(next)s::timestamptz[])
               AS r(room_id, user_id, token, version, state, outcome, href, etag, error,
                    next_attempt_at)
    ), done AS (
        UPDATE calendar_copies c
           SET state = CASE WHEN c.version = r.version THEN r.state ELSE 'pending' END,
               next_attempt_at = CASE WHEN c.version = r.version
                                      THEN coalesce(r.next_attempt_at, c.next_attempt_at)
                                      ELSE now() END,
               href = CASE WHEN r.outcome IN ('WRITTEN', 'REMOVED') THEN r.href ELSE c.href END,
               etag = CASE WHEN r.outcome IN ('WRITTEN', 'REMOVED') THEN r.etag ELSE c.etag END,
               lease_token = NULL, lease_until = NULL, last_error = r.error, update_time = now()
          FROM r
         WHERE c.room_id = r.room_id AND c.user_id = r.user_id AND c.lease_token = r.token
        RETURNING c.room_id, c.user_id, c.state, r.outcome
    ), wrote AS (
        UPDATE calendar_connections k SET last_write_time = now()
         WHERE k.user_id IN (SELECT user_id FROM done WHERE outcome IN ('WRITTEN', 'REMOVED'))
    )
    SELECT room_id, user_id, state FROM done
"""
# Credentials the notification service sealed anew (a newer key), for the generation
# they were read from.
_RESEAL = """
    UPDATE calendar_connections k SET sealed_credentials = s.sealed
      FROM unnest(%(users)s::text[], %(generations)s::bigint[], %(sealed)s::bytea[])
           AS s(user_id, generation, sealed)
     WHERE k.user_id = s.user_id AND k.generation = s.generation
"""
# The server refused the credentials of this generation: the connection breaks (once)
# and its owner is told, by the outbox's one e-mail.
_BREAK = """
    WITH broke AS (
        UPDATE calendar_connections
           SET state = 'broken', broken_reason = %(reason)s, update_time = now()
         WHERE user_id = %(user_id)s AND generation = %(generation)s AND state = 'active'
        RETURNING user_id
    ), parked AS (
        UPDATE calendar_copies c SET next_attempt_at = 'infinity'
          FROM broke WHERE c.user_id = broke.user_id AND c.state = 'pending'
           AND c.lease_token IS NULL
    ), notice AS (
        INSERT INTO notification_outbox
               (room_id, ics_uid, sequence, method, recipient_id, message, kind, state,
                last_error)
        SELECT %(room_id)s, %(uid)s, 0, 'NOTICE', user_id, %(message)s, 'notice', %(state)s,
               %(not_sent_reason)s
          FROM broke
        RETURNING state
    )
    SELECT pg_notify('notification_outbox', '') FROM notice WHERE state = 'pending'
"""
_FAILED = """
    SELECT room_id, user_id, ics_uid, attempts, last_error, update_time
      FROM calendar_copies WHERE state = 'failed' ORDER BY update_time, room_id
     LIMIT %(limit)s
"""
_RETRY = f"""
    WITH again AS (
        UPDATE calendar_copies
           SET state = 'pending', attempts = 0, next_attempt_at = now(), last_error = NULL,
               update_time = now()
         WHERE state = 'failed'
           AND (%(all)s OR (room_id, user_id) IN (
                SELECT * FROM unnest(%(rooms)s::uuid[], %(users)s::text[])))
        RETURNING room_id, user_id
    ), notified AS (
        SELECT pg_notify('{CHANNEL}', '') FROM (SELECT 1 FROM again LIMIT 1) AS any_row
    )
    SELECT room_id, user_id FROM again, (SELECT count(*) FROM notified) AS n
"""
# Removed copies are history, and so are written copies of sessions that ended before
# the retention (a disconnect with remove_events leaves those in the calendar); a copy
# whose connection is gone has nowhere to go.
_PURGE = """
    WITH gone AS (
        DELETE FROM calendar_copies c
         WHERE (c.state = 'removed' AND c.update_time < %(before)s)
            OR (c.state = 'written' AND c.update_time < %(before)s AND NOT EXISTS (
                SELECT 1 FROM rooms r WHERE r.room_id = c.room_id AND r.ends >= %(before)s))
            OR NOT EXISTS (SELECT 1 FROM calendar_connections k WHERE k.user_id = c.user_id)
        RETURNING 1
    )
    SELECT count(*) FROM gone
"""
_STATS = """
    SELECT count(*) FILTER (WHERE c.state = 'pending' AND k.state <> 'broken'),
           count(*) FILTER (WHERE c.state = 'pending' AND k.state = 'broken'),
           count(*) FILTER (WHERE c.state = 'failed')
      FROM calendar_copies c JOIN calendar_connections k ON k.user_id = c.user_id
     WHERE c.state IN ('pending', 'failed')
"""


class CalendarSql:
    def __init__(self, statements: Statements) -> None:
        self._statements = statements

    def mark(self, room_id: uuid.UUID, ics_uid: str, users: tuple[str, ...]) -> None:
        """Queue a change's copies (after its change-log write)."""
        if users:
            self._statements.queue(
                _MARK, {"room_id": room_id, "uid": ics_uid, "users": list(users)}
            )

    def connect(self, user_id: str, verified: VerifiedCalendar, email_invites: bool) -> None:
        calendar_connections_sql.connect(self._statements, user_id, verified, email_invites)

    def disconnect(self, user_id: str, *, remove_events: bool) -> None:
        calendar_connections_sql.disconnect(self._statements, user_id, remove_events=remove_events)

    async def get(self, user_id: str) -> Connection | None:
        return await calendar_connections_sql.get(self._statements, user_id)

    async def claim(self, token: uuid.UUID, limit: int, lease_s: float) -> list[ClaimedCopy]:
        await self._statements.execute(_LEASE, {"token": token, "limit": limit, "lease_s": lease_s})
        # Read-only: should the connection drop here, the lease ends and the copies go
        # again; nothing is lost.
        rows = await self._statements.fetchall(_CLAIMED, {"token": token})
        return [_claimed(row) for row in rows]

    async def finish(self, results: list[CopyResult]) -> dict[tuple[uuid.UUID, str], CopyState]:
        rows = await self._statements.execute(
            _FINISH,
            {
                "rooms": [r.copy.room_id for r in results],
                "users": [r.copy.user_id for r in results],
                "tokens": [r.token for r in results],
                "versions": [r.copy.version for r in results],
                "states": [r.state.value for r in results],
                "outcomes": [r.attempt.outcome.value for r in results],
                "hrefs": [_written(r, r.attempt.href) for r in results],
                "etags": [_written(r, r.attempt.etag) for r in results],
                "errors": [r.attempt.detail or None for r in results],
                "next": [r.next_attempt_at for r in results],
            },
        )
        resealed = [r for r in results if r.attempt.resealed_credentials]
        if resealed:
            await self._statements.execute(
                _RESEAL,
                {
                    "users": [r.copy.user_id for r in resealed],
                    "generations": [r.copy.generation for r in resealed],
                    "sealed": [r.attempt.resealed_credentials for r in resealed],
                },
            )
        removing = sorted({r.copy.user_id for r in results if r.copy.removing})
        if removing:
            await self._statements.execute(
                calendar_connections_sql.FORGET_REMOVED, {"users": removing}
            )
        return {(row[0], row[1]): CopyState(row[2]) for row in rows}

    async def break_connection(
        self, result: CopyResult, notice: bytes | None, not_sent_reason: str | None
    ) -> bool:
        """Whether this result broke the connection (it was still active, with the
        credentials the attempt used); its owner's notice is queued with it."""
        copy = result.copy
        rows = await self._statements.execute(
            _BREAK,
            {
                "user_id": copy.user_id,
                "generation": copy.generation,
                "reason": result.attempt.detail,
                "room_id": copy.room_id,
                "uid": copy.ics_uid,
                "message": notice or b"",
                "state": "pending" if notice else "skipped",
                "not_sent_reason": not_sent_reason,
            },
        )
        return bool(rows)

    async def failed(self, limit: int) -> list[FailedCopy]:
        rows = await self._statements.fetchall(_FAILED, {"limit": limit})
        return [FailedCopy(*row) for row in rows]

    async def retry_failed(
        self, keys: list[tuple[uuid.UUID, str]] | None
    ) -> list[tuple[uuid.UUID, str]]:
        rows = await self._statements.execute(
            _RETRY,
            {
                "all": keys is None,
                "rooms": [k[0] for k in keys or ()],
                "users": [k[1] for k in keys or ()],
            },
        )
        return [(row[0], row[1]) for row in rows]

    async def purge(self, before: datetime) -> int:
        rows = await self._statements.execute(_PURGE, {"before": before}, idempotent=True)
        return int(rows[0][0])

    async def stats(self) -> tuple[int, int, int]:
        """(pending, waiting for a broken connection, failed)."""
        row = await self._statements.fetchone(_STATS)
        assert row is not None
        return int(row[0]), int(row[1]), int(row[2])


def _written(result: CopyResult, value: str) -> str | None:
    """What the copy's href or ETag becomes: the server's, or none once removed."""
    if result.attempt.outcome is WriteOutcome.WRITTEN:
        return value or None
    return None


def _claimed(row: TupleRow) -> ClaimedCopy:
    (room_id, user_id, uid, version, attempts, href, etag, url, sealed, generation, removing) = row[
        :11
    ]
    ids, emails, names, zones = row[11:_CLAIMED_WIDTH]
    room_row = row[_CLAIMED_WIDTH:]
    contacts = {
        user: Contact(user, email, name, zone)
        for user, email, name, zone in zip(
            ids or (), emails or (), names or (), zones or (), strict=True
        )
    }
    return ClaimedCopy(
        room_id=room_id,
        user_id=user_id,
        ics_uid=uid,
        version=version,
        attempts=attempts,
        href=href,
        etag=etag,
        calendar_url=url,
        sealed_credentials=bytes(sealed),
        generation=generation,
        removing=removing,
        room=room_from_row(room_row) if room_row[0] is not None else None,
        contacts=contacts,
    )
