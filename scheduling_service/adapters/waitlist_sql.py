"""Waitlists in PostgreSQL (docs/design.md §16): the line and its hold as read with a
room, the guard of the waitlist's own changes, what a change writes for the waitlist
(the domain's WaitlistWrites, executed), and the holds that came due.

Every change that moves a waitlist takes the room's row lock and is guarded by the
room's revision, which every change stamps: a booking, a leave, a join and a lapse of
one room go one at a time, and each decided on the waitlist it writes over (a booking
cannot slip past a hold passed on meanwhile, nor a leave past someone who just joined).
"""

from __future__ import annotations

import functools
import logging
from datetime import datetime

from psycopg.rows import TupleRow

from scheduling_service import metrics
from scheduling_service.adapters import outbox_messages
from scheduling_service.adapters.statements import GUARD_HELD, IF_GUARD_HELD, Statements
from scheduling_service.domain.room import Room
from scheduling_service.domain.waitlist import Waitlist
from scheduling_service.domain.waitlist_changes import DueHold, NoticeToWrite, WaitlistWrites
from servicekit.logs import get_logger

log = get_logger(__name__)

# Joined to `rooms r`: the line in order and the hold's end; their columns, after the
# room's own (rooms_sql.py reads them into Room.waitlist).
JOIN = """
    LEFT JOIN LATERAL (
        SELECT array_agg(w.user_id ORDER BY w.place) AS waiting,
               max(w.hold_until) AS hold_until
          FROM room_waitlist w WHERE w.room_id = r.room_id
    ) AS wl ON true
"""
COLUMNS = "wl.waiting, wl.hold_until"
WIDTH = 2

# Whether `rooms r` is held for someone other than %(viewer)s whose hold still runs at
# %(now)s (a hold past its end still stands until it is passed on: Waitlist.check_booking).
HELD_FROM_VIEWER = """
    EXISTS (SELECT 1 FROM room_waitlist h
             WHERE h.room_id = r.room_id AND h.hold_until IS NOT NULL
               AND NOT (h.user_id = %(viewer)s AND h.hold_until > %(now)s))
"""

# The guard of a join, a leave of the line or a lapse: the room is still the version
# the rules saw, and stays so (its row locked) until the commit.
_LOCK = f"""
    WITH locked AS (
        SELECT 1 FROM rooms
         WHERE room_id = %(room_id)s AND sequence = %(seen_sequence)s
           AND revision = %(seen_revision)s
           FOR UPDATE
    )
    {GUARD_HELD} FROM locked
"""
# What a change writes for the waitlist, in this order: who left the line, who joined
# it (in order, so at its end), the hold (at most one per room: the old holder's row is
# cleared, or gone, before the new one is set).
_REMOVE = f"""
    DELETE FROM room_waitlist
     WHERE room_id = %(room_id)s AND user_id = ANY(%(users)s::text[]) AND {IF_GUARD_HELD}
"""
_ADD = f"""
    INSERT INTO room_waitlist (room_id, user_id, join_time)
    SELECT %(room_id)s, a.user_id, %(now)s
      FROM unnest(%(users)s::text[]) WITH ORDINALITY AS a(user_id, n)
     WHERE {IF_GUARD_HELD}
     ORDER BY a.n
"""
_CLEAR_HOLD = f"""
    UPDATE room_waitlist SET hold_until = NULL
     WHERE room_id = %(room_id)s AND hold_until IS NOT NULL
       AND user_id IS DISTINCT FROM %(holder)s AND {IF_GUARD_HELD}
"""
_SET_HOLD = f"""
    UPDATE room_waitlist SET hold_until = %(until)s
     WHERE room_id = %(room_id)s AND user_id = %(holder)s AND {IF_GUARD_HELD}
"""
# The e-mails: older ones to the same people still pending (not in flight) are
# superseded, then the new ones recorded (the statement's one snapshot: what it adds is
# not what it supersedes), and the relays woken.
_NOTICES = f"""
    WITH superseded AS (
        UPDATE notification_outbox SET state = 'superseded', update_time = now()
         WHERE room_id = %(room_id)s AND kind = 'waitlist' AND state = 'pending'
           AND recipient_id = ANY(%(superseding)s::text[])
           AND (lease_until IS NULL OR lease_until < now()) AND {IF_GUARD_HELD}
    ), notices AS (
        INSERT INTO notification_outbox
               (room_id, ics_uid, sequence, method, recipient_id, message, kind, change,
                state, last_error)
        SELECT %(room_id)s, %(uid)s, %(sequence)s, 'WAITLIST', n.recipient_id, n.message,
               'waitlist', %(change)s, n.state, n.reason
          FROM unnest(%(recipients)s::text[], %(messages)s::bytea[], %(states)s::text[],
                      %(reasons)s::text[]) AS n(recipient_id, message, state, reason)
         WHERE {IF_GUARD_HELD}
        RETURNING state
    )
    SELECT pg_notify('notification_outbox', '')
      FROM (SELECT 1 FROM notices WHERE state = 'pending' LIMIT 1) AS any_row
"""
_DUE = """
    SELECT room_id, user_id, hold_until FROM room_waitlist
     WHERE hold_until IS NOT NULL AND hold_until <= %(now)s
     ORDER BY hold_until LIMIT %(limit)s
"""
_NEXT_DUE = "SELECT min(hold_until) FROM room_waitlist WHERE hold_until IS NOT NULL"


def waitlist(columns: TupleRow) -> Waitlist:
    """Room.waitlist from COLUMNS' values."""
    waiting, hold_until = columns
    return Waitlist(tuple(waiting or ()), hold_until) if waiting else Waitlist()


class WaitlistSql:
    def __init__(self, statements: Statements) -> None:
        self._statements = statements

    def lock(self, before: Room) -> None:
        """Queue the guard of a waitlist's own change (a failed one reads nothing back:
        the service reads the room again)."""
        self._statements.guard(
            _LOCK,
            {
                "room_id": before.room_id,
                "seen_sequence": before.sequence,
                "seen_revision": before.revision,
            },
        )

    def record(self, writes: WaitlistWrites) -> None:
        """Queue what the domain decided the change writes for the waitlist."""
        if writes.nothing:
            return
        room = writes.room
        key = {"room_id": room.room_id}
        if writes.removed:
            self._statements.queue(_REMOVE, {**key, "users": list(writes.removed)})
        if writes.added:
            self._statements.queue(_ADD, {**key, "users": list(writes.added), "now": writes.now})
        if writes.hold_changed:
            self._statements.queue(_CLEAR_HOLD, {**key, "holder": writes.holder})
            if writes.holder is not None:
                self._statements.queue(
                    _SET_HOLD, {**key, "holder": writes.holder, "until": writes.hold_until}
                )
        if writes.notices or writes.superseding:
            self._statements.queue(_NOTICES, self._notices(writes))
        self._statements.after_commit(functools.partial(_count, writes))

    @staticmethod
    def _notices(writes: WaitlistWrites) -> dict[str, object]:
        room = writes.room
        notices = writes.notices
        return {
            "room_id": room.room_id,
            "uid": room.ics_uid,
            "sequence": room.sequence,
            "change": writes.change.value,
            "superseding": list(writes.superseding),
            "recipients": [n.recipient_id for n in notices],
            "messages": [
                b""
                if n.recipient is None
                else outbox_messages.waitlist_notice(room, n, n.recipient, writes.now)
                for n in notices
            ],
            "states": ["pending" if n.recipient else "skipped" for n in notices],
            "reasons": [None if n.recipient else "NO_ADDRESS" for n in notices],
        }

    async def due(self, now: datetime, limit: int) -> list[DueHold]:
        """Holds whose end has come by `now`, the oldest first."""
        rows = await self._statements.fetchall(_DUE, {"now": now, "limit": limit})
        return [DueHold(*row) for row in rows]

    async def next_due(self) -> datetime | None:
        row = await self._statements.fetchone(_NEXT_DUE)
        return row[0] if row else None


def _count(writes: WaitlistWrites) -> None:
    room_id = str(writes.room.room_id)
    if writes.added:
        metrics.WAITLIST_CHANGES.labels("joined").inc(len(writes.added))
    if writes.removed:
        metrics.WAITLIST_CHANGES.labels("left").inc(len(writes.removed))
    if writes.hold_changed and writes.holder is not None:
        metrics.WAITLIST_CHANGES.labels("held").inc()
    for notice in writes.notices:
        metrics.WAITLIST_NOTICES.labels(notice.kind.value.lower()).inc()
        _log_notice(room_id, notice)


def _log_notice(room_id: str, notice: NoticeToWrite) -> None:
    log.log(
        logging.INFO if notice.recipient else logging.WARNING,
        "waitlist notice recorded" if notice.recipient else "waitlist notice skipped",
        room_id=room_id,
        recipient_id=notice.recipient_id,
        kind=notice.kind.value,
        hold_until=notice.hold_until.isoformat() if notice.hold_until else None,
        reason=None if notice.recipient else "NO_ADDRESS",
    )
