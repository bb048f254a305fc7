"""The change log (room_events) behind WatchRooms: written last in every change,
read by the replica's feed, by resuming watchers, and pruned past the retention.

Revisions come from one counter row updated by the change's last write: its row lock
orders the commits, so revisions become visible in order and without gaps. NOTIFY
carries just the revision, a hint for the watchers on every replica, delivered at
commit. Each event is stored as the API's own protobuf, serialized once, when written.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import datetime
from typing import Any

from psycopg.rows import TupleRow
from scheduling.v1 import scheduling_pb2 as pb

from scheduling_service.adapters import wire
from scheduling_service.adapters.rooms_sql import room_from_row, select_rooms, view_conditions
from scheduling_service.adapters.statements import IF_GUARD_HELD, Statements
from scheduling_service.domain.change_log import ChangeLogEntry
from scheduling_service.domain.changes import Change
from scheduling_service.domain.users import User
from scheduling_service.domain.visibility import view_for
from scheduling_service.domain.watch import WatchEvent, WatchFilter
from servicekit.logs import get_logger

log = get_logger(__name__)

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
    try:
        kind = wire.EVENT_TYPES[Change(change)]
    except (ValueError, KeyError):
        # A newer release's kind of change (a rolling update): skipped, not fatal, or
        # every watcher of this replica would stop at it.
        log.warning("change log event of an unknown kind skipped", revision=revision, change=change)
        return WatchEvent.unreadable(revision)
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
    # Like every event, the waitlist as everyone sees it (a stream shows no one's place).
    view = replace(view_for(room_from_row(row), viewer), waitlist=None)
    return pb.RoomEvent(
        type=pb.RoomEvent.TYPE_SNAPSHOT,
        room=wire.room_message(view, with_links=False),
        revision=view.room.revision,
        event_time=wire.timestamp(view.room.update_time),
    ).SerializeToString()


class ChangeLogSql:
    def __init__(self, statements: Statements) -> None:
        self._statements = statements

    def record(self, entry: ChangeLogEntry) -> None:
        """Queue the event the domain decided the change makes (domain/change_log.py)."""
        self._statements.queue(
            _RECORD,
            {
                "room_id": entry.room_id,
                "change": entry.change.value,
                "room": wire.room_message(
                    entry.private, with_version=False, with_links=False
                ).SerializeToString(),
                "room_public": (
                    None
                    if entry.public is None
                    else wire.room_message(
                        entry.public, with_version=False, with_links=False
                    ).SerializeToString()
                ),
                "participants": list(entry.participants),
                "open_before": entry.open_before,
                "open_after": entry.open_after,
                "now": entry.event_time,
            },
            revision=True,
        )

    async def head(self) -> tuple[int, int]:
        row = await self._statements.fetchone(_HEAD)
        assert row is not None, "the migrations insert both singleton rows"
        return int(row[0]), int(row[1])

    async def after(self, revision: int, limit: int) -> list[WatchEvent]:
        rows = await self._statements.fetchall(_AFTER, (revision, limit))
        return [event_from_row(row) for row in rows]

    async def stream_snapshot(
        self, watch_filter: WatchFilter, viewer: User, now: datetime
    ) -> AsyncIterator[bytes]:
        params: dict[str, Any] = {"now": now}
        where = [
            "r.ends > %(now)s",
            *view_conditions(watch_filter.open_only, watch_filter.participant_id, params),
        ]
        async for row in self._statements.stream(select_rooms(where), params):
            yield _snapshot_event(row, viewer)

    async def prune(self, cutoff: datetime) -> tuple[int, int]:
        rows = await self._statements.execute(_PRUNE, {"cutoff": cutoff}, idempotent=True)
        return (int(rows[0][0]), int(rows[0][1])) if rows else (0, 0)

    async def prune_requests(self, cutoff: datetime) -> int:
        rows = await self._statements.execute(_PRUNE_REQUESTS, {"cutoff": cutoff}, idempotent=True)
        return int(rows[0][0])
