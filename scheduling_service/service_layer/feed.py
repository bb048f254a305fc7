"""The replica's one reader of the change log, feeding this replica's watchers.

On every wake-up (a NOTIFY or the poll) it publishes the room_events after the last
revision it published, in order, to the hub. It also prunes what is past the history
kept for resuming (and CreateRoom request ids, and calendar feeds' tombstones, past
theirs).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from scheduling_service.domain import calendar_feed
from scheduling_service.domain.watch import WatchEvent
from scheduling_service.service_layer.hub import Hub
from scheduling_service.service_layer.ports import Database, Notices, UnitOfWork
from servicekit.logs import get_logger

log = get_logger(__name__)

CHANNEL = "room_events"
_BATCH = 1000


class ChangeFeed:
    def __init__(
        self,
        database: Database,
        notices: Notices,
        hub: Hub,
        *,
        poll_s: float,
        retention: timedelta,
        request_retention: timedelta,
        prune_every_s: float,
    ) -> None:
        self._db = database
        self._notices = notices
        self._hub = hub
        self._poll_s = poll_s
        self._retention = retention
        self._request_retention = request_retention
        self._prune_every_s = prune_every_s
        self.connected = asyncio.Event()

    async def start_position(self) -> None:
        """Begin at the current head: watchers read anything older from the log."""

        async def work(uow: UnitOfWork) -> int:
            head, _ = await uow.changes.head()
            return head

        self._hub.position = await self._db.run(work)

    async def run(self) -> None:
        await self._notices.listen_forever(
            CHANNEL, self._catch_up, poll_s=self._poll_s, connected=self.connected
        )

    async def _catch_up(self) -> None:
        while True:

            async def work(uow: UnitOfWork) -> list[WatchEvent]:
                return await uow.changes.after(self._hub.position, _BATCH)

            events = await self._db.run(work)
            self._hub.publish(events)
            if len(events) < _BATCH:
                return

    async def prune_forever(self) -> None:
        """Delete events (and CreateRoom request ids) past their retention, every
        `prune_every_s`."""
        while True:
            try:
                await self._prune()
            except asyncio.CancelledError:
                raise
            except Exception as error:  # the next round tries again
                log.warning("change log prune failed", error=str(error))
            await asyncio.sleep(self._prune_every_s)

    async def _prune(self) -> None:
        now = datetime.now(UTC)

        async def work(uow: UnitOfWork) -> tuple[int, int, int, int]:
            compacted, deleted = await uow.changes.prune(now - self._retention)
            forgotten = await uow.changes.prune_requests(now - self._request_retention)
            buried = await uow.feeds.prune(now - calendar_feed.HISTORY)
            return compacted, deleted, forgotten, buried

        compacted, deleted, forgotten, buried = await self._db.run(work)
        if deleted or forgotten or buried:
            log.info(
                "change log pruned",
                deleted=deleted,
                compacted=compacted,
                request_ids_forgotten=forgotten,
                feed_tombstones_deleted=buried,
            )
