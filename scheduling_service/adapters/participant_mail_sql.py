"""Where each participant's mail and calendar copy stand (Room.mail, Room.calendar), as
SQL joined to a room read: the laterals, their columns, and the rows read back. The
domain (domain/mail.py) says what each row means."""

from __future__ import annotations

from psycopg.rows import TupleRow

from scheduling_service.domain.mail import CopyView, MailState, copy_view, mail_state

# Each participant's latest mail that is due (reminders count from their due time), for
# Room.mail; computed only when the reader takes part in the room (the domain decides
# what is shown, this only spares the work).
_MAIL = """
    LEFT JOIN LATERAL (
        SELECT array_agg(m.recipient_id), array_agg(m.kind), array_agg(m.method),
               array_agg(m.change), array_agg(m.state), array_agg(m.outcome),
               array_agg(m.update_time), array_agg(m.last_error)
          FROM (SELECT DISTINCT ON (o.recipient_id) o.recipient_id, o.kind, o.method,
                       o.change, o.state, o.outcome, o.update_time, o.last_error
                  FROM notification_outbox o
                 WHERE o.room_id = r.room_id AND o.recipient_id IN (r.host_id, r.guest_id)
                   AND o.state NOT IN ('superseded', 'dropped')
                   AND (o.kind = 'invite'
                        OR o.session_start - make_interval(secs => o.offset_s) <= now())
                 ORDER BY o.recipient_id, o.id DESC) AS m
         WHERE %(viewer)s IN (r.host_id, r.guest_id)
    ) AS mail ON true
"""
# Where each participant's calendar copy stands (their connected calendar's), beside
# their mail.
_COPIES = """
    LEFT JOIN LATERAL (
        SELECT array_agg(c.user_id), array_agg(c.state), array_agg(k.state),
               array_agg(c.update_time)
          FROM calendar_copies c LEFT JOIN calendar_connections k ON k.user_id = c.user_id
         WHERE c.room_id = r.room_id AND c.user_id IN (r.host_id, r.guest_id)
           AND %(viewer)s IN (r.host_id, r.guest_id)
    ) AS copies ON true
"""
# Joined to `rooms r` (with a %(viewer)s parameter); their columns, after the room's.
JOINS = _MAIL + _COPIES
COLUMNS = "mail.*, copies.*"
_MAIL_WIDTH = 8
_COPIES_WIDTH = 4
WIDTH = _MAIL_WIDTH + _COPIES_WIDTH


def copies(columns: TupleRow) -> tuple[CopyView, ...]:
    """Room.calendar from COLUMNS' values."""
    users, states, connection_states, times = columns[_MAIL_WIDTH:WIDTH]
    if not users:
        return ()
    return tuple(map(copy_view, users, states, connection_states, times))


def mail(columns: TupleRow) -> tuple[MailState, ...]:
    """Room.mail from COLUMNS' values."""
    users, kinds, methods, changes, states, outcomes, times, errors = columns[:_MAIL_WIDTH]
    if not users:
        return ()
    return tuple(
        mail_state(
            user,
            reminder=kind == "reminder",
            method=method,
            change=change,
            state=state,
            outcome=outcome,
            update_time=at,
            last_error=error,
        )
        for user, kind, method, change, state, outcome, at, error in zip(
            users, kinds, methods, changes, states, outcomes, times, errors, strict=True
        )
    )
