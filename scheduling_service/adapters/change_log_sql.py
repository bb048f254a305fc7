"""The change log (room_events) behind WatchRooms: written last in every change,
read by the replica's feed, by resuming watchers, and pruned past the retention.

Revisions come from one counter row updated by the change's last write: its row lock
orders the commits, so revisions become visible in order and without gaps. NOTIFY
carries just the revision, a hint for the watchers on every replica, delivered at
commit. Each event is stored as the API's own protobuf, serialized once, when written.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

from psycopg.rows import TupleRow
from scheduling.v1 import scheduling_pb2 as pb

from scheduling_service.adapters import wire
from scheduling_service.adapters.rooms_sql import room_from_row, select_rooms, view_conditions
from scheduling_service.adapters.session import IF_GUARD_HELD, Session
from scheduling_service.domain.changes import Change
from scheduling_service.domain.room import Room
from scheduling_service.domain.users import User
from scheduling_service.domain.views import Seen, public, seen_by
from scheduling_service.domain.watch import WatchEvent, WatchFilter

_RECORD = f"""
    WITH counter AS (
        UPDATE revision_counter SET value = value + 1 WHERE {IF_GUARD_HELD} RETURNING value
    ), stamped AS (
        UPDATE rooms SET revision = counter.value FROM counter
         WHERE rooms.room_id = %(room_id)s RETURNING rooms.room_id
    ), notified AS (
        SELECT pg_notify('room_events', counter.value::text) FROM counter
    )
    INSERT INTO room_events (revision, room_id, change, room, room_public, participants,
                             open_before, open_after, event_time)
    SELECT counter.value, %(room_id)s, %(change)s, %(room)s, %(room_public)s,
           %(participants)s, %(open_before)s, %(open_after)s, %(now)s
      FROM counter, notified
    RETURNING revision
"""
_EVENTS = "revision, change, room, room_public, participants, open_before, open_after, event_time"
_AFTER = f"SELECT {_EVENTS} FROM room_events WHERE revision > %s ORDER BY revision LIMIT %s"
_HEAD = "SELECT c.value, h.compacted FROM revision_counter c, room_events_horizon h"
_PRUNE = """
    WITH cut AS (
        SELECT max(revision) AS revision FROM room_events WHERE event_time < %(cutoff)s
    ), gone AS (
        DELETE FROM room_events WHERE revision <= (SELECT revision FROM cut) RETURNING 1
    )
    UPDATE room_events_horizon
       SET compacted = greatest(compacted, (SELECT revision FROM cut))
     WHERE (SELECT revision FROM cut) IS NOT NULL
    RETURNING compacted, (SELECT count(*) FROM gone)
"""
_PRUNE_REQUESTS = """
    WITH gone AS (DELETE FROM room_requests WHERE create_time < %(cutoff)s RETURNING 1)
    SELECT count(*) FROM gone
"""


def event_from_row(row: TupleRow) -> WatchEvent:
    revision, change, private, public, participants, open_before, open_after, at = row
    kind = wire.EVENT_TYPES[Change(change)]
    private_event = wire.event_message(kind, private, revision, at)
    return WatchEvent(
        revision=revision,
        participants=frozenset(participants),
        open_before=open_before,
        open_after=open_after,
        private=private_event,
        public=private_event if public is None else wire.event_message(kind, public, revision, at),
    )


def _snapshot_event(row: TupleRow, viewer: User) -> bytes:
    seen = seen_by(room_from_row(row), viewer)
    return pb.RoomEvent(
        type=pb.RoomEvent.TYPE_SNAPSHOT,
        room=wire.room_message(seen),
        revision=seen.room.revision,
        event_time=wire.timestamp(seen.room.update_time),
    ).SerializeToString()


class ChangeLogSql:
    def __init__(self, session: Session) -> None:
        self._session = session

    def record(self, change: Change, before: Room | None, after: Room, now: datetime) -> None:
        participants = set(after.participants) | set(before.participants if before else ())
        private = Seen(after, booked=after.guest_id is not None, private=True)
        others = public(after)
        self._session.queue(
            _RECORD,
            {
                "room_id": after.room_id,
                "change": change.value,
                "room": wire.room_message(private, with_version=False).SerializeToString(),
                "room_public": (
                    None
                    if others.room is after
                    else wire.room_message(others, with_version=False).SerializeToString()
                ),
                "participants": sorted(participants),
                "open_before": before.is_open if before else after.is_open,
                "open_after": after.is_open and change is not Change.CANCELLED,
                "now": now,
            },
            revision=True,
        )

    async def head(self) -> tuple[int, int]:
        row = await self._session.fetchone(_HEAD)
        assert row is not None, "the migrations insert both singleton rows"
        return int(row[0]), int(row[1])

    async def after(self, revision: int, limit: int) -> list[WatchEvent]:
        rows = await self._session.fetchall(_AFTER, (revision, limit))
        return [event_from_row(row) for row in rows]

    async def stream_snapshot(
        self, f: WatchFilter, viewer: User, now: datetime
    ) -> AsyncIterator[bytes]:
        params: dict[str, Any] = {"now": now}
        where = ["r.ends > %(now)s", *view_conditions(f.open_only, f.participant_id, params)]
        async for row in self._session.stream(select_rooms(where), params):
            yield _snapshot_event(row, viewer)

    async def prune(self, cutoff: datetime) -> tuple[int, int]:
        rows = await self._session.execute(_PRUNE, {"cutoff": cutoff}, idempotent=True)
        return (int(rows[0][0]), int(rows[0][1])) if rows else (0, 0)

    async def prune_requests(self, cutoff: datetime) -> int:
        rows = await self._session.execute(_PRUNE_REQUESTS, {"cutoff": cutoff}, idempotent=True)
        return int(rows[0][0])
