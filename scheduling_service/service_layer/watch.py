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

from scheduling_service.domain import errors
from scheduling_service.domain.users import User
from scheduling_service.domain.visibility import check_schedule_filter
from scheduling_service.domain.watch import WatchFilter
from scheduling_service.service_layer.hub import EndReason, Hub, Subscription
from scheduling_service.service_layer.ports import Database, Markers

# Events of the log read per transaction when a watcher resumes.
_BACKLOG_PAGE = 256


@dataclass(frozen=True)
class WatchRooms:
    """The command: watch from `since_revision` (0: a snapshot first), through `filter`,
    as `viewer` may see the rooms."""

    since_revision: int
    filter: WatchFilter
    viewer: User


class WatchService:
    """Opens watch sessions on this replica's hub.

    Snapshots and backlogs each hold a pooled connection while they are read: at most
    `snapshot_concurrency` at once, so that a crowd of watchers arriving together
    queues here instead of taking every connection the unary calls need. They are read
    whole before the first write, so no slot waits on a client's pace.
    """

    def __init__(
        self,
        database: Database,
        hub: Hub,
        markers: Markers,
        heartbeat_s: float,
        snapshot_concurrency: int,
    ) -> None:
        self._db = database
        self._hub = hub
        self._markers = markers
        self._heartbeat_s = heartbeat_s
        self._reads = asyncio.Semaphore(snapshot_concurrency)

    def open(self, watch: WatchRooms) -> WatchSession:
        """A session subscribed to the hub now (call from the watcher's own task)."""
        check_schedule_filter(watch.filter.participant_id, watch.viewer)
        return WatchSession(
            self._db, self._hub, self._markers, watch, self._heartbeat_s, self._reads
        )


class WatchSession:
    """One watcher's stream of serialized RoomEvents; `ended` says why it must stop."""

    def __init__(
        self,
        database: Database,
        hub: Hub,
        markers: Markers,
        watch: WatchRooms,
        heartbeat_s: float,
        reads: asyncio.Semaphore,
    ) -> None:
        self._db = database
        self._markers = markers
        self._reads = reads
        self._watch = watch
        self._heartbeat_s = heartbeat_s
        self._hub = hub
        self.subscription: Subscription = hub.subscribe(
            asyncio.current_task(), watch.viewer.user_id
        )
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
        # Read whole, then sent: the slot and the transaction are held for as long as
        # the database takes, never for as long as a slow client takes to read.
        async with self._reads, self._db.snapshot() as uow:
            revision, _ = await uow.changes.head()
            now = datetime.now(UTC)
            watch = self._watch
            rooms = [
                data async for data in uow.changes.stream_snapshot(watch.filter, watch.viewer, now)
            ]
        for data in rooms:
            yield data
        self.position = revision
        yield self._markers.synced(revision)

    async def _backlog(self) -> AsyncIterator[bytes]:
        """The log after `since_revision`, a page at a time: each page is read in a short
        transaction of its own, then sent, so a slow client holds no slot, and the log
        (hours of it) is never held in memory whole. Pages reach the head as it is at
        the last read, past the hub's position at subscription."""
        since = self._watch.since_revision
        self.position = since
        while True:
            async with self._reads, self._db.snapshot() as uow:
                head, compacted = await uow.changes.head()
                if self.position < compacted:
                    raise errors.RevisionCompacted(
                        f"revisions up to {compacted} are no longer kept; watch from 0 again"
                    )
                if since > head:
                    raise errors.InvalidArgument(
                        [errors.FieldViolation("since_revision", f"is after the latest, {head}")]
                    )
                page = await uow.changes.after(self.position, _BACKLOG_PAGE)
            for event in page:
                self.position = event.revision
                if event.matches(self._watch.filter):
                    yield event.serialized_for(self._watch.viewer)
            if len(page) < _BACKLOG_PAGE:
                return

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
                    yield self._markers.heartbeat(self.position)
                    next_beat = loop.time() + self._heartbeat_s
                    continue
            else:
                event = queue.get_nowait()
            if event.revision <= self.position:
                continue  # already covered by the snapshot or the backlog
            self.position = event.revision
            if event.matches(self._watch.filter):
                yield event.serialized_for(self._watch.viewer)
                next_beat = loop.time() + self._heartbeat_s
            elif loop.time() >= next_beat:
                yield self._markers.heartbeat(self.position)
                next_beat = loop.time() + self._heartbeat_s
