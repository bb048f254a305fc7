"""The WatchRooms protocol: snapshot or resume, then live events and heartbeats.

Order of operations is what makes it gap-free: subscribe to the hub first (its queue
holds every event after the hub's position), then read the database in one
REPEATABLE READ transaction (a snapshot, or the log after `since`), which reaches at
least that position; then drain the queue, skipping what the read already covered.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime

from scheduling.v1 import scheduling_pb2 as pb
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from scheduling_service import wire
from scheduling_service.adapters import change_log
from scheduling_service.domain import errors
from scheduling_service.service_layer.unit_of_work import database_errors
from scheduling_service.service_layer.watch_hub import (
    EndReason,
    Hub,
    Subscription,
    WatchFilter,
)

# A watcher that reads its snapshot slowly keeps the transaction open between rows;
# its own bounded queue, not the session timeout, decides when it is too slow.
_NO_IDLE_LIMIT = text("SET LOCAL idle_in_transaction_session_timeout = 0")


@dataclass(frozen=True)
class Watch:
    since_revision: int
    filter: WatchFilter


def _marker(kind: pb.RoomEvent.Type, revision: int) -> bytes:
    return pb.RoomEvent(
        type=kind,
        revision=revision,
        event_time=wire.timestamp(datetime.now(UTC)),
    ).SerializeToString()


class WatchSession:
    """One watcher's stream of serialized RoomEvents; `ended` says why it must stop."""

    def __init__(self, engine: AsyncEngine, hub: Hub, watch: Watch, heartbeat_s: float) -> None:
        self._engine = engine
        self._watch = watch
        self._heartbeat_s = heartbeat_s
        self._hub = hub
        self.subscription: Subscription = hub.subscribe(asyncio.current_task())
        self.position = 0  # every event up to here has been sent or filtered out

    @property
    def end_reason(self) -> EndReason | None:
        return self.subscription.end_reason

    def close(self) -> None:
        self._hub.unsubscribe(self.subscription)

    async def events(self) -> AsyncGenerator[bytes, None]:
        if self._watch.since_revision == 0:
            async for data in self._snapshot():
                yield data
        else:
            async for data in self._backlog():
                yield data
        async for data in self._live():
            yield data

    async def _snapshot(self) -> AsyncIterator[bytes]:
        async with database_errors(), self._engine.connect() as conn:
            conn = await conn.execution_options(isolation_level="REPEATABLE READ")
            async with conn.begin():
                await conn.execute(_NO_IDLE_LIMIT)
                revision, _ = await change_log.head(conn)
                now = datetime.now(UTC)
                async for data in change_log.stream_snapshot(conn, self._watch.filter, now):
                    yield data
        self.position = revision
        yield _marker(pb.RoomEvent.TYPE_SYNCED, revision)

    async def _backlog(self) -> AsyncIterator[bytes]:
        since = self._watch.since_revision
        async with database_errors(), self._engine.connect() as conn:
            conn = await conn.execution_options(isolation_level="REPEATABLE READ")
            async with conn.begin():
                await conn.execute(_NO_IDLE_LIMIT)
                head, compacted = await change_log.head(conn)
                if since < compacted:
                    raise errors.RevisionCompacted(
                        f"revisions up to {compacted} are no longer kept; watch from 0 again"
                    )
                if since > head:
                    raise errors.InvalidArgument(
                        [errors.FieldViolation("since_revision", f"is after the latest, {head}")]
                    )
                self.position = since
                async for event in change_log.stream_events_after(conn, since):
                    self.position = event.revision
                    if event.matches(self._watch.filter):
                        yield event.data

    async def _live(self) -> AsyncIterator[bytes]:
        queue = self.subscription.queue
        loop = asyncio.get_running_loop()
        # Counted from the last message sent, not the last event seen: a filtered
        # watcher on a busy system still gets its heartbeats and resume points.
        next_beat = loop.time() + self._heartbeat_s
        while True:
            if queue.empty():
                try:
                    async with asyncio.timeout_at(next_beat):
                        event = await queue.get()
                except TimeoutError:
                    yield _marker(pb.RoomEvent.TYPE_HEARTBEAT, self.position)
                    next_beat = loop.time() + self._heartbeat_s
                    continue
            else:
                event = queue.get_nowait()
            if event.revision <= self.position:
                continue  # already covered by the snapshot or the backlog
            self.position = event.revision
            if event.matches(self._watch.filter):
                yield event.data
                next_beat = loop.time() + self._heartbeat_s
            elif loop.time() >= next_beat:
                yield _marker(pb.RoomEvent.TYPE_HEARTBEAT, self.position)
                next_beat = loop.time() + self._heartbeat_s
