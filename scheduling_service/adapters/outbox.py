"""The notification outbox in PostgreSQL: messages recorded with the change, then
claimed under a lease by whichever replica's relay gets them first.

A result is recorded only by the holder of the lease (its attempt token), so two
relays never both send and a crashed relay's rows come back when its lease ends.
Per (UID, recipient), a newer message supersedes an older one still pending, and an
older pending one holds the newer back: messages go out in SEQUENCE order.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from notification.v1 import notification_pb2 as npb
from sqlalchemy import bindparam, text
from sqlalchemy.ext.asyncio import AsyncConnection

from scheduling_service import metrics, wire
from scheduling_service.domain.invites import Invite, Method, holders_after
from scheduling_service.domain.room import Room

log = logging.getLogger(__name__)

# Who holds the room's event now, and the contact details of everyone a message
# may name (the holders and the participants), in one round trip.
_RECIPIENTS = text(
    """
    SELECT u.user_id, u.email, u.name, u.zoneinfo,
           EXISTS (SELECT 1 FROM room_invitees i
                    WHERE i.room_id = :room_id AND i.user_id = u.user_id) AS holds_event
      FROM users u
     WHERE u.user_id IN (SELECT user_id FROM room_invitees WHERE room_id = :room_id
                         UNION SELECT unnest(CAST(:participants AS text[])))
    """
)
# The holders' new set and the messages, in one statement. Older messages not in
# flight are superseded; one in flight finishes first, and the newer one waits for
# it (see _CLAIM). Data-modifying CTEs share one snapshot, so the new rows are not
# superseded by their own statement.
_RECORD_MESSAGES = text(
    """
    WITH added AS (
        INSERT INTO room_invitees (room_id, user_id)
        SELECT :room_id, unnest(CAST(:added AS text[]))
        ON CONFLICT DO NOTHING
    ), removed AS (
        DELETE FROM room_invitees
         WHERE room_id = :room_id AND user_id = ANY(CAST(:removed AS text[]))
    ), superseded AS (
        UPDATE notification_outbox SET state = 'superseded', update_time = now()
         WHERE ics_uid = :uid AND recipient_id = ANY(CAST(:recipients AS text[]))
           AND state = 'pending' AND (lease_until IS NULL OR lease_until < now())
    ), inserted AS (
        INSERT INTO notification_outbox
               (room_id, ics_uid, sequence, method, recipient_id, message)
        SELECT :room_id, :uid, :sequence, m.method, m.recipient_id, m.message
          FROM unnest(CAST(:methods AS text[]), CAST(:recipients AS text[]),
                      CAST(:messages AS bytea[])) AS m(method, recipient_id, message)
        RETURNING 1
    )
    SELECT pg_notify('notification_outbox', '') FROM (SELECT 1 FROM inserted LIMIT 1) AS any_row
    """
)

_CLAIM = text(
    """
    WITH due AS (
        SELECT o.id FROM notification_outbox o
         WHERE o.state = 'pending' AND o.next_attempt_at <= now()
           AND (o.lease_until IS NULL OR o.lease_until < now())
           AND NOT EXISTS (
               SELECT 1 FROM notification_outbox p
                WHERE p.ics_uid = o.ics_uid AND p.recipient_id = o.recipient_id
                  AND p.state = 'pending' AND p.sequence < o.sequence)
         ORDER BY o.next_attempt_at, o.id
         LIMIT :limit
         FOR UPDATE SKIP LOCKED
    )
    UPDATE notification_outbox o
       SET lease_token = :token, lease_until = now() + make_interval(secs => :lease_s),
           attempts = o.attempts + 1, update_time = now()
      FROM due WHERE o.id = due.id
    RETURNING o.id, o.room_id, o.ics_uid, o.sequence, o.method, o.recipient_id,
              o.attempts, o.message
    """
)
_RECORD = text(
    """
    UPDATE notification_outbox o
       SET state = CASE
               WHEN :state = 'pending' AND EXISTS (
                   SELECT 1 FROM notification_outbox n
                    WHERE n.ics_uid = o.ics_uid AND n.recipient_id = o.recipient_id
                      AND n.sequence > o.sequence) THEN 'superseded'
               ELSE :state END,
           next_attempt_at = coalesce(:next_attempt_at, o.next_attempt_at),
           lease_token = NULL, lease_until = NULL,
           last_error = :error, message_id = coalesce(:message_id, o.message_id),
           update_time = now()
     WHERE o.id = :id AND o.lease_token = :token
    RETURNING o.state
    """
)
_FAILED = text(
    """
    SELECT id, room_id, ics_uid, sequence, method, recipient_id, attempts, last_error,
           update_time
      FROM notification_outbox WHERE state = 'failed' ORDER BY id LIMIT :limit
    """
)
# A failed message goes again only while nothing newer for its recipient exists.
_RETRY = text(
    """
    UPDATE notification_outbox o
       SET state = 'pending', attempts = 0, next_attempt_at = now(), last_error = NULL,
           update_time = now()
     WHERE o.state = 'failed' AND (:all OR o.id IN :ids)
       AND NOT EXISTS (
           SELECT 1 FROM notification_outbox n
            WHERE n.ics_uid = o.ics_uid AND n.recipient_id = o.recipient_id
              AND n.sequence > o.sequence)
    RETURNING o.id
    """
).bindparams(bindparam("ids", expanding=True))
# Finished messages hold addresses; they are not kept past the retention.
_PURGE = text(
    """
    DELETE FROM notification_outbox
     WHERE state IN ('delivered', 'superseded', 'failed') AND update_time < :before
    """
)
_STATS = text(
    """
    SELECT count(*) FILTER (WHERE state = 'pending') AS pending,
           count(*) FILTER (WHERE state = 'failed') AS failed,
           coalesce(extract(epoch FROM now() - min(create_time)
                    FILTER (WHERE state = 'pending')), 0) AS oldest_pending_s
      FROM notification_outbox
    """
)


@dataclass(frozen=True)
class Recipients:
    holders: frozenset[str]  # who holds the room's event in their calendar now
    contacts: dict[str, Any]  # user id -> row with email, name, zoneinfo


@dataclass(frozen=True)
class Claimed:
    id: int
    room_id: uuid.UUID
    ics_uid: str
    sequence: int
    method: str
    recipient_id: str
    attempts: int
    message: npb.CalendarMessage


class OutboxRepository:
    def __init__(
        self,
        conn: AsyncConnection,
        after_commit: Callable[[Callable[[], None]], None] = lambda action: action(),
    ) -> None:
        self._conn = conn
        # Counters move only for what the transaction really keeps.
        self._after_commit = after_commit

    async def recipients(self, room_id: uuid.UUID, participants: set[str]) -> Recipients:
        rows = await self._conn.execute(
            _RECIPIENTS, {"room_id": room_id, "participants": sorted(participants)}
        )
        contacts, holders = {}, set()
        for row in rows:
            contacts[row.user_id] = row
            if row.holds_event:
                holders.add(row.user_id)
        return Recipients(frozenset(holders), contacts)

    async def record(
        self,
        room: Room,
        invites: list[Invite],
        known: Recipients,
        *,
        now: datetime,
        cancel_reason: str = "",
    ) -> None:
        """Queue `invites` for `room` (as it is after the change) in this transaction."""
        if not invites:
            return
        holders = holders_after(known.holders, invites)
        methods, recipients, messages = [], [], []
        for invite in invites:
            contact = known.contacts.get(invite.recipient_id)
            if contact is None or not contact.email:
                self._skipped(room, invite)
                continue
            message = _calendar_message(room, invite, known.contacts, contact, now, cancel_reason)
            methods.append(invite.method.value)
            recipients.append(invite.recipient_id)
            messages.append(message.SerializeToString())
        await self._conn.execute(
            _RECORD_MESSAGES,
            {
                "room_id": room.room_id,
                "uid": room.ics_uid,
                "sequence": room.sequence,
                "added": sorted(holders - known.holders),
                "removed": sorted(known.holders - holders),
                "methods": methods,
                "recipients": recipients,
                "messages": messages,
            },
        )
        queued = len(messages)
        self._after_commit(lambda: metrics.OUTBOX_QUEUED.inc(queued))

    def _skipped(self, room: Room, invite: Invite) -> None:
        self._after_commit(metrics.OUTBOX_SKIPPED.inc)
        log.warning(
            "invite skipped: no e-mail address known",
            extra={
                "fields": {
                    "room_id": str(room.room_id),
                    "recipient_id": invite.recipient_id,
                    "method": invite.method.value,
                }
            },
        )

    async def claim(self, token: uuid.UUID, limit: int, lease_s: float) -> list[Claimed]:
        rows = await self._conn.execute(
            _CLAIM, {"token": token, "limit": limit, "lease_s": lease_s}
        )
        return [
            Claimed(
                id=row.id,
                room_id=row.room_id,
                ics_uid=row.ics_uid,
                sequence=row.sequence,
                method=row.method,
                recipient_id=row.recipient_id,
                attempts=row.attempts,
                message=npb.CalendarMessage.FromString(row.message),
            )
            for row in rows
        ]

    async def finish(
        self,
        claimed: Claimed,
        token: uuid.UUID,
        *,
        state: str,
        error: str | None = None,
        message_id: str | None = None,
        next_attempt_at: datetime | None = None,
    ) -> str | None:
        """Record an attempt's result; None when the lease was lost (someone else has it)."""
        row = (
            await self._conn.execute(
                _RECORD,
                {
                    "id": claimed.id,
                    "token": token,
                    "state": state,
                    "error": error,
                    "message_id": message_id,
                    "next_attempt_at": next_attempt_at,
                },
            )
        ).first()
        return row.state if row else None

    async def failed(self, limit: int) -> list[Any]:
        return list(await self._conn.execute(_FAILED, {"limit": limit}))

    async def retry_failed(self, ids: list[int] | None) -> list[int]:
        """Queue failed messages again (all of them when `ids` is None)."""
        rows = await self._conn.execute(_RETRY, {"all": ids is None, "ids": ids or [0]})
        return [row.id for row in rows]

    async def purge(self, before: datetime) -> int:
        result = await self._conn.execute(_PURGE, {"before": before})
        return int(result.rowcount)

    async def stats(self) -> dict[str, float]:
        row = (await self._conn.execute(_STATS)).one()
        return {
            "pending": float(row.pending),
            "failed": float(row.failed),
            "oldest_pending_s": float(row.oldest_pending_s),
        }


def _calendar_message(
    room: Room,
    invite: Invite,
    contacts: dict[str, Any],
    recipient: Any,
    now: datetime,
    cancel_reason: str,
) -> npb.CalendarMessage:
    def participant(user_id: str) -> npb.Participant:
        contact = contacts[user_id]
        return npb.Participant(email=contact.email, display_name=contact.name or "")

    attendees = [
        participant(user) for user in room.participants if user in contacts and contacts[user].email
    ]
    host = contacts.get(room.host_id)
    return npb.CalendarMessage(
        method=npb.METHOD_REQUEST if invite.method is Method.REQUEST else npb.METHOD_CANCEL,
        event=npb.CalendarEvent(
            uid=room.ics_uid,
            sequence=room.sequence,
            start_time=wire.timestamp(room.starts),
            end_time=wire.timestamp(room.ends),
            title=room.title,
            description=room.description,
            cancel_reason=cancel_reason if invite.method is Method.CANCEL else "",
        ),
        organizer=participant(room.host_id) if host is not None and host.email else None,
        attendees=attendees,
        recipient=npb.Recipient(
            email=recipient.email,
            display_name=recipient.name or "",
            time_zone=recipient.zoneinfo or "",
        ),
        dtstamp=wire.timestamp(now),
        uninvite=invite.uninvite,
    )
