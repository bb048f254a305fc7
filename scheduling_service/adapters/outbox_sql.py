"""The notification outbox in PostgreSQL: messages recorded with the change, then
claimed under a lease by whichever replica's relay gets them first.

A result is recorded only by the holder of the lease (its attempt token), so two
relays never both send and a crashed relay's rows come back when its lease ends.
Per (UID, recipient), a newer message supersedes an older one still pending, and an
older pending one holds the newer back: messages go out in SEQUENCE order.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from notification.v1 import notification_pb2 as npb

from scheduling_service import metrics
from scheduling_service.adapters import wire
from scheduling_service.adapters.session import IF_GUARD_HELD, Session
from scheduling_service.domain.changes import Change
from scheduling_service.domain.invites import Invite, Method, holders_after
from scheduling_service.domain.outbox import Claimed, FailedMessage, OutboxStats, State
from scheduling_service.domain.room import Room
from scheduling_service.domain.users import Contact, People
from servicekit.logs import get_logger

log = get_logger(__name__)

# The holders' new set and the messages, in one statement that follows the change's
# guard. Older messages not in flight are superseded; one in flight finishes first, and
# the newer one waits for it (see _CLAIM). Data-modifying CTEs share one snapshot, so
# the new rows are not superseded by their own statement.
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
         WHERE ics_uid = %(uid)s AND recipient_id = ANY(%(recipients)s::text[])
           AND state = 'pending' AND (lease_until IS NULL OR lease_until < now())
           AND {IF_GUARD_HELD}
    ), inserted AS (
        INSERT INTO notification_outbox
               (room_id, ics_uid, sequence, method, recipient_id, message)
        SELECT %(room_id)s, %(uid)s, %(sequence)s, m.method, m.recipient_id, m.message
          FROM unnest(%(methods)s::text[], %(recipients)s::text[], %(messages)s::bytea[])
               AS m(method, recipient_id, message)
         WHERE {IF_GUARD_HELD}
        RETURNING 1
    )
    SELECT pg_notify('notification_outbox', '') FROM (SELECT 1 FROM inserted LIMIT 1) AS any_row
"""
_CLAIM = """
    WITH due AS (
        SELECT o.id FROM notification_outbox o
         WHERE o.state = 'pending' AND o.next_attempt_at <= now()
           AND (o.lease_until IS NULL OR o.lease_until < now())
           AND NOT EXISTS (
               SELECT 1 FROM notification_outbox p
                WHERE p.ics_uid = o.ics_uid AND p.recipient_id = o.recipient_id
                  AND p.state = 'pending' AND p.sequence < o.sequence)
         ORDER BY o.next_attempt_at, o.id
         LIMIT %(limit)s
         FOR UPDATE SKIP LOCKED
    )
    UPDATE notification_outbox o
       SET lease_token = %(token)s, lease_until = now() + make_interval(secs => %(lease_s)s),
           attempts = o.attempts + 1, update_time = now()
      FROM due WHERE o.id = due.id
    RETURNING o.id, o.room_id, o.ics_uid, o.sequence, o.method, o.recipient_id,
              o.attempts, o.message
"""
_FINISH = """
    UPDATE notification_outbox o
       SET state = CASE
               WHEN %(state)s = 'pending' AND EXISTS (
                   SELECT 1 FROM notification_outbox n
                    WHERE n.ics_uid = o.ics_uid AND n.recipient_id = o.recipient_id
                      AND n.sequence > o.sequence) THEN 'superseded'
               ELSE %(state)s END,
           next_attempt_at = coalesce(%(next_attempt_at)s, o.next_attempt_at),
           lease_token = NULL, lease_until = NULL,
           last_error = %(error)s, message_id = coalesce(%(message_id)s, o.message_id),
           update_time = now()
     WHERE o.id = %(id)s AND o.lease_token = %(token)s
    RETURNING o.state
"""
_FAILED = """
    SELECT id, room_id, ics_uid, sequence, method, recipient_id, attempts, last_error,
           update_time
      FROM notification_outbox WHERE state = 'failed' ORDER BY id LIMIT %(limit)s
"""
# A failed message goes again only while nothing newer for its recipient exists.
_RETRY = """
    UPDATE notification_outbox o
       SET state = 'pending', attempts = 0, next_attempt_at = now(), last_error = NULL,
           update_time = now()
     WHERE o.state = 'failed' AND (%(all)s OR o.id = ANY(%(ids)s::bigint[]))
       AND NOT EXISTS (
           SELECT 1 FROM notification_outbox n
            WHERE n.ics_uid = o.ics_uid AND n.recipient_id = o.recipient_id
              AND n.sequence > o.sequence)
    RETURNING o.id
"""
# Finished messages hold addresses; they are not kept past the retention.
_PURGE = """
    WITH gone AS (
        DELETE FROM notification_outbox
         WHERE state IN ('delivered', 'superseded', 'failed') AND update_time < %(before)s
        RETURNING 1
    )
    SELECT count(*) FROM gone
"""
_STATS = """
    SELECT count(*) FILTER (WHERE state = 'pending'),
           count(*) FILTER (WHERE state = 'failed'),
           coalesce(extract(epoch FROM now() - min(create_time)
                    FILTER (WHERE state = 'pending')), 0)
      FROM notification_outbox
"""

_CHANGES = {
    Change.BOOKED: npb.CHANGE_BOOKED,
    Change.RESCHEDULED: npb.CHANGE_RESCHEDULED,
    Change.LEFT: npb.CHANGE_GUEST_LEFT,
    Change.CANCELLED: npb.CHANGE_CANCELLED,
}


class OutboxSql:
    def __init__(self, session: Session) -> None:
        self._session = session

    def record(
        self,
        change: Change,
        before: Room | None,
        after: Room,
        invites: list[Invite],
        people: People,
        *,
        now: datetime,
        cancel_reason: str = "",
    ) -> None:
        if not invites:
            return
        holders = holders_after(people.holders, invites)
        methods, recipients, messages = [], [], []
        for invite in invites:
            contact = people.contacts.get(invite.recipient_id)
            if contact is None or not contact.email:
                self._skipped(after, invite)
                continue
            message = _calendar_message(
                change, before, after, invite, people.contacts, contact, now, cancel_reason
            )
            methods.append(invite.method.value)
            recipients.append(invite.recipient_id)
            messages.append(message.SerializeToString())
        self._session.queue(
            _RECORD,
            {
                "room_id": after.room_id,
                "uid": after.ics_uid,
                "sequence": after.sequence,
                "added": sorted(holders - people.holders),
                "removed": sorted(people.holders - holders),
                "methods": methods,
                "recipients": recipients,
                "messages": messages,
            },
        )
        queued = len(messages)
        self._session.after_commit(lambda: metrics.OUTBOX_QUEUED.inc(queued))

    def _skipped(self, room: Room, invite: Invite) -> None:
        def count_and_warn() -> None:
            metrics.OUTBOX_SKIPPED.inc()
            log.warning(
                "invite skipped: no e-mail address known",
                room_id=str(room.room_id),
                recipient_id=invite.recipient_id,
                method=invite.method.value,
            )

        self._session.after_commit(count_and_warn)

    async def claim(self, token: uuid.UUID, limit: int, lease_s: float) -> list[Claimed]:
        rows = await self._session.execute(
            _CLAIM, {"token": token, "limit": limit, "lease_s": lease_s}
        )
        return [Claimed(*row) for row in rows]

    async def finish(
        self,
        claimed: Claimed,
        token: uuid.UUID,
        *,
        state: State,
        error: str | None,
        message_id: str | None,
        next_attempt_at: datetime | None,
    ) -> State | None:
        rows = await self._session.execute(
            _FINISH,
            {
                "id": claimed.id,
                "token": token,
                "state": state.value,
                "error": error,
                "message_id": message_id,
                "next_attempt_at": next_attempt_at,
            },
        )
        return State(rows[0][0]) if rows else None

    async def failed(self, limit: int) -> list[FailedMessage]:
        rows = await self._session.fetchall(_FAILED, {"limit": limit})
        return [FailedMessage(*row) for row in rows]

    async def retry_failed(self, ids: list[int] | None) -> list[int]:
        rows = await self._session.execute(_RETRY, {"all": ids is None, "ids": ids or []})
        return [row[0] for row in rows]

    async def purge(self, before: datetime) -> int:
        rows = await self._session.execute(_PURGE, {"before": before}, idempotent=True)
        return int(rows[0][0])

    async def stats(self) -> OutboxStats:
        row = await self._session.fetchone(_STATS)
        assert row is not None
        return OutboxStats(int(row[0]), int(row[1]), float(row[2]))


def _calendar_message(
    change: Change,
    before: Room | None,
    room: Room,
    invite: Invite,
    contacts: dict[str, Contact],
    recipient: Contact,
    now: datetime,
    cancel_reason: str,
) -> npb.CalendarMessage:
    def participant(user_id: str) -> npb.Participant:
        contact = contacts[user_id]
        return npb.Participant(email=contact.email or "", display_name=contact.name or "")

    def reachable(user_id: str | None) -> bool:
        return user_id is not None and user_id in contacts and bool(contacts[user_id].email)

    event = npb.CalendarEvent(
        uid=room.ics_uid,
        sequence=room.sequence,
        start_time=wire.timestamp(room.starts),
        end_time=wire.timestamp(room.ends),
        title=room.title,
        description=room.description,
        cancel_reason=cancel_reason if invite.method is Method.CANCEL else "",
        rounds=[npb.EventRound(number=r.number, topic=r.topic) for r in room.rounds],
    )
    if change is Change.RESCHEDULED and before is not None:
        event.previous_start_time.CopyFrom(wire.timestamp(before.starts))
        event.previous_end_time.CopyFrom(wire.timestamp(before.ends))
    message = npb.CalendarMessage(
        method=npb.METHOD_REQUEST if invite.method is Method.REQUEST else npb.METHOD_CANCEL,
        event=event,
        attendees=[participant(user) for user in room.participants if reachable(user)],
        recipient=npb.Recipient(
            email=recipient.email or "",
            display_name=recipient.name or "",
            time_zone=recipient.zoneinfo or "",
        ),
        dtstamp=wire.timestamp(now),
        uninvite=invite.uninvite,
        change=_CHANGES[change],
    )
    if reachable(room.host_id):
        message.organizer.CopyFrom(participant(room.host_id))
    departed = before.guest_id if change is Change.LEFT and before is not None else None
    if reachable(departed):
        assert departed is not None
        message.departed.CopyFrom(participant(departed))
    return message
