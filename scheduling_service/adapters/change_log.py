"""Reading the change log (room_events) and pruning it past the retention."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import namedtuple_row
from scheduling.v1 import scheduling_pb2 as pb
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from scheduling_service import wire
from scheduling_service.adapters.repository import ROOM_COLUMNS, room_from_row, view_conditions
from scheduling_service.domain.room import Change
from scheduling_service.service_layer.watch_hub import WatchEvent, WatchFilter

_EVENT_COLUMNS = "revision, change, room, participants, open_before, open_after, event_time"
_AFTER = f"SELECT {_EVENT_COLUMNS} FROM room_events WHERE revision > %s ORDER BY revision LIMIT %s"
_ALL_AFTER = text(
    f"SELECT {_EVENT_COLUMNS} FROM room_events WHERE revision > :after ORDER BY revision"
)
_HEAD = text("SELECT c.value AS head, h.compacted FROM revision_counter c, room_events_horizon h")
_PRUNE = text(
    """
    WITH cut AS (
        SELECT max(revision) AS revision FROM room_events WHERE event_time < :cutoff
    ), gone AS (
        DELETE FROM room_events WHERE revision <= (SELECT revision FROM cut) RETURNING 1
    )
    UPDATE room_events_horizon
       SET compacted = greatest(compacted, (SELECT revision FROM cut))
     WHERE (SELECT revision FROM cut) IS NOT NULL
    RETURNING compacted, (SELECT count(*) FROM gone) AS deleted
    """
)


_PRUNE_REQUESTS = text("DELETE FROM room_requests WHERE create_time < :cutoff")


def event_from_row(row: Any) -> WatchEvent:
    room = pb.Room.FromString(row.room)
    room.revision = row.revision
    room.etag = str(row.revision)
    message = pb.RoomEvent(
        type=wire.EVENT_TYPES[Change(row.change)],
        room=room,
        revision=row.revision,
        event_time=wire.timestamp(row.event_time),
    )
    return WatchEvent(
        revision=row.revision,
        participants=frozenset(row.participants),
        open_before=row.open_before,
        open_after=row.open_after,
        data=message.SerializeToString(),
    )


async def head(conn: AsyncConnection) -> tuple[int, int]:
    """(latest revision, highest pruned revision)."""
    row = (await conn.execute(_HEAD)).one()
    return int(row.head), int(row.compacted)


async def events_after(
    conn: psycopg.AsyncConnection[Any], revision: int, limit: int
) -> list[WatchEvent]:
    """Up to `limit` events after `revision`, on the listener's own connection."""
    cursor = conn.cursor(row_factory=namedtuple_row)
    await cursor.execute(_AFTER, (revision, limit))
    return [event_from_row(row) for row in await cursor.fetchall()]


async def stream_events_after(conn: AsyncConnection, revision: int) -> AsyncIterator[WatchEvent]:
    """Every event after `revision`, read through a server-side cursor."""
    result = await conn.stream(_ALL_AFTER, {"after": revision})
    async for row in result:
        yield event_from_row(row)


async def stream_snapshot(
    conn: AsyncConnection, f: WatchFilter, now: datetime
) -> AsyncIterator[bytes]:
    """A SNAPSHOT event per room not yet ended, in the caller's transaction."""
    params: dict[str, Any] = {"now": now}
    conditions = ["r.ends > :now", *view_conditions(f.open_only, f.participant_id, params)]
    sql = text(
        f"SELECT {ROOM_COLUMNS} FROM rooms r WHERE {' AND '.join(conditions)}"
        " ORDER BY r.starts, r.room_id"
    )
    result = await conn.stream(sql, params)
    async for row in result:
        room = room_from_row(row)
        yield pb.RoomEvent(
            type=pb.RoomEvent.TYPE_SNAPSHOT,
            room=wire.room_message(room),
            revision=room.revision,
            event_time=wire.timestamp(room.update_time),
        ).SerializeToString()


async def prune(conn: AsyncConnection, cutoff: datetime) -> tuple[int, int]:
    """Delete events older than `cutoff`; returns (compacted revision, rows deleted)."""
    row = (await conn.execute(_PRUNE, {"cutoff": cutoff})).first()
    return (int(row.compacted), int(row.deleted)) if row else (0, 0)


async def prune_requests(conn: AsyncConnection, cutoff: datetime) -> int:
    """Forget CreateRoom request ids older than `cutoff` (AIP-155 keeps them a while)."""
    result = await conn.execute(_PRUNE_REQUESTS, {"cutoff": cutoff})
    return int(result.rowcount)
