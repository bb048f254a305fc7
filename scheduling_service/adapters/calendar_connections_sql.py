"""Calendar connections in PostgreSQL: connect (replacing any; the user's sessions made
due in their new calendar), disconnect (at once, or once the copies are deleted), read.
The copies themselves are calendar_sql.py's.

A connect or a disconnect takes the revision counter's row lock as its guard, as a
change does before it marks copies (calendar_sql.py says why): neither misses the
other's work.
"""

from __future__ import annotations

from typing import Any

from scheduling_service.adapters.calendar_busy_sql import CHANNEL as BUSY_CHANNEL
from scheduling_service.adapters.statements import GUARD_HELD, IF_GUARD_HELD, Statements
from scheduling_service.domain.calendar import Connection, ConnectionState, VerifiedCalendar

# Wakes the calendar relays: copies became due.
CHANNEL = "calendar_copies"

_LOCK_COUNTER = f"""
    WITH locked AS (SELECT 1 FROM revision_counter FOR UPDATE) {GUARD_HELD} FROM locked
"""
# Another calendar gets the copies anew; those in the old one are left there.
_FORGET_OTHER_CALENDAR = f"""
    DELETE FROM calendar_copies c USING calendar_connections k
     WHERE k.user_id = %(user_id)s AND c.user_id = k.user_id
       AND k.calendar_url <> %(calendar_url)s AND {IF_GUARD_HELD}
"""
_UPSERT = f"""
    INSERT INTO calendar_connections
           (user_id, calendar_url, provider, sealed_credentials, email_invites)
    SELECT %(user_id)s, %(calendar_url)s, %(provider)s, %(sealed)s, %(email_invites)s
     WHERE {IF_GUARD_HELD}
    ON CONFLICT (user_id) DO UPDATE
       SET calendar_url = excluded.calendar_url, provider = excluded.provider,
           sealed_credentials = excluded.sealed_credentials, state = 'active',
           broken_reason = NULL, email_invites = excluded.email_invites,
           generation = nextval('calendar_connection_generation'), create_time = now(),
           update_time = now(), busy_due_at = now(), busy_lease_token = NULL,
           busy_lease_until = NULL, busy_attempts = 0, busy_read_time = NULL,
           busy_sync_token = NULL, busy_sync_read_time = NULL, busy_covered_until = NULL
"""
# Another calendar, or new credentials: its busy time is read afresh at once.
_FORGET_BUSY = f"DELETE FROM calendar_busy WHERE user_id = %(user_id)s AND {IF_GUARD_HELD}"
_READ_BUSY_NOW = f"SELECT pg_notify('{BUSY_CHANNEL}', '') WHERE {IF_GUARD_HELD}"
# Every session the user is in that has not ended, and every copy that waited or failed:
# due now (a copy already written is written again: cheap, and it puts right whatever
# happened to it while the connection was broken).
_BACKFILL = f"""
    WITH present AS (
        INSERT INTO calendar_copies (room_id, user_id, ics_uid)
        SELECT r.room_id, %(user_id)s, r.ics_uid FROM rooms r
         WHERE (r.host_id = %(user_id)s OR r.guest_id = %(user_id)s) AND r.ends > now()
           AND {IF_GUARD_HELD}
        ON CONFLICT (room_id, user_id) DO UPDATE
           SET state = 'pending', version = calendar_copies.version + 1, attempts = 0,
               next_attempt_at = now(), last_error = NULL, update_time = now()
        RETURNING 1
    ), again AS (
        UPDATE calendar_copies
           SET state = 'pending', version = version + 1, attempts = 0, next_attempt_at = now(),
               last_error = NULL, update_time = now()
         WHERE user_id = %(user_id)s AND state IN ('pending', 'failed') AND {IF_GUARD_HELD}
        RETURNING 1
    )
    SELECT pg_notify('{CHANNEL}', '')
     WHERE EXISTS (SELECT 1 FROM present) OR EXISTS (SELECT 1 FROM again)
"""
_DROP_COPIES = f"DELETE FROM calendar_copies WHERE user_id = %(user_id)s AND {IF_GUARD_HELD}"
_DROP_CONNECTION = (
    f"DELETE FROM calendar_connections WHERE user_id = %(user_id)s AND {IF_GUARD_HELD}"
)
# Disconnect with remove_events: every copy not yet removed is deleted by the relay,
# with the connection's credentials; the connection goes with the last of them.
_REMOVING = f"""
    WITH removing AS (
        UPDATE calendar_connections SET state = 'removing', update_time = now()
         WHERE user_id = %(user_id)s AND {IF_GUARD_HELD}
        RETURNING user_id
    ), due AS (
        UPDATE calendar_copies c
           SET state = 'pending', version = c.version + 1, attempts = 0,
               next_attempt_at = now(), last_error = NULL, update_time = now()
          FROM removing WHERE c.user_id = removing.user_id AND c.state <> 'removed'
        RETURNING 1
    )
    SELECT pg_notify('{CHANNEL}', '') FROM (SELECT 1 FROM due LIMIT 1) AS any_row
"""
_FORGET_REMOVED_WHERE = """
         WHERE k.user_id = ANY(%(users)s::text[]) AND k.state = 'removing'
           AND NOT EXISTS (SELECT 1 FROM calendar_copies c
                            WHERE c.user_id = k.user_id AND c.state = 'pending')"""
FORGET_REMOVED = f"""
    WITH gone AS (
        DELETE FROM calendar_connections k {_FORGET_REMOVED_WHERE}
        RETURNING k.user_id
    )
    DELETE FROM calendar_copies c USING gone WHERE c.user_id = gone.user_id
"""
# The same, as a write that follows a disconnect's guard.
_FORGET_REMOVED_NOW = f"""
    WITH gone AS (
        DELETE FROM calendar_connections k {_FORGET_REMOVED_WHERE} AND {IF_GUARD_HELD}
        RETURNING k.user_id
    )
    DELETE FROM calendar_copies c USING gone WHERE c.user_id = gone.user_id
"""
_CONNECTION = """
    SELECT user_id, calendar_url, provider, state, coalesce(broken_reason, ''),
           email_invites, create_time, last_write_time
      FROM calendar_connections WHERE user_id = %(user_id)s AND state <> 'removing'
"""


def connect(
    statements: Statements, user_id: str, verified: VerifiedCalendar, email_invites: bool
) -> None:
    params: dict[str, Any] = {
        "user_id": user_id,
        "calendar_url": verified.calendar_url,
        "provider": verified.provider,
        "sealed": verified.sealed_credentials,
        "email_invites": email_invites,
    }
    statements.guard(_LOCK_COUNTER, {})
    statements.queue(_FORGET_OTHER_CALENDAR, params)
    statements.queue(_FORGET_BUSY, params)
    statements.queue(_UPSERT, params)
    statements.queue(_BACKFILL, params)
    statements.queue(_READ_BUSY_NOW, {})


def disconnect(statements: Statements, user_id: str, *, remove_events: bool) -> None:
    params = {"user_id": user_id}
    statements.guard(_LOCK_COUNTER, {})
    statements.queue(_FORGET_BUSY, params)
    if remove_events:
        statements.queue(_REMOVING, params)
        statements.queue(_FORGET_REMOVED_NOW, {"users": [user_id]})
    else:
        statements.queue(_DROP_COPIES, params)
        statements.queue(_DROP_CONNECTION, params)


async def get(statements: Statements, user_id: str) -> Connection | None:
    row = await statements.fetchone(_CONNECTION, {"user_id": user_id})
    if row is None:
        return None
    user, url, provider, state, reason, email_invites, created, last_write = row
    return Connection(
        user, url, provider, ConnectionState(state), reason, email_invites, created, last_write
    )
