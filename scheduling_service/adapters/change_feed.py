"""The replica's one listener on the change log.

On every wake-up (NOTIFY or the poll, see listener.py) it publishes the room_events
after the last revision it published, in order, to this replica's hub.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta

import psycopg
from sqlalchemy.ext.asyncio import AsyncEngine

from scheduling_service.adapters import change_log
from scheduling_service.adapters.database import libpq_url
from scheduling_service.adapters.listener import listen_forever
from scheduling_service.service_layer.watch_hub import Hub

log = logging.getLogger(__name__)

CHANNEL = "room_events"
_BATCH = 1000


class ChangeFeed:
    def __init__(
        self,
        database_url: str,
        engine: AsyncEngine,
        hub: Hub,
        *,
        poll_s: float,
        retention: timedelta,
        request_retention: timedelta,
        prune_every_s: float,
    ) -> None:
        self._dsn = libpq_url(database_url)
        self._engine = engine
        self._hub = hub
        self._poll_s = poll_s
        self._retention = retention
        self._request_retention = request_retention
        self._prune_every_s = prune_every_s
        self.connected = asyncio.Event()

    async def start_position(self) -> None:
        """Begin at the current head: watchers read anything older from the log."""
        async with self._engine.connect() as conn:
            self._hub.position, _ = await change_log.head(conn)

    async def run(self) -> None:
        await listen_forever(
            self._dsn,
            CHANNEL,
            self._catch_up,
            poll_s=self._poll_s,
            application_name="scheduling_service.feed",
            connected=self.connected,
        )

    async def _catch_up(self, conn: psycopg.AsyncConnection) -> None:
        while True:
            events = await change_log.events_after(conn, self._hub.position, _BATCH)
            self._hub.publish(events)
            if len(events) < _BATCH:
                return

    async def prune_forever(self) -> None:
        """Delete events (and CreateRoom request ids) past their retention, every
        `prune_every_s`."""
        while True:
            try:
                now = datetime.now(UTC)
                async with self._engine.begin() as conn:
                    compacted, deleted = await change_log.prune(conn, now - self._retention)
                    forgotten = await change_log.prune_requests(conn, now - self._request_retention)
                if deleted or forgotten:
                    log.info(
                        "change log pruned",
                        extra={
                            "fields": {
                                "deleted": deleted,
                                "compacted": compacted,
                                "request_ids_forgotten": forgotten,
                            }
                        },
                    )
            except asyncio.CancelledError:
                raise
            except Exception as error:  # the next round tries again
                log.warning("change log prune failed", extra={"fields": {"error": str(error)}})
            await asyncio.sleep(self._prune_every_s)
