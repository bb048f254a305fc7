"""Rooms in PostgreSQL: reads, and the guarded writes of each change.

Statements run on the unit of work's connection (adapters/statements.py). A change's
first write is its guard: it applies only to the version of the room the rules saw, and
every later write takes effect only if it did. Overlaps are refused by the exclusion
constraint on room_slots, whatever the rules let through.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from psycopg.rows import TupleRow

from scheduling_service.adapters import participant_mail_sql, room_search_sql, waitlist_sql
from scheduling_service.adapters.statements import (
    GUARD_HELD,
    IF_GUARD_FAILED,
    IF_GUARD_HELD,
    Statements,
)
from scheduling_service.domain.queries import RoomQuery
from scheduling_service.domain.room import Room, Round
from scheduling_service.domain.users import Contact, People, User

# A room and its rounds (as parallel arrays, which psycopg loads natively), and its
# waitlist.
_ROOM = f"""
    r.room_id, r.host_id, r.guest_id, r.title, r.description, r.starts, r.ends,
    r.ics_uid, r.sequence, r.revision, r.create_time, r.update_time,
    d.ids, d.numbers, d.topics, d.times, r.reminder_offsets, {waitlist_sql.COLUMNS}
"""
_ROUNDS = f"""
    LEFT JOIN LATERAL (
        SELECT array_agg(d.round_id ORDER BY d.number) AS ids,
               array_agg(d.number ORDER BY d.number) AS numbers,
               array_agg(d.topic ORDER BY d.number) AS topics,
               array_agg(d.create_time ORDER BY d.number) AS times
          FROM rounds d WHERE d.room_id = r.room_id
    ) AS d ON true {waitlist_sql.JOIN}
"""
_ROOM_WIDTH = 17 + waitlist_sql.WIDTH
# For other adapters that read rooms (`r`) with their rounds.
ROOM_COLUMNS = _ROOM
ROUNDS_JOIN = _ROUNDS

_MAIL = participant_mail_sql.JOINS
_MAIL_COLUMNS = participant_mail_sql.COLUMNS

_GET = f"""
    SELECT {_ROOM}, {_MAIL_COLUMNS} FROM rooms r {_ROUNDS} {_MAIL}
     WHERE r.room_id = %(room_id)s
"""

# The room, who holds its event, and the contact details of everyone a message about
# a change may name: host, guest, holders, those waiting and the caller.
_GET_FOR_CHANGE = f"""
    SELECT {_ROOM}, h.holders, c.ids, c.emails, c.names, c.zones, k.calendar_only
      FROM rooms r {_ROUNDS}
      CROSS JOIN LATERAL (
          SELECT coalesce(array_agg(i.user_id), '{{}}') AS holders
            FROM room_invitees i WHERE i.room_id = r.room_id
      ) AS h
      CROSS JOIN LATERAL (
          SELECT array_agg(u.user_id) AS ids, array_agg(u.email) AS emails,
                 array_agg(u.name) AS names, array_agg(u.zoneinfo) AS zones
            FROM users u
           WHERE u.user_id = ANY(ARRAY[r.host_id, r.guest_id, %(caller)s] || h.holders
                                 || coalesce(wl.waiting, '{{}}'))
      ) AS c
      CROSS JOIN LATERAL (
          SELECT coalesce(array_agg(k.user_id), '{{}}') AS calendar_only
            FROM calendar_connections k
           WHERE k.user_id IN (r.host_id, r.guest_id, %(caller)s) AND NOT k.email_invites
             AND k.state = 'active'
      ) AS k
     WHERE r.room_id = %(room_id)s
"""

_CURRENT = (
    f"SELECT {_ROOM} FROM rooms r {_ROUNDS} WHERE r.room_id = %(room_id)s AND {IF_GUARD_FAILED}"
)

# Every change applies only to the version of the room the rules saw (SEQUENCE rises with
# each one; the revision with every change, its waitlist's included, so a booking or a
# leave never lands on a line or a hold other than the one it decided on). The most
# frequent ones write their slot in the same statement as their
# guard: fewer statements for the event loop to send and read back.
#
# Two transactions inserting slots that overlap each other's can deadlock inside the
# exclusion constraint's check (each waits for the other's uncommitted row), and
# PostgreSQL then takes a second to find it. So the writers of one person's slots go one
# at a time: a transaction-scoped advisory lock per user, taken after the room's row lock
# (the guard's UPDATE) and in user order. The constraint still decides; the lock queues.

# The room, its rounds and the host's slot; with a request id, only if this is the
# first request with it (AIP-155: a repeat finds the earlier room as "current"). The
# request id takes the room's create time, the clock its change-log row has too, so one
# prune round forgets both when their retentions agree.
# Foreign keys are checked at the statement's end.
_ADD = f"""
    WITH claimed AS (
        INSERT INTO room_requests (host_id, request_id, room_id, create_time)
        SELECT %(host_id)s, %(request_id)s, %(room_id)s, %(create_time)s
         WHERE %(request_id)s::uuid IS NOT NULL
        ON CONFLICT (host_id, request_id) DO NOTHING
        RETURNING 1
    ), go AS (
        SELECT 1 WHERE %(request_id)s::uuid IS NULL UNION ALL SELECT 1 FROM claimed
    ), room AS (
        INSERT INTO rooms (room_id, host_id, guest_id, title, description, starts, ends,
                           ics_uid, sequence, revision, create_time, update_time,
                           reminder_offsets, search_public, search_all)
        SELECT %(room_id)s, %(host_id)s, NULL, %(title)s, %(description)s, %(starts)s,
               %(ends)s, %(ics_uid)s, %(sequence)s, 0, %(create_time)s, %(update_time)s,
               %(reminder_offsets)s::integer[],
               to_tsvector('simple', %(public_text)s::text),
               to_tsvector('simple', %(public_text)s || ' ' || %(description)s)
          FROM go
    ), rounds AS (
        INSERT INTO rounds (round_id, room_id, number, topic, create_time)
        SELECT d.round_id, %(room_id)s, d.number, d.topic, %(create_time)s
          FROM go, unnest(%(round_ids)s::uuid[], %(numbers)s::integer[], %(topics)s::text[])
               AS d(round_id, number, topic)
    ), slot AS (
        INSERT INTO room_slots (room_id, user_no, role, starts, ends)
        SELECT %(room_id)s, %(host_no)s, 'host', %(starts)s, %(ends)s
          FROM go CROSS JOIN LATERAL (SELECT pg_advisory_xact_lock(%(host_no)s)) AS one_writer
    )
    {GUARD_HELD} FROM go
"""
_EARLIER_REQUEST = f"""
    SELECT {_ROOM} FROM rooms r {_ROUNDS}
     WHERE r.room_id = (SELECT q.room_id FROM room_requests q
                         WHERE q.host_id = %(host_id)s AND q.request_id = %(request_id)s)
       AND {IF_GUARD_FAILED}
"""
_BOOK = f"""
    WITH updated AS (
        UPDATE rooms SET guest_id = %(guest_id)s, sequence = %(sequence)s,
                         update_time = %(update_time)s
         WHERE room_id = %(room_id)s AND sequence = %(seen_sequence)s
           AND revision = %(seen_revision)s
        RETURNING starts, ends
    ), slot AS (
        INSERT INTO room_slots (room_id, user_no, role, starts, ends)
        SELECT %(room_id)s, %(guest_no)s, 'guest', u.starts, u.ends
          FROM updated u
               CROSS JOIN LATERAL (SELECT pg_advisory_xact_lock(%(guest_no)s)) AS one_writer
    )
    {GUARD_HELD} FROM updated
"""
_LEAVE = f"""
    WITH updated AS (
        UPDATE rooms SET guest_id = NULL, sequence = %(sequence)s, update_time = %(update_time)s
         WHERE room_id = %(room_id)s AND sequence = %(seen_sequence)s
           AND revision = %(seen_revision)s
        RETURNING 1
    ), freed AS (
        DELETE FROM room_slots
         WHERE room_id = %(room_id)s AND role = 'guest' AND EXISTS (SELECT 1 FROM updated)
    )
    {GUARD_HELD} FROM updated
"""
_MOVE = f"""
    WITH updated AS (
        UPDATE rooms SET starts = %(starts)s, ends = %(ends)s, sequence = %(sequence)s,
                         update_time = %(update_time)s
         WHERE room_id = %(room_id)s AND sequence = %(seen_sequence)s
           AND revision = %(seen_revision)s
        RETURNING 1
    )
    {GUARD_HELD} FROM updated
"""
_LOCK_PARTICIPANTS = f"""
    SELECT pg_advisory_xact_lock(s.user_no)
      FROM (SELECT user_no FROM room_slots WHERE room_id = %(room_id)s AND {IF_GUARD_HELD}
             ORDER BY user_no OFFSET 0) AS s
"""
_MOVE_SLOTS = f"""
    UPDATE room_slots SET starts = %(starts)s, ends = %(ends)s
     WHERE room_id = %(room_id)s AND {IF_GUARD_HELD}
"""
_LOCK = f"""
    WITH locked AS (
        SELECT 1 FROM rooms WHERE room_id = %(room_id)s AND sequence = %(seen_sequence)s
           AND revision = %(seen_revision)s FOR UPDATE
    )
    {GUARD_HELD} FROM locked
"""
# Slots and invitees go with the room (ON DELETE CASCADE); the rounds first, as the
# product asks.
_DELETE_ROUNDS = f"DELETE FROM rounds WHERE room_id = %(room_id)s AND {IF_GUARD_HELD}"
_DELETE_ROOM = f"DELETE FROM rooms WHERE room_id = %(room_id)s AND {IF_GUARD_HELD}"


def room_from_row(row: TupleRow) -> Room:
    """A room from `_ROOM`'s columns, and its mail when the row carries `_MAIL`'s."""
    with_mail = len(row) == _ROOM_WIDTH + participant_mail_sql.WIDTH
    ids, numbers, topics, times = row[12:16]
    return Room(
        room_id=row[0],
        host_id=row[1],
        guest_id=row[2],
        title=row[3],
        description=row[4],
        starts=row[5],
        ends=row[6],
        ics_uid=row[7],
        sequence=row[8],
        revision=row[9],
        create_time=row[10],
        update_time=row[11],
        rounds=tuple(map(Round, ids, numbers, topics, times)) if ids else (),
        reminder_offsets=tuple(timedelta(seconds=s) for s in row[16]),
        waitlist=waitlist_sql.waitlist(row[17:_ROOM_WIDTH]),
        mail=participant_mail_sql.mail(row[_ROOM_WIDTH:]) if with_mail else (),
        calendar=participant_mail_sql.copies(row[_ROOM_WIDTH:]) if with_mail else (),
    )


def view_conditions(
    open_only: bool, participant_id: str | None, params: dict[str, Any]
) -> list[str]:
    """SQL conditions on `rooms r` for the two views callers filter by (ListRooms and
    the WatchRooms snapshot), adding their parameters to `params`."""
    conditions = []
    if open_only:
        conditions.append("r.guest_id IS NULL")
    if participant_id:
        conditions.append("(r.host_id = %(participant)s OR r.guest_id = %(participant)s)")
        params["participant"] = participant_id
    return conditions


def select_rooms(where: list[str], *, with_mail: bool = False) -> str:
    clause = f"WHERE {' AND '.join(where)}" if where else ""
    mail = (f", {_MAIL_COLUMNS}", _MAIL) if with_mail else ("", "")
    return (
        f"SELECT {_ROOM}{mail[0]} FROM rooms r {_ROUNDS} {mail[1]} {clause}"
        " ORDER BY r.starts, r.room_id"
    )


class RoomsSql:
    def __init__(self, statements: Statements) -> None:
        self._statements = statements

    async def get(self, room_id: uuid.UUID, viewer: User) -> Room | None:
        row = await self._statements.fetchone(_GET, {"room_id": room_id, "viewer": viewer.user_id})
        return room_from_row(row) if row else None

    async def get_for_change(
        self, room_id: uuid.UUID, caller_id: str
    ) -> tuple[Room, People] | None:
        row = await self._statements.fetchone(
            _GET_FOR_CHANGE, {"room_id": room_id, "caller": caller_id}
        )
        if row is None:
            return None
        holders, ids, emails, names, zones, calendar_only = row[_ROOM_WIDTH:]
        contacts = {
            user_id: Contact(user_id, email, name, zone)
            for user_id, email, name, zone in zip(
                ids or (), emails or (), names or (), zones or (), strict=True
            )
        }
        return room_from_row(row), People(frozenset(holders), contacts, frozenset(calendar_only))

    async def list(
        self,
        query: RoomQuery,
        viewer: User,
        *,
        viewer_no: int,
        now: datetime,
        after: tuple[datetime, uuid.UUID] | None,
        limit: int,
    ) -> list[Room]:
        params: dict[str, Any] = {"limit": limit, "viewer": viewer.user_id}
        where = view_conditions(query.open_only, query.participant_id, params)
        where += room_search_sql.conditions(query, viewer, viewer_no, now, params)
        if query.start_after is not None:
            where.append("r.starts >= %(start_after)s")
            params["start_after"] = query.start_after
        if query.start_before is not None:
            where.append("r.starts < %(start_before)s")
            params["start_before"] = query.start_before
        if after is not None:
            where.append("(r.starts, r.room_id) > (%(after_starts)s, %(after_id)s)")
            params["after_starts"], params["after_id"] = after
        rows = await self._statements.fetchall(
            select_rooms(where, with_mail=True) + " LIMIT %(limit)s", params
        )
        return [room_from_row(row) for row in rows]

    def add(self, room: Room, host_no: int, request_id: uuid.UUID | None) -> None:
        request = {"host_id": room.host_id, "request_id": request_id}
        self._statements.guard(
            _ADD,
            {
                **request,
                "room_id": room.room_id,
                "title": room.title,
                "description": room.description,
                "starts": room.starts,
                "ends": room.ends,
                "ics_uid": room.ics_uid,
                "sequence": room.sequence,
                "create_time": room.create_time,
                "update_time": room.update_time,
                "round_ids": [r.round_id for r in room.rounds],
                "numbers": [r.number for r in room.rounds],
                "topics": [r.topic for r in room.rounds],
                "host_no": host_no,
                "reminder_offsets": [int(o.total_seconds()) for o in room.reminder_offsets],
                "public_text": " ".join([room.title, *(r.topic for r in room.rounds)]),
            },
            current_sql=_EARLIER_REQUEST if request_id is not None else None,
            current_params=request,
            load_current=room_from_row,
        )

    def book(self, before: Room, after: Room, guest_no: int) -> None:
        self._guard(
            _BOOK,
            before,
            after,
            guest_id=after.guest_id,
            guest_no=guest_no,
            sequence=after.sequence,
            update_time=after.update_time,
        )

    def leave(self, before: Room, after: Room) -> None:
        self._guard(_LEAVE, before, after, sequence=after.sequence, update_time=after.update_time)

    def reschedule(self, before: Room, after: Room) -> None:
        times = {"starts": after.starts, "ends": after.ends}
        self._guard(
            _MOVE, before, after, **times, sequence=after.sequence, update_time=after.update_time
        )
        self._statements.queue(_LOCK_PARTICIPANTS, {"room_id": after.room_id})
        self._statements.queue(_MOVE_SLOTS, {"room_id": after.room_id, **times})

    def remove(self, before: Room, after: Room) -> None:
        self._guard(_LOCK, before, after)
        key = {"room_id": before.room_id}
        self._statements.queue(_DELETE_ROUNDS, key)
        self._statements.queue(_DELETE_ROOM, key)

    def _guard(self, sql: str, before: Room, after: Room, **params: Any) -> None:
        """Queue `sql` as the change's guard: it applies only to `before`'s version; a
        lost race reads the room as it now stands."""
        key = {"room_id": after.room_id}
        self._statements.guard(
            sql,
            {**key, "seen_sequence": before.sequence, "seen_revision": before.revision, **params},
            current_sql=_CURRENT,
            current_params=key,
            load_current=room_from_row,
        )
