"""Rooms in PostgreSQL: reads, the conditional writes, and the change log.

Plain SQL through SQLAlchemy Core connections; every method runs inside the caller's
transaction (see unit_of_work). Concurrency is decided by PostgreSQL: the booking is
one conditional UPDATE, overlaps by an exclusion constraint, revisions by a counter row.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from scheduling_service import wire
from scheduling_service.domain.room import Change, Room, Round

ROOM_COLUMNS = """
    r.room_id, r.host_id, r.guest_id, r.title, r.description, r.starts, r.ends,
    r.ics_uid, r.sequence, r.revision, r.create_time, r.update_time,
    (SELECT coalesce(json_agg(json_build_array(d.round_id, d.number, d.topic,
                                               d.create_time) ORDER BY d.number), '[]')
       FROM rounds d WHERE d.room_id = r.room_id) AS rounds
"""

_GET = text(f"SELECT {ROOM_COLUMNS} FROM rooms r WHERE r.room_id = :room_id")
_GET_FOR_UPDATE = text(
    f"SELECT {ROOM_COLUMNS} FROM rooms r WHERE r.room_id = :room_id FOR UPDATE OF r"
)

# The rules of Room.already_guest, as one statement: the first booker wins and every
# concurrent one finds guest_id already set (PostgreSQL re-checks the WHERE clause
# after waiting for the winner's row lock). The guest's slot goes in with it, under
# the exclusion constraint that keeps their sessions apart.
_BOOK = text(
    f"""
    WITH r AS (
        UPDATE rooms AS r
           SET guest_id = :guest_id, sequence = r.sequence + 1, update_time = :now
         WHERE r.room_id = :room_id AND r.guest_id IS NULL
           AND r.host_id <> :guest_id AND r.starts > :now
        RETURNING r.*
    ), slot AS (
        INSERT INTO room_slots (room_id, user_no, role, starts, ends)
        SELECT r.room_id, :guest_no, 'guest', r.starts, r.ends
          FROM r, LATERAL (SELECT pg_advisory_xact_lock(:guest_no)) AS one_writer_per_user
    )
    SELECT {ROOM_COLUMNS} FROM r
    """
)

# The room, its rounds and the host's slot in one statement (foreign keys are
# checked at its end).
_ADD_ROOM = text(
    """
    WITH room AS (
        INSERT INTO rooms (room_id, host_id, guest_id, title, description, starts, ends,
                           ics_uid, sequence, revision, create_time, update_time)
        VALUES (:room_id, :host_id, NULL, :title, :description, :starts, :ends,
                :ics_uid, :sequence, 0, :create_time, :update_time)
    ), rounds AS (
        INSERT INTO rounds (round_id, room_id, number, topic, create_time)
        SELECT r.round_id, :room_id, r.number, r.topic, :create_time
          FROM unnest(CAST(:round_ids AS uuid[]), CAST(:numbers AS integer[]),
                      CAST(:topics AS text[])) AS r(round_id, number, topic)
    )
    INSERT INTO room_slots (room_id, user_no, role, starts, ends)
    SELECT :room_id, :host_no, 'host', :starts, :ends
      FROM (SELECT pg_advisory_xact_lock(:host_no)) AS one_writer_per_user
    """
)
_UPDATE_ROOM = text(
    """
    UPDATE rooms SET guest_id = :guest_id, starts = :starts, ends = :ends,
                     sequence = :sequence, update_time = :update_time
     WHERE room_id = :room_id
    """
)
# Two transactions inserting slots that overlap each other's can deadlock inside
# the exclusion constraint's check (each waits for the other's uncommitted row), and
# PostgreSQL then takes a second to find it. So the writers of one person's slots go
# one at a time: a transaction-scoped advisory lock per user, taken after the room's
# row lock and in user order. The constraint still decides; the lock only queues.
_LOCK_PARTICIPANTS = text(
    """
    SELECT pg_advisory_xact_lock(user_no)
      FROM (SELECT user_no FROM room_slots WHERE room_id = :room_id
             ORDER BY user_no OFFSET 0) AS in_order
    """
)
_MOVE_SLOTS = text("UPDATE room_slots SET starts = :starts, ends = :ends WHERE room_id = :room_id")
_DELETE_GUEST_SLOT = text("DELETE FROM room_slots WHERE room_id = :room_id AND role = 'guest'")
_DELETE_ROUNDS = text("DELETE FROM rounds WHERE room_id = :room_id")
_DELETE_ROOM = text("DELETE FROM rooms WHERE room_id = :room_id")

_CLAIM_REQUEST = text(
    """
    INSERT INTO room_requests (host_id, request_id, room_id)
    VALUES (:host_id, :request_id, :room_id)
    ON CONFLICT (host_id, request_id) DO NOTHING
    RETURNING room_id
    """
)
_FIND_REQUEST = text(
    "SELECT room_id FROM room_requests WHERE host_id = :host_id AND request_id = :request_id"
)

# The last statement of every writing transaction, sent together with its COMMIT
# (see record_change_and_commit). The counter row's lock orders the commits, so
# revisions become visible in order and without gaps; NOTIFY carries just the
# revision, a hint for watchers on every replica, delivered at commit. psycopg
# placeholders: this one runs on the driver connection.
_RECORD_CHANGE = """
    WITH counter AS (
        UPDATE revision_counter SET value = value + 1 RETURNING value
    ), stamped AS (
        UPDATE rooms SET revision = counter.value FROM counter
         WHERE rooms.room_id = %(room_id)s RETURNING rooms.room_id
    ), notified AS (
        SELECT pg_notify('room_events', counter.value::text) FROM counter
    )
    INSERT INTO room_events (revision, room_id, change, room, participants,
                             open_before, open_after, event_time)
    SELECT counter.value, %(room_id)s, %(change)s, %(room)s, %(participants)s,
           %(open_before)s, %(open_after)s, %(now)s
      FROM counter, notified
    RETURNING revision
"""


@dataclass(frozen=True)
class RoomQuery:
    open_only: bool = False
    participant_id: str | None = None
    start_after: datetime | None = None
    start_before: datetime | None = None


def room_from_row(row: Any) -> Room:
    rounds = row.rounds if isinstance(row.rounds, list) else json.loads(row.rounds)
    return Room(
        room_id=row.room_id,
        host_id=row.host_id,
        guest_id=row.guest_id,
        title=row.title,
        description=row.description,
        starts=row.starts,
        ends=row.ends,
        ics_uid=row.ics_uid,
        sequence=row.sequence,
        revision=row.revision,
        create_time=row.create_time,
        update_time=row.update_time,
        rounds=tuple(
            Round(uuid.UUID(rid), number, topic, datetime.fromisoformat(created))
            for rid, number, topic, created in rounds
        ),
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
        conditions.append("(r.host_id = :participant OR r.guest_id = :participant)")
        params["participant"] = participant_id
    return conditions


class RoomRepository:
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def get(self, room_id: uuid.UUID, *, for_update: bool = False) -> Room | None:
        result = await self._conn.execute(
            _GET_FOR_UPDATE if for_update else _GET, {"room_id": room_id}
        )
        row = result.first()
        return room_from_row(row) if row else None

    async def add(self, room: Room, host_no: int) -> None:
        await self._conn.execute(
            _ADD_ROOM,
            {
                "room_id": room.room_id,
                "host_id": room.host_id,
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
            },
        )

    async def book_if_open(
        self, room_id: uuid.UUID, guest_id: str, guest_no: int, now: datetime
    ) -> Room | None:
        """Make `guest_id` the guest if the room is still bookable; None if it is not."""
        params = {"room_id": room_id, "guest_id": guest_id, "guest_no": guest_no, "now": now}
        row = (await self._conn.execute(_BOOK, params)).first()
        return room_from_row(row) if row else None

    async def update(self, before: Room, after: Room) -> None:
        await self._conn.execute(
            _UPDATE_ROOM,
            {
                "room_id": after.room_id,
                "guest_id": after.guest_id,
                "starts": after.starts,
                "ends": after.ends,
                "sequence": after.sequence,
                "update_time": after.update_time,
            },
        )
        if before.guest_id is not None and after.guest_id is None:
            await self._conn.execute(_DELETE_GUEST_SLOT, {"room_id": after.room_id})
        if (before.starts, before.ends) != (after.starts, after.ends):
            await self._conn.execute(_LOCK_PARTICIPANTS, {"room_id": after.room_id})
            await self._conn.execute(
                _MOVE_SLOTS,
                {"room_id": after.room_id, "starts": after.starts, "ends": after.ends},
            )

    async def delete(self, room_id: uuid.UUID) -> None:
        await self._conn.execute(_DELETE_ROUNDS, {"room_id": room_id})
        await self._conn.execute(_DELETE_ROOM, {"room_id": room_id})

    async def claim_request(
        self, host_id: str, request_id: uuid.UUID, room_id: uuid.UUID
    ) -> uuid.UUID | None:
        """Record that `request_id` creates `room_id`; return the earlier room if any.

        The primary key decides between concurrent repeats: the second insert waits
        for the first transaction and then finds its row.
        """
        params = {"host_id": host_id, "request_id": request_id, "room_id": room_id}
        if (await self._conn.execute(_CLAIM_REQUEST, params)).first() is not None:
            return None
        row = (await self._conn.execute(_FIND_REQUEST, params)).first()
        return row.room_id if row else None

    async def record_change_and_commit(
        self, change: Change, before: Room | None, after: Room, now: datetime
    ) -> int:
        """Append to the change log and COMMIT, in one round trip; returns the revision,
        now also the room's.

        psycopg's pipeline sends the statement and the COMMIT without waiting between
        them, so the counter row's lock, which every writer takes, is released by the
        server itself instead of after a reply has waited its turn in this busy event
        loop. SQLAlchemy's own commit() afterwards finds nothing left to do.
        """
        participants = set(after.participants) | set(before.participants if before else ())
        params = {
            "room_id": after.room_id,
            "change": change.value,
            "room": wire.room_message(after, with_version=False).SerializeToString(),
            "participants": sorted(participants),
            "open_before": before.is_open if before else after.is_open,
            "open_after": after.is_open and change is not Change.CANCELLED,
            "now": now,
        }
        driver = (await self._conn.get_raw_connection()).driver_connection
        assert driver is not None
        async with driver.pipeline():
            cursor = driver.cursor()
            await cursor.execute(_RECORD_CHANGE, params)
            await driver.commit()
        row = await cursor.fetchone()
        assert row is not None
        return int(row[0])

    async def list(
        self, query: RoomQuery, *, after: tuple[datetime, uuid.UUID] | None, limit: int
    ) -> list[Room]:
        params: dict[str, Any] = {"limit": limit}
        conditions = view_conditions(query.open_only, query.participant_id, params)
        if query.start_after is not None:
            conditions.append("r.starts >= :start_after")
            params["start_after"] = query.start_after
        if query.start_before is not None:
            conditions.append("r.starts < :start_before")
            params["start_before"] = query.start_before
        if after is not None:
            conditions.append("(r.starts, r.room_id) > (:after_starts, :after_id)")
            params["after_starts"], params["after_id"] = after
        where = f"WHERE {' AND '.join(conditions)}" if conditions else ""
        sql = text(
            f"SELECT {ROOM_COLUMNS} FROM rooms r {where} ORDER BY r.starts, r.room_id LIMIT :limit"
        )
        return [room_from_row(row) for row in await self._conn.execute(sql, params)]
