"""Calendar feeds in PostgreSQL: the token hashes, each token's rate-limit bucket, the
sessions a feed shows and the tombstones of those cancelled or left.

A read spends from the token's bucket in the statement that finds the token, so one
limit holds across every replica, and a rotated or revoked token is gone for all of
them at the commit.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from psycopg.rows import TupleRow

from scheduling_service.adapters.statements import IF_GUARD_HELD, Statements
from scheduling_service.domain.calendar_feed import FeedSession, FeedWrites, Tombstone

# One live feed per user: a rotate replaces the hash (the old token ends with it) and
# starts a full bucket.
_ROTATE = """
    INSERT INTO calendar_feeds (user_id, token_hash, allowance, allowance_time, create_time)
    VALUES (%(user_id)s, %(hash)s, %(burst)s, %(now)s, %(now)s)
    ON CONFLICT (user_id) DO UPDATE
       SET token_hash = excluded.token_hash, allowance = excluded.allowance,
           allowance_time = excluded.allowance_time, create_time = excluded.create_time
"""
# The tombstones go with the feed (ON DELETE CASCADE).
_REVOKE = "DELETE FROM calendar_feeds WHERE user_id = %(user_id)s RETURNING 1"
# A token bucket: refilled at `per_s` up to `burst`, one spent per read. Its floor is -1:
# a client reading faster than the rate stays refused, one that slows down recovers.
_SPEND = """
    UPDATE calendar_feeds
       SET allowance = greatest(-1, least(%(burst)s, allowance + %(per_s)s
                         * greatest(0, extract(epoch FROM %(now)s - allowance_time))) - 1),
           allowance_time = greatest(allowance_time, %(now)s)
     WHERE token_hash = %(hash)s
    RETURNING user_id, token_hash, allowance
"""
_SESSIONS = """
    SELECT r.room_id, r.ics_uid, r.sequence, r.title, r.description, r.starts, r.ends,
           r.update_time, r.host_id = %(user_id)s, r.guest_id IS NOT NULL, o.name,
           d.numbers, d.topics
      FROM users u
      JOIN room_slots s ON s.user_no = u.user_no AND s.starts >= %(since)s - interval '8 hours'
      JOIN rooms r ON r.room_id = s.room_id
      LEFT JOIN users o
             ON o.user_id = CASE WHEN r.host_id = %(user_id)s THEN r.guest_id ELSE r.host_id END
      LEFT JOIN LATERAL (
          SELECT array_agg(d.number ORDER BY d.number) AS numbers,
                 array_agg(d.topic ORDER BY d.number) AS topics
            FROM rounds d WHERE d.room_id = r.room_id
      ) AS d ON true
     WHERE u.user_id = %(user_id)s AND r.ends >= %(since)s
     -- Past the limit, the oldest go first: the coming sessions are the ones that count.
     ORDER BY r.starts DESC, r.room_id DESC
     LIMIT %(limit)s
"""
_TOMBSTONES = """
    SELECT user_id, room_id, ics_uid, sequence, title, starts, ends, cancel_time
      FROM calendar_feed_tombstones
     WHERE user_id = %(user_id)s AND cancel_time >= %(since)s
     ORDER BY cancel_time DESC, room_id DESC
     LIMIT %(limit)s
"""
# Written in the change's transaction, only for users with a feed.
_BURY = f"""
    INSERT INTO calendar_feed_tombstones
           (user_id, room_id, ics_uid, sequence, title, starts, ends, cancel_time)
    SELECT f.user_id, t.room_id, t.ics_uid, t.sequence, t.title, t.starts, t.ends,
           t.cancel_time
      FROM unnest(%(users)s::text[], %(sequences)s::integer[]) AS g(user_id, sequence)
      JOIN calendar_feeds f ON f.user_id = g.user_id
     CROSS JOIN LATERAL (
          SELECT %(room_id)s::uuid AS room_id, %(ics_uid)s::text AS ics_uid,
                 g.sequence AS sequence, %(title)s::text AS title,
                 %(starts)s::timestamptz AS starts, %(ends)s::timestamptz AS ends,
                 %(cancel_time)s::timestamptz AS cancel_time
     ) AS t
     WHERE {IF_GUARD_HELD}
       -- A revoke committing meanwhile would fail the foreign key (and the change):
       -- the feed row is held until this commits, and the revoke waits.
       FOR KEY SHARE OF f
    ON CONFLICT (user_id, room_id) DO UPDATE
       SET ics_uid = excluded.ics_uid, sequence = excluded.sequence, title = excluded.title,
           starts = excluded.starts, ends = excluded.ends, cancel_time = excluded.cancel_time
"""
_UNBURY = f"""
    DELETE FROM calendar_feed_tombstones
     WHERE room_id = %(room_id)s AND user_id = ANY(%(users)s) AND {IF_GUARD_HELD}
"""
_PRUNE = "DELETE FROM calendar_feed_tombstones WHERE cancel_time < %(before)s"


class CalendarFeedsSql:
    def __init__(self, statements: Statements) -> None:
        self._statements = statements

    def record(self, writes: FeedWrites) -> None:
        """Queue what a change writes for the feeds, behind its guard."""
        if writes.tombstones:
            first = writes.tombstones[0]
            self._statements.queue(
                _BURY,
                {
                    "users": [t.user_id for t in writes.tombstones],
                    "sequences": [t.sequence for t in writes.tombstones],
                    "room_id": first.room_id,
                    "ics_uid": first.ics_uid,
                    "title": first.title,
                    "starts": first.starts,
                    "ends": first.ends,
                    "cancel_time": first.cancel_time,
                },
            )
        if writes.returned:
            self._statements.queue(
                _UNBURY, {"room_id": writes.room_id, "users": list(writes.returned)}
            )

    async def rotate(self, user_id: str, token_hash: bytes, now: datetime, burst: float) -> None:
        await self._statements.execute(
            _ROTATE, {"user_id": user_id, "hash": token_hash, "now": now, "burst": burst}
        )

    async def revoke(self, user_id: str) -> bool:
        return bool(await self._statements.execute(_REVOKE, {"user_id": user_id}))

    async def spend(
        self, token_hash: bytes, now: datetime, *, per_s: float, burst: float
    ) -> tuple[str, bytes, float] | None:
        """The owner of the token, its stored hash and what is left in its bucket after
        this read (below 0: refused); None when no feed has the token."""
        rows = await self._statements.execute(
            _SPEND, {"hash": token_hash, "now": now, "per_s": per_s, "burst": burst}
        )
        if not rows:
            return None
        user_id, stored, allowance = rows[0]
        return user_id, bytes(stored), allowance

    async def sessions(self, user_id: str, since: datetime, limit: int) -> list[FeedSession]:
        rows = await self._statements.fetchall(
            _SESSIONS, {"user_id": user_id, "since": since, "limit": limit}
        )
        return [_session(row) for row in rows]

    async def tombstones(self, user_id: str, since: datetime, limit: int) -> list[Tombstone]:
        rows = await self._statements.fetchall(
            _TOMBSTONES, {"user_id": user_id, "since": since, "limit": limit}
        )
        return [Tombstone(*row) for row in rows]

    async def prune(self, before: datetime) -> int:
        return len(await self._statements.execute(_PRUNE + " RETURNING 1", {"before": before}))


def _session(row: TupleRow) -> FeedSession:
    room_id, uid, sequence, title, description, starts, ends, updated = row[:8]
    hosting, booked, other_name, numbers, topics = row[8:]
    return FeedSession(
        room_id=uuid.UUID(str(room_id)),
        ics_uid=uid,
        sequence=sequence,
        title=title,
        description=description,
        rounds=tuple(zip(numbers or (), topics or (), strict=True)),
        starts=starts,
        ends=ends,
        update_time=updated,
        hosting=hosting,
        other_name=(other_name or "") if booked else None,
    )
