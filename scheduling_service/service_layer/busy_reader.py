"""The busy readers: every replica runs one beside its relays; together they read each
active connection's busy time once per CALENDAR_BUSY_REFRESH (and at once after a
connect), and keep only the intervals (domain/busy.py says what an outcome does).

A read is claimed under a lease, like a calendar copy, so one replica reads a calendar
at a time, and one killed mid-read leaves it to another when the lease ends.
"""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta

from scheduling_service import metrics
from scheduling_service.config import Settings
from scheduling_service.domain import busy
from scheduling_service.domain.busy import BusyRead, BusyResult
from scheduling_service.service_layer.claim_loop import ClaimLoop
from scheduling_service.service_layer.ports import (
    BusySource,
    Clock,
    Database,
    Notices,
    UnitOfWork,
    utc_now,
)
from scheduling_service.service_layer.relay import backoff_s
from servicekit.logs import get_logger

log = get_logger(__name__)

CHANNEL = "calendar_busy"


class BusyReader(ClaimLoop[BusyRead]):
    """Busy time's claim loop (claim_loop.py)."""

    channel = CHANNEL
    noun = "calendar busy"

    def __init__(
        self,
        database: Database,
        notices: Notices,
        source: BusySource,
        settings: Settings,
        clock: Clock = utc_now,
    ) -> None:
        super().__init__(database, notices, settings)
        self._source = source
        self._clock = clock

    async def _take(self, uow: UnitOfWork, token: uuid.UUID, limit: int) -> list[BusyRead]:
        return await uow.busy.claim(token, limit, self._settings.relay_lease_s)

    async def _handle(self, item: BusyRead, token: uuid.UUID) -> None:
        settings = self._settings
        plan = busy.plan_read(item, self._clock(), settings.max_advance_days)
        attempt = await self._source.read_busy(item, plan)
        result = busy.decide(
            item,
            plan,
            attempt,
            token,
            now=self._clock(),
            refresh=settings.calendar_busy_refresh,
            backoff=timedelta(
                seconds=backoff_s(
                    item.attempts + 1, settings.relay_backoff_min_s, settings.relay_backoff_max_s
                )
            ),
        )
        recorded = await self._record(result)
        metrics.CALENDAR_BUSY_READS.labels(attempt.outcome.value).inc()
        log.log(
            logging.INFO if result.attempts == 0 else logging.WARNING,
            "calendar busy read",
            user_id=item.user_id,
            outcome=attempt.outcome.value,
            asked_changes=bool(plan.sync_token),
            unchanged=attempt.unchanged,
            intervals=len(result.intervals) if result.intervals is not None else None,
            recorded=recorded,
            next_read_at=result.next_read_at.isoformat(),
            detail=attempt.detail or None,
        )

    async def _record(self, result: BusyResult) -> bool:
        async def work(uow: UnitOfWork) -> None:
            await uow.busy.finish(result)

        try:
            await self._db.run(work)
        except Exception as error:  # the lease ends and another read takes its place
            log.warning("calendar busy read not recorded", error=str(error))
            return False
        return True
