"""The loop both relays run (the outbox's, relay.py, and the calendar copies',
calendar_relay.py): claim due work under a lease, handle each item in a task of its
own, sleep until a notification, a finished task or the poll period.

It claims only as many items as it has free call slots (RELAY_CONCURRENCY), so every
claimed item is in flight at once and its lease (longer than a call's deadline) cannot
run out while it waits its turn. On stop it claims nothing more and lets the items in
flight finish within the grace period (one cut short goes again when its lease ends).
"""

from __future__ import annotations

import abc
import asyncio
import uuid
from collections.abc import Coroutine
from typing import Any, Generic, TypeVar

from scheduling_service.config import Settings
from scheduling_service.service_layer.ports import Database, Notices, UnitOfWork
from servicekit.logs import get_logger

log = get_logger(__name__)

Item = TypeVar("Item")


class ClaimLoop(abc.ABC, Generic[Item]):
    # The NOTIFY channel that says work is due, and what an item is called in logs.
    channel: str
    noun: str

    def __init__(self, database: Database, notices: Notices, settings: Settings) -> None:
        self._db = database
        self._notices = notices
        self._settings = settings
        self._wake = asyncio.Event()
        self._in_flight: set[asyncio.Task[None]] = set()
        self._stopping = False
        self._claiming_done = asyncio.Event()

    @abc.abstractmethod
    async def _take(self, uow: UnitOfWork, token: uuid.UUID, limit: int) -> list[Item]:
        """Claim up to `limit` due items under a lease held by `token`."""

    @abc.abstractmethod
    async def _handle(self, item: Item, token: uuid.UUID) -> None:
        """Deliver one claimed item and record how it went (holding the lease)."""

    def _background(self) -> list[Coroutine[Any, Any, None]]:
        """Housekeeping that runs beside the loop (stats, purges)."""
        return []

    async def run(self) -> None:
        listen = self._notices.listen_forever(
            self.channel, self._on_notify, poll_s=self._settings.relay_poll_s
        )
        background = [asyncio.create_task(work) for work in (listen, *self._background())]
        try:
            while not self._stopping:
                # Cleared before the claim, so a notification during it is not lost.
                self._wake.clear()
                free = self._settings.relay_concurrency - len(self._in_flight)
                claimed = await self._claim(min(free, self._settings.relay_batch)) if free else 0
                if claimed == 0:
                    await self._sleep()
        finally:
            self._claiming_done.set()
            for task in background:
                task.cancel()
            await asyncio.gather(*background, return_exceptions=True)

    async def stop(self, grace_s: float) -> None:
        """Claim nothing more; let calls in flight finish (a cancelled call whose work
        was done would go again when its lease ends)."""
        self._stopping = True
        self._wake.set()
        # A claim under way may still start deliveries: wait for the loop to leave.
        try:
            async with asyncio.timeout(grace_s):
                await self._claiming_done.wait()
        except TimeoutError:
            pass
        if self._in_flight:
            _, late = await asyncio.wait(self._in_flight, timeout=grace_s)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)

    async def _on_notify(self) -> None:
        self._wake.set()

    async def _sleep(self) -> None:
        """Until a notification, a finished call, or the poll period."""
        try:
            async with asyncio.timeout(self._settings.relay_poll_s):
                await self._wake.wait()
        except TimeoutError:
            pass

    async def _claim(self, limit: int) -> int:
        token = uuid.uuid4()

        async def work(uow: UnitOfWork) -> list[Item]:
            return await self._take(uow, token, limit)

        try:
            batch = await self._db.run(work)
        except Exception as error:  # database away: the next round tries again
            log.warning(f"{self.noun} claim failed", error=str(error))
            return 0
        for item in batch:
            task = asyncio.create_task(self._handle(item, token))
            self._in_flight.add(task)
            task.add_done_callback(self._finished)
        return len(batch)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._in_flight.discard(task)
        self._wake.set()
        if not task.cancelled() and task.exception() is not None:
            log.error(f"{self.noun} attempt crashed", exc_info=task.exception())
