"""The notification outbox in PostgreSQL: messages recorded with the change, then
claimed under a lease by whichever replica's relay gets them first.

A result is recorded only by the holder of the lease (its attempt token), so two
relays never both send and a crashed relay's rows come back when its lease ends.
Per (UID, recipient), a newer invite supersedes an older one still pending, and an
older pending one holds the newer back: invites go out in SEQUENCE order. Reminders
are rows of their own kind, due at start - offset, outside that order.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import uuid
from collections.abc import AsyncIterator
from datetime import datetime

from psycopg.rows import TupleRow

from scheduling_service import metrics
from scheduling_service.adapters import outbox_messages
from scheduling_service.adapters.statements import IF_GUARD_HELD, Statements
from scheduling_service.domain import mail
from scheduling_service.domain.outbox import (
    Claimed,
    DueReminder,
    FailedMessage,
    Finished,
    OutboxStats,
    State,
)
from scheduling_service.domain.outbox_writes import InviteToWrite, OutboxWrites
from scheduling_service.domain.room import Room
from servicekit.logs import get_logger

log = get_logger(__name__)

# What the domain decided a change writes to the outbox (domain/outbox_writes.py), in
# one statement that follows its guard: who holds the event now, the invites (older
# ones not in flight are superseded; one in flight finishes first and the newer waits,
# see _CLAIM), and the reminders (the pending ones go, the new ones come in, due at
# start - offset). Data-modifying CTEs share one snapshot: new rows are not superseded
# by their own statement.
_RECORD = f"""
    WITH added AS (
        INSERT INTO room_invitees (room_id, user_id)
        SELECT %(room_id)s, unnest(%(added)s::text[]) WHERE {IF_GUARD_HELD}
        ON CONFLICT DO NOTHING
    ), removed AS (
        DELETE FROM room_invitees
         WHERE room_id = %(room_id)s AND user_id = ANY(%(removed)s::text[]) AND {IF_GUARD_HELD}
    ), superseded AS (
        UPDATE notification_outbox SET state = 'superseded', update_time = now()
         WHERE ics_uid = %(uid)s AND recipient_id = ANY(%(superseding)s::text[])
           AND kind = 'invite' AND state = 'pending'
           AND (lease_until IS NULL OR lease_until < now()) AND {IF_GUARD_HELD}
    ), invites AS (
        INSERT INTO notification_outbox
               (room_id, ics_uid, sequence, method, recipient_id, message, change, state,
                last_error)
        SELECT %(room_id)s, %(uid)s, %(sequence)s, m.method, m.recipient_id, m.message,
               %(change)s, m.state, m.not_sent_reason
          FROM unnest(%(methods)s::text[], %(recipients)s::text[], %(messages)s::bytea[],
                      %(states)s::text[], %(reasons)s::text[])
               AS m(method, recipient_id, message, state, not_sent_reason)
         WHERE {IF_GUARD_HELD}
        RETURNING state
    ), unscheduled AS (
        DELETE FROM notification_outbox
         WHERE room_id = %(room_id)s AND kind = 'reminder' AND state = 'pending'
           AND (lease_until IS NULL OR lease_until < now())
           AND %(remove_reminders)s AND {IF_GUARD_HELD}
    ), reminders AS (
        INSERT INTO notification_outbox
               (room_id, ics_uid, sequence, method, recipient_id, message, kind,
                next_attempt_at, session_start, offset_s)
        SELECT %(room_id)s, %(uid)s, %(sequence)s, 'REMINDER', r.recipient_id, r.message,
               'reminder', r.due, %(starts)s, r.offset_s
          FROM unnest(%(reminded)s::text[], %(reminders)s::bytea[], %(dues)s::timestamptz[],
                      %(offsets)s::integer[]) AS r(recipient_id, message, due, offset_s)
         WHERE {IF_GUARD_HELD}
    )
    SELECT pg_notify('notification_outbox', '')
      FROM (SELECT 1 FROM invites WHERE state = 'pending' LIMIT 1) AS any_row
"""
# Due messages, under a lease; a reminder comes with the room as it stands now.
_CLAIM = """
    WITH due AS (
        SELECT o.id FROM notification_outbox o
         WHERE o.state = 'pending' AND o.next_attempt_at <= now()
           AND (o.lease_until IS NULL OR o.lease_until < now())
           AND (o.kind <> 'invite' OR NOT EXISTS (
               SELECT 1 FROM notification_outbox p
                WHERE p.ics_uid = o.ics_uid AND p.recipient_id = o.recipient_id
                  AND p.kind = 'invite' AND p.state = 'pending'
                  AND p.sequence < o.sequence))
         ORDER BY o.next_attempt_at, o.id
         LIMIT %(limit)s
         FOR UPDATE SKIP LOCKED
    ), claimed AS (
        UPDATE notification_outbox o
           SET lease_token = %(token)s,
               lease_until = now() + make_interval(secs => %(lease_s)s),
               attempts = o.attempts + 1, update_time = now()
          FROM due WHERE o.id = due.id
        RETURNING o.id, o.room_id, o.ics_uid, o.sequence, o.method, o.recipient_id,
                  o.attempts, o.message, o.kind, o.session_start
    )
    SELECT c.*, r.starts, r.host_id, r.guest_id
      FROM claimed c LEFT JOIN rooms r ON r.room_id = c.room_id
"""
# A claimed reminder's room as it stands, share-locked until the reminder's hand-off is
# over (service_layer/relay.py says why): a cancel (which locks the row), a leave or a
# reschedule (which update it) waits for the send; one that committed first is what this
# reads, the room gone being no row.
_HOLD_ROOM = """
    SELECT starts, host_id, guest_id FROM rooms WHERE room_id = %(room_id)s FOR SHARE
"""
# Attempts' results, recorded only where the lease is still held (a message whose lease
# ran out may be another relay's now). A room's messages all carry its UID: looking for
# a newer invite by room_id reads notification_outbox_by_room, a few rows however large
# the outbox (by UID alone it read the whole index, and bookings slowed as rooms grew).
_FINISH = """
    UPDATE notification_outbox o
       SET state = CASE
               WHEN r.state = 'pending' AND o.kind = 'invite' AND EXISTS (
                   SELECT 1 FROM notification_outbox n
                    WHERE n.room_id = o.room_id AND n.recipient_id = o.recipient_id
                      AND n.ics_uid = o.ics_uid AND n.kind = 'invite'
                      AND n.sequence > o.sequence) THEN 'superseded'
               ELSE r.state END,
           next_attempt_at = coalesce(r.next_attempt_at, o.next_attempt_at),
           lease_token = NULL, lease_until = NULL, outcome = r.outcome,
           last_error = r.error, message_id = coalesce(r.message_id, o.message_id),
           update_time = now()
      FROM unnest(%(ids)s::bigint[], %(tokens)s::uuid[], %(states)s::text[],
                  %(outcomes)s::text[], %(errors)s::text[], %(message_ids)s::text[],
                  %(next)s::timestamptz[])
           AS r(id, token, state, outcome, error, message_id, next_attempt_at)
     WHERE o.id = r.id AND o.lease_token = r.token
    RETURNING o.id, o.state
"""
_FAILED = """
    SELECT id, room_id, ics_uid, sequence, method, recipient_id, attempts, last_error,
           update_time
      FROM notification_outbox WHERE state = 'failed' ORDER BY id LIMIT %(limit)s
"""
# A failed invite goes again only while nothing newer for its recipient exists; a
# failed reminder is checked again against the room when it comes due.
_RETRY = """
    UPDATE notification_outbox o
       SET state = 'pending', attempts = 0, next_attempt_at = now(), last_error = NULL,
           update_time = now()
     WHERE o.state = 'failed' AND (%(all)s OR o.id = ANY(%(ids)s::bigint[]))
       AND (o.kind <> 'invite' OR NOT EXISTS (
           SELECT 1 FROM notification_outbox n
            WHERE n.room_id = o.room_id AND n.recipient_id = o.recipient_id
              AND n.ics_uid = o.ics_uid AND n.kind = 'invite' AND n.sequence > o.sequence))
    RETURNING o.id
"""
# Finished messages hold addresses; they are not kept past the retention.
_PURGE = """
    WITH gone AS (
        DELETE FROM notification_outbox
         WHERE state IN ('delivered', 'superseded', 'failed', 'skipped', 'dropped')
           AND update_time < %(before)s
        RETURNING 1
    )
    SELECT count(*) FROM gone
"""
# What waits to go: every pending invite, and the reminders whose time has come (one
# due next week is not late). Age counts from when a message was due: an invite when it
# was written, a reminder at its due time. Only pending and failed rows are read (the
# partial index on pending rows, the one on state), never the delivered history.
_STATS = """
    WITH waiting AS (
        SELECT CASE WHEN kind = 'reminder'
                    THEN session_start - make_interval(secs => offset_s)
                    ELSE create_time END AS due
          FROM notification_outbox
         WHERE state = 'pending'
           AND (kind <> 'reminder' OR session_start - make_interval(secs => offset_s) <= now())
    )
    SELECT (SELECT count(*) FROM waiting),
           (SELECT count(*) FROM notification_outbox WHERE state = 'failed'),
           coalesce(extract(epoch FROM now() - (SELECT min(due) FROM waiting)), 0)
"""


class OutboxSql:
    def __init__(self, statements: Statements) -> None:
        self._statements = statements

    def record(self, writes: OutboxWrites) -> None:
        """Queue what the domain decided the change writes (outbox_writes.py)."""
        if writes.nothing:
            return
        after = writes.after
        messages = [
            b""
            if invite.recipient is None
            else outbox_messages.calendar_message(
                writes.change,
                writes.before,
                after,
                invite.invite,
                writes.contacts,
                invite.recipient,
                writes.now,
                writes.cancel_reason,
            ).SerializeToString()
            for invite in writes.invites
        ]
        reminders = writes.reminders
        self._statements.queue(
            _RECORD,
            {
                "room_id": after.room_id,
                "uid": after.ics_uid,
                "sequence": after.sequence,
                "starts": after.starts,
                "change": writes.change.value,
                "added": list(writes.holders_added),
                "removed": list(writes.holders_removed),
                "superseding": list(writes.superseding),
                "methods": [i.invite.method.value for i in writes.invites],
                "recipients": [i.invite.recipient_id for i in writes.invites],
                "messages": messages,
                "states": [i.state.value for i in writes.invites],
                "reasons": [i.not_sent_reason or None for i in writes.invites],
                "remove_reminders": writes.remove_pending_reminders,
                "reminded": [r.reminder.recipient_id for r in reminders],
                "reminders": [
                    outbox_messages.reminder_message(
                        after, r.reminder, writes.contacts, r.recipient
                    )
                    for r in reminders
                ],
                "dues": [r.reminder.due for r in reminders],
                "offsets": [int(r.reminder.offset.total_seconds()) for r in reminders],
            },
        )
        queued, scheduled = len(writes.queued), len(reminders)
        self._statements.after_commit(lambda: _count(queued, scheduled))
        for skipped in writes.skipped:
            self._statements.after_commit(functools.partial(_skipped, after, skipped))

    async def claim(self, token: uuid.UUID, limit: int, lease_s: float) -> list[Claimed]:
        rows = await self._statements.execute(
            _CLAIM, {"token": token, "limit": limit, "lease_s": lease_s}
        )
        return [_claimed(row) for row in rows]

    @contextlib.asynccontextmanager
    async def hold_room(self, claimed: Claimed, hold_s: float) -> AsyncIterator[DueReminder]:
        reminder = claimed.reminder
        assert reminder is not None, "only a reminder's room is held"
        params = {"room_id": claimed.room_id}
        async with self._statements.holding(_HOLD_ROOM, params, hold_s=hold_s) as rows:
            starts, host_id, guest_id = rows[0] if rows else (None, None, None)
            yield _due(reminder.recipient_id, reminder.starts, starts, host_id, guest_id)

    async def finish(self, results: list[Finished]) -> dict[int, State]:
        rows = await self._statements.execute(
            _FINISH,
            {
                "ids": [r.claimed.id for r in results],
                "tokens": [r.token for r in results],
                "states": [r.state.value for r in results],
                "outcomes": [r.outcome.value if r.outcome else None for r in results],
                "errors": [r.error for r in results],
                "message_ids": [r.message_id for r in results],
                "next": [r.next_attempt_at for r in results],
            },
        )
        return {int(row[0]): State(row[1]) for row in rows}

    async def failed(self, limit: int) -> list[FailedMessage]:
        rows = await self._statements.fetchall(_FAILED, {"limit": limit})
        return [FailedMessage(*row) for row in rows]

    async def retry_failed(self, ids: list[int] | None) -> list[int]:
        rows = await self._statements.execute(_RETRY, {"all": ids is None, "ids": ids or []})
        return [row[0] for row in rows]

    async def purge(self, before: datetime) -> int:
        rows = await self._statements.execute(_PURGE, {"before": before}, idempotent=True)
        return int(rows[0][0])

    async def stats(self) -> OutboxStats:
        row = await self._statements.fetchone(_STATS)
        assert row is not None
        return OutboxStats(int(row[0]), int(row[1]), float(row[2]))


def _claimed(row: TupleRow) -> Claimed:
    (
        mid,
        room_id,
        uid,
        sequence,
        method,
        recipient,
        attempts,
        payload,
        kind,
        session_start,
        room_starts,
        host_id,
        guest_id,
    ) = row
    due = None
    if kind == "reminder":
        due = _due(recipient, session_start, room_starts, host_id, guest_id)
    return Claimed(mid, room_id, uid, sequence, method, recipient, attempts, payload, due, kind)


def _due(
    recipient: str,
    starts: datetime,
    room_starts: datetime | None,
    host_id: str | None,
    guest_id: str | None,
) -> DueReminder:
    participants = tuple(p for p in (host_id, guest_id) if p is not None)
    return DueReminder(recipient, starts, room_starts, participants)


def _count(queued: int, scheduled: int) -> None:
    metrics.OUTBOX_QUEUED.inc(queued)
    metrics.REMINDERS_SCHEDULED.inc(scheduled)


def _skipped(room: Room, skipped: InviteToWrite) -> None:
    metrics.OUTBOX_SKIPPED.inc()
    log.log(
        logging.INFO if skipped.not_sent_reason == mail.CALENDAR_CONNECTED else logging.WARNING,
        "invite skipped",
        reason=skipped.not_sent_reason,
        room_id=str(room.room_id),
        recipient_id=skipped.invite.recipient_id,
        method=skipped.invite.method.value,
    )
