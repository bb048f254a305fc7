"""The calendar relay: every replica runs one beside the outbox relay; together they put
each due calendar copy right once (domain/calendar.py says what a copy is).

Claim due copies under a lease, ask the notification service to write the room as the
claim read it (or to remove the copy), record the result while still holding the lease.
A copy changed during its attempt stays due and goes again with the room as it is then.
Credentials refused (401/403, a revoked refresh token) break the connection once: its
owner gets one e-mail through the outbox, and its copies wait, kept, until they connect
again. Temporary failures back off like the outbox's (a server's Retry-After is honoured).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Coroutine
from datetime import timedelta
from typing import Any

from scheduling_service import metrics
from scheduling_service.config import Settings
from scheduling_service.domain import calendar
from scheduling_service.domain.calendar import ClaimedCopy, CopyResult, CopyState
from scheduling_service.service_layer.claim_loop import ClaimLoop
from scheduling_service.service_layer.ports import (
    CalendarWriter,
    Clock,
    Database,
    Notices,
    UnitOfWork,
    utc_now,
)
from scheduling_service.service_layer.relay import backoff_s
from servicekit.logs import get_logger

log = get_logger(__name__)

CHANNEL = "calendar_copies"
_STATS_EVERY_S = 5.0


class CalendarRelay(ClaimLoop[ClaimedCopy]):
    """The calendar copies' claim loop (claim_loop.py)."""

    channel = CHANNEL
    noun = "calendar"

    def __init__(
        self,
        database: Database,
        notices: Notices,
        writer: CalendarWriter,
        settings: Settings,
        clock: Clock = utc_now,
    ) -> None:
        super().__init__(database, notices, settings)
        self._writer = writer
        self._clock = clock

    def _background(self) -> list[Coroutine[Any, Any, None]]:
        return [self._housekeeping()]

    async def _take(self, uow: UnitOfWork, token: uuid.UUID, limit: int) -> list[ClaimedCopy]:
        return await uow.calendars.claim(token, limit, self._settings.relay_lease_s)

    async def _handle(self, item: ClaimedCopy, token: uuid.UUID) -> None:
        await self._write(item, token)

    async def _write(self, copy: ClaimedCopy, token: uuid.UUID) -> None:
        action = "put" if copy.wants_event else "delete"
        attempt = await self._writer.write(copy)
        settings = self._settings
        result = calendar.decide(
            copy,
            attempt,
            token,
            now=self._clock(),
            backoff=timedelta(
                seconds=backoff_s(
                    copy.attempts, settings.relay_backoff_min_s, settings.relay_backoff_max_s
                )
            ),
            max_attempts=settings.relay_max_attempts,
        )
        recorded = await self._record(result)
        broke = result.breaks_connection and await self._break(result)
        metrics.CALENDAR_WRITES.labels(action, attempt.outcome.value).inc()
        log.log(
            logging.WARNING if result.state is CopyState.FAILED or broke else logging.INFO,
            "calendar write",
            room_id=str(copy.room_id),
            user_id=copy.user_id,
            ics_uid=copy.ics_uid,
            action=action,
            attempt=copy.attempts,
            outcome=attempt.outcome.value,
            state=recorded.value if recorded else "lease lost",
            connection_broken=broke or None,
            detail=attempt.detail or None,
            retry_at=result.next_attempt_at.isoformat()
            if result.state is CopyState.PENDING and result.next_attempt_at
            else None,
        )

    async def _record(self, result: CopyResult) -> CopyState | None:
        """The state recorded; None when the lease was lost or the database did not
        answer (the copy then goes again when its lease ends)."""

        async def work(uow: UnitOfWork) -> dict[tuple[uuid.UUID, str], CopyState]:
            return await uow.calendars.finish([result])

        try:
            states = await self._db.run(work)
        except Exception as error:
            log.warning("calendar result not recorded", error=str(error))
            return None
        return states.get((result.copy.room_id, result.copy.user_id))

    async def _break(self, result: CopyResult) -> bool:
        copy = result.copy
        notice = self._writer.notice(copy, result.attempt.detail, self._clock())

        async def work(uow: UnitOfWork) -> bool:
            return await uow.calendars.break_connection(
                result, notice, None if notice else "NO_ADDRESS"
            )

        try:
            broke = await self._db.run(work)
        except Exception as error:  # the copy is still due: the next attempt breaks it
            log.warning("calendar connection not marked broken", error=str(error))
            return False
        if broke:
            metrics.CALENDAR_CONNECTIONS_BROKEN.inc()
        return broke

    async def _housekeeping(self) -> None:
        """Stats for the metrics, and the purge of removed copies past the retention."""
        last_purge = None
        while True:
            try:
                now = self._clock()
                every = self._settings.outbox_purge_every_s
                if last_purge is None or (now - last_purge).total_seconds() >= every:
                    await self._purge()
                    last_purge = now
                await self._report_stats()
            except Exception as error:
                log.debug("calendar housekeeping failed", error=str(error))
            await asyncio.sleep(_STATS_EVERY_S)

    async def _purge(self) -> None:
        before = self._clock() - timedelta(hours=self._settings.outbox_retention_h)

        async def work(uow: UnitOfWork) -> int:
            return await uow.calendars.purge(before)

        deleted = await self._db.run(work)
        if deleted:
            log.info("calendar copies purged", deleted=deleted)

    async def _report_stats(self) -> None:
        async def work(uow: UnitOfWork) -> tuple[int, int, int]:
            return await uow.calendars.stats()

        pending, waiting, failed = await self._db.run(work)
        metrics.CALENDAR_COPIES.labels("pending").set(pending)
        metrics.CALENDAR_COPIES.labels("waiting").set(waiting)
        metrics.CALENDAR_COPIES.labels("failed").set(failed)
